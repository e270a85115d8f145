package testkit

import (
	"context"
	"database/sql"
	"time"
)

// exclusiveWait bounds the wait for an Exclusive lock: the specs that share one are short.
const exclusiveWait = 5 * time.Minute

// Exclusive holds, until the test ends, a lock named key on the shared PostgreSQL server
// (State), so that specs using the same fixed backend names, such as instance ids chosen to
// collide, never run at once: not in two parallel processes, and not in two checkouts whose
// suites run against the same servers. It waits for the lock as long as exclusiveWait.
func Exclusive(t TB, key string) {
	t.Helper()
	db, err := sql.Open("postgres", State.URL())
	if err != nil {
		t.Fatalf("%s", State.missing())
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	// Not on the bounded context: the transaction ends when its context does.
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatalf("begin the transaction of lock %s: %v", key, err)
	}
	// Rolled back before the pool closes (cleanups run last-registered first), which lets go.
	t.Cleanup(func() { _ = tx.Rollback() })
	ctx, cancel := context.WithTimeout(context.Background(), exclusiveWait)
	defer cancel()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('omnibroker-test:' || $1::text, 0))`, key); err != nil {
		t.Fatalf("take lock %s: %v", key, err)
	}
}
