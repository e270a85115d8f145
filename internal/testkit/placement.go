package testkit

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// lockPlacement is the advisory lock a worker takes in the state database before it places a
// new instance of backend on a node (store's lockPlacement; the two must stay the same).
const lockPlacement = `SELECT pg_advisory_xact_lock(hashtextextended('omnibroker-placement:' || $1::text, 0))`

// PlacementLock is the placement lock of one backend, held in a transaction of its own: while
// it is held, every new instance of that backend stays in its worker, a real delay without a
// fake.
type PlacementLock struct {
	tx   *sql.Tx
	once sync.Once
}

// HoldPlacementLock takes the placement lock of backend on state (a broker's state database)
// and releases it at cleanup, unless it was released first.
func HoldPlacementLock(t TB, state *sql.DB, backend string) *PlacementLock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	tx, err := state.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatalf("begin the placement lock's transaction: %v", err)
	}
	if _, err := tx.ExecContext(ctx, lockPlacement, backend); err != nil {
		_ = tx.Rollback()
		t.Fatalf("take the placement lock of %s: %v", backend, err)
	}
	l := &PlacementLock{tx: tx}
	t.Cleanup(l.Release)
	return l
}

// Release lets the waiting workers go on; only its first call does anything.
func (l *PlacementLock) Release() {
	// A failed rollback means the connection is gone, and the lock went with it.
	l.once.Do(func() { _ = l.tx.Rollback() })
}

// ReleaseAfter releases the lock after d, from a goroutine of its own, while the caller is
// blocked in a request.
func (l *PlacementLock) ReleaseAfter(d time.Duration) {
	time.AfterFunc(d, l.Release)
}
