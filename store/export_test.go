package store

import (
	"context"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
)

// MigrationProvider lets the external tests step the embedded migrations up and down one at a
// time, with the provider Migrate uses.
func (s *Store) MigrationProvider() (*goose.Provider, error) { return s.migrationProvider() }

// MigrationLockID is the advisory lock key Migrate holds.
var MigrationLockID = migrationLockID

// KnowOnly makes s claim and give up on only operations of kinds, as an older release's
// binary that knows no more would.
func (s *Store) KnowOnly(kinds ...OperationKind) { s.kinds = kindArray(kinds) }

// InTx lets the external tests run a transaction of their own the way every method does,
// retries included.
func (s *Store) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error { return s.inTx(ctx, fn) }

// TxRetries is how many times InTx runs a transaction again.
const TxRetries = txRetries
