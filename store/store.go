// Package store owns the broker's state in PostgreSQL: migrations, instances, bindings and
// operations (which are also the durable job queue), and the sealing of credentials at rest.
// It never calls a backend.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// Store is the broker's state database.
type Store struct {
	db     *sqlx.DB
	url    string
	keys   *Keyring
	notify string
	kinds  pq.StringArray // the kinds it claims: knownKinds, fewer in specs of an older replica
	wake   *wakeups
	stmts  *statements
	// flushes are the flushes of the placements AssignNodes made for others (FlushPlacement).
	flushes *flushes
}

// NotifyChannel is the PostgreSQL channel on which the process that committed an enqueue (or a
// Release, or a requeue) tells the workers of the other replicas that operations are queued,
// just after the commit (announcer); the payload is empty.
const NotifyChannel = "omnibroker_operations"

// Pool limits: enough for the request handlers and the workers of one replica, while four
// replicas still fit under PostgreSQL's default max_connections of 100, and idle connections
// are given back. Callers that need other limits set them on DB().
const (
	maxOpenConns    = 20
	maxIdleConns    = 10
	connMaxIdleTime = 5 * time.Minute
	connMaxLifetime = 30 * time.Minute
)

// Open connects to the state database at databaseURL; it does not migrate.
//
// keys seals and opens binding secrets; it may be nil for a store that only migrates or reads
// instances and operations, and then every method that needs a key returns an error.
func Open(ctx context.Context, databaseURL string, keys *Keyring) (*Store, error) {
	// Parse errors quote the URL, password included, so they are replaced, not wrapped.
	if strings.Contains(databaseURL, "://") {
		if _, err := url.Parse(databaseURL); err != nil {
			return nil, errors.New("open state database: the URL is malformed")
		}
	}
	cfg, err := pq.NewConfig(databaseURL)
	if err != nil {
		return nil, errors.New("open state database: the connection string is malformed")
	}
	// Every statement with parameters then costs one round trip, not two (parse and describe,
	// then bind and execute). The store sends JSON as text, and []byte only for bytea, which
	// binary parameters carry as they are.
	cfg.BinaryParameters = true
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, errors.New("open state database: the connection string is malformed")
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "postgres")
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	db.SetConnMaxLifetime(connMaxLifetime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to state database: %w", err)
	}
	s := &Store{db: db, url: databaseURL, keys: keys, notify: NotifyChannel, kinds: kindArray(knownKinds),
		stmts: newStatements(db), flushes: newFlushes()}
	s.wake = newWakeups(&announcer{st: s.stmts, channel: s.notify})
	return s, nil
}

// DB returns the connection pool, for tests that inspect raw rows and for setting pool limits.
// Writes through it bypass every rule of the store.
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the connection pool.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state database: %w", err)
	}
	return nil
}

// txRetries bounds how many times inTx runs a transaction again that met a deadlock or a
// serialization failure.
const txRetries = 4

// inTx runs fn in a transaction, committing when fn returns nil and rolling back otherwise.
// A transaction that PostgreSQL aborted for a deadlock (40P01) or a serialization failure
// (40001) is run again at once, up to txRetries times, unless ctx is done: both are decided
// by the server, and a new run meets the other transaction finished. So fn may run more than
// once, and must only set what it returns on each run.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return retryConflicts(ctx, func() error { return s.tryTx(ctx, fn) })
}

// retryConflicts runs run, a transaction or a statement on its own, again at once while
// PostgreSQL aborts it for a deadlock or a serialization failure, as inTx does.
func retryConflicts(ctx context.Context, run func() error) error {
	for retry := 0; ; retry++ {
		err := run()
		if err == nil || retry == txRetries || ctx.Err() != nil ||
			pq.As(err, pqerror.TRDeadlockDetected, pqerror.TRSerializationFailure) == nil {
			return err
		}
	}
}

// tryTx is one run of inTx.
func (s *Store) tryTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		s.wake.ended(tx, false)
		return err
	}
	committed = true
	err = tx.Commit()
	// Only now may this process's workers and waiters see what the transaction wrote.
	s.wake.ended(tx, err == nil)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// oneRow returns none when res touched no row.
func oneRow(res sql.Result, none error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return none
	}
	return nil
}

// getRow reads the one row query returns on q into a T; ErrNotFound when there is none. what
// names the row in the error.
func getRow[T any](ctx context.Context, q sqlx.QueryerContext, what, query string, args ...any) (T, error) {
	var row T
	err := sqlx.GetContext(ctx, q, &row, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		var none T
		return none, fmt.Errorf("%s: %w", what, err)
	}
	return row, nil
}

// jsonText returns raw as text for a jsonb parameter, or empty when raw is absent, so that an
// unset field gets the column's meaning of "none" rather than NULL or a bytea.
func jsonText(raw json.RawMessage, empty string) string {
	if len(raw) == 0 {
		return empty
	}
	return string(raw)
}

// jsonOrNull is jsonText for a nullable column: nil for absent or JSON null.
func jsonOrNull(raw json.RawMessage) *string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	s := string(raw)
	return &s
}

// interval renders d for a $n::interval parameter.
func interval(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%d microseconds", d.Microseconds())
}

// kindArray is kinds as a PostgreSQL text array, for kind = ANY($n).
func kindArray(kinds []OperationKind) pq.StringArray {
	out := make(pq.StringArray, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}
