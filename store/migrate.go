package store

import (
	"context"
	"embed"
	"fmt"
	"hash/crc32"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the advisory lock key that serializes Migrate across replicas; ours rather
// than goose's default, so another goose user of the same server never waits on us.
var migrationLockID = int64(crc32.ChecksumIEEE([]byte("omnibroker-migrations")))

// Migrate applies the embedded migrations under a PostgreSQL advisory lock, so replicas that
// start together apply each migration once.
func (s *Store) Migrate(ctx context.Context) error {
	provider, err := s.migrationProvider()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrationProvider returns goose's provider of the embedded migrations on the store's pool,
// holding the advisory lock while it runs. Its Close would close our pool, so it is never
// called.
func (s *Store) migrationProvider() (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// Poll for the lock every second, for up to ten minutes: a replica waits while another one
	// migrates, and the wait ends long before that unless a migration hangs.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		return nil, fmt.Errorf("session locker: %w", err)
	}
	return goose.NewProvider(goose.DialectPostgres, s.db.DB, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
}

// SchemaVersion returns the state database's schema version, as goose recorded it, and the
// newest migration this binary embeds: the schema serves this binary while current >= latest
// (migrations only add, so a newer schema serves it too). It reads goose's version table
// without the migration lock and writes nothing, so it answers while another replica
// migrates; a database that was never migrated is an error.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	provider, err := s.migrationProvider()
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	for _, m := range provider.ListSources() {
		latest = max(latest, m.Version)
	}
	versions, err := database.NewStore(database.DialectPostgres, goose.DefaultTablename)
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	current, err = versions.GetLatestVersion(ctx, s.db.DB)
	if err != nil {
		return 0, latest, fmt.Errorf("schema version: %w", err)
	}
	return current, latest, nil
}
