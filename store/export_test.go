package store

import "github.com/pressly/goose/v3"

// MigrationProvider lets the external tests step the embedded migrations up and down one at a
// time, with the provider Migrate uses.
func (s *Store) MigrationProvider() (*goose.Provider, error) { return s.migrationProvider() }

// MigrationLockID is the advisory lock key Migrate holds.
var MigrationLockID = migrationLockID
