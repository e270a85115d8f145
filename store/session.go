package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// ErrSessionLost means a Session no longer holds its tie: its connection broke (the state
// database restarted, say) or was closed. The operations claimed through it are no longer
// its own; open another.
var ErrSessionLost = errors.New("database session lost")

// Session is one connection to the state database that a worker pool holds apart from the
// pool for as long as it runs, with a session-level advisory lock on a key of its own, its
// tie. Session.Claim records the tie on the attempt it claims, so the attempt stays tied to
// the session: once the session ends (its process died, its connection broke) PostgreSQL frees
// the lock, and RescueOrphaned, which probes it, returns the operation to the queue without
// waiting for its lease. Its methods are safe for concurrent use; they take turns on the
// connection.
type Session struct {
	mu    sync.Mutex
	conn  *sqlx.Conn  // nil once closed or lost
	stmts *statements // the claim's, prepared on conn
	tie   int64
	kinds pq.StringArray // its store's
	// gauges is set once the session holds the gauges lock (LeadsGauges), until it ends.
	gauges bool
}

// tieAttempts bounds how many random keys OpenSession tries; a key another session holds is
// as good as impossible, but cheap to step around.
const tieAttempts = 3

const takeTie = `SELECT pg_try_advisory_lock($1)`

// claimWithoutFlush lets the session's claims commit without waiting for their WAL to reach
// the disk. A claim is the one write of an operation that may be lost to a crash of the state
// database: the operation is then queued again at its earlier attempt and runs once more, as
// after a lost session (backend calls are idempotent), while its outcome, committed with a
// flush, makes the claim before it durable too. So the claim, which every worker of the pool
// makes on this one connection, costs no disk flush and holds the connection for a round trip.
const claimWithoutFlush = `SET synchronous_commit = off`

// OpenSession takes a connection out of the pool and the advisory lock of a fresh random key
// on it. The caller closes the session.
func (s *Store) OpenSession(ctx context.Context) (*Session, error) {
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	se := &Session{conn: conn, stmts: newConnStatements(conn), kinds: s.kinds}
	for range tieAttempts {
		se.tie, err = randomTie()
		if err != nil {
			break
		}
		var taken bool
		if err = conn.GetContext(ctx, &taken, takeTie, se.tie); err != nil {
			err = fmt.Errorf("take tie: %w", err)
			break
		}
		if taken {
			if _, err = conn.ExecContext(ctx, claimWithoutFlush); err != nil {
				err = fmt.Errorf("set up session: %w", err)
				break
			}
			return se, nil
		}
		err = errors.New("take tie: every key tried is held")
	}
	se.discard()
	return nil, fmt.Errorf("open session: %w", err)
}

// randomTie is a positive 63-bit key, so that its halves in pg_locks are plain oids.
func randomTie() (int64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("random tie: %w", err)
	}
	return int64(binary.BigEndian.Uint64(b[:])>>1) | 1, nil
}

// Claim is Store.Claim through the session: the claimed attempt is tied to it. It runs on the
// session's own connection, so a session that has ended claims nothing.
func (se *Session) Claim(ctx context.Context, owner string, lease time.Duration) (Operation, error) {
	op, _, err := se.ClaimWithInstance(ctx, owner, lease)
	return op, err
}

// ClaimWithInstance is Claim that also returns the operation's instance as the claim read it,
// in the same round trip (nil when it has none, as for a purge): for the operations that run
// alone on it or on one of its bindings, the row as it stands while the operation runs, but
// the node a placement gives it later.
func (se *Session) ClaimWithInstance(ctx context.Context, owner string, lease time.Duration) (Operation, *Instance, error) {
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.conn == nil {
		return Operation{}, nil, fmt.Errorf("claim operation: %w", ErrSessionLost)
	}
	op, inst, err := claim(ctx, se.stmts.on(nil), owner, lease, &se.tie, se.kinds)
	if connectionLost(err) {
		se.discard()
		return Operation{}, nil, fmt.Errorf("%w: %w", ErrSessionLost, err)
	}
	return op, inst, err
}

// Claimant is the ClaimedBy of owner, a worker of the session's, for an operation queued with a
// lease of lease: its claim at enqueue is tied to the session as Claim's are.
func (se *Session) Claimant(owner string, lease time.Duration) ClaimedBy {
	return ClaimedBy{Owner: owner, Lease: lease, Tie: se.tie}
}

// connectionLost tells whether err ended the connection it came from: the driver found it
// broken, or the server ended the session with a FATAL error (pg_terminate_backend, a
// shutdown).
func connectionLost(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Fatal() || pqErr.Severity == pqerror.SeverityPanic)
}

// holdsTie counts this session's advisory lock on its tie (a bigint key: objsubid 1, its
// halves in classid and objid).
const holdsTie = `
SELECT count(*)
FROM pg_locks
WHERE locktype = 'advisory'
    AND pid = pg_backend_pid()
    AND granted
    AND objsubid = 1
    AND (classid::bigint << 32 | objid::bigint) = $1`

// Check asks the database whether the session still holds its tie: nil when it does,
// ErrSessionLost (wrapping the cause) when it does not or the connection failed, after which
// the session is closed and every later call fails the same way.
func (se *Session) Check(ctx context.Context) error {
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.conn == nil {
		return ErrSessionLost
	}
	var held int
	err := se.conn.GetContext(ctx, &held, holdsTie, se.tie)
	if err == nil && held == 0 {
		err = errors.New("the tie is not held")
	}
	if err != nil {
		se.discard()
		return fmt.Errorf("%w: %w", ErrSessionLost, err)
	}
	return nil
}

const untie = `SELECT pg_advisory_unlock($1)`

// Close ends the session, which frees its tie: the operations still tied to it are the
// rescuer's from the moment it returns. Closing a closed session does nothing.
func (se *Session) Close() {
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.conn == nil {
		return
	}
	// The server frees a closed connection's locks only once its process has seen it go; the
	// unlock frees the tie at once. If it fails, the closing does it a moment later.
	ctx, cancel := context.WithTimeout(context.Background(), untieTimeout)
	defer cancel()
	_, _ = se.conn.ExecContext(ctx, untie, se.tie)
	se.discard()
}

// untieTimeout bounds Close's unlock, which a server out of reach would not answer.
const untieTimeout = 2 * time.Second

// discard closes the connection rather than giving it back to the pool, where it would keep
// the tie held, and make the rescuer's probe succeed on it, for as long as it stayed there.
func (se *Session) discard() {
	if se.conn == nil {
		return
	}
	_ = se.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = se.conn.Close()
	se.conn = nil
}
