package store

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// statements are the prepared statements of the queries that every operation runs, by query:
// the enqueue, the outcome, the reads of a request. PostgreSQL parses a prepared statement once
// per connection and, after its first runs, plans it once, where it parses and plans an unnamed
// statement on every run; under a burst of provisions that is a third of its work.
// database/sql prepares each statement on a connection the first time it runs there, and again
// on the connection that replaces a broken one. Only constant query texts (and the few that
// complete builds) come here, so the cache stays small.
//
// On the pool a query is prepared in the background the first time it is asked for, and runs
// unprepared until then: preparing takes a connection of the pool, which a transaction asking
// for one, while it holds its own, could wait for behind others doing the same. On a connection
// of one's own it is prepared at once, in the caller's turn: nothing else may use the
// connection meanwhile, since lib/pq cannot send a statement while another's rows are read.
type statements struct {
	db      preparer
	inline  bool // db is a connection of the caller's
	mu      sync.Mutex
	byQuery map[string]*sqlx.Stmt // nil while it is being prepared
}

// prepareTimeout bounds a background preparation; one that fails is tried again at the next use.
const prepareTimeout = 10 * time.Second

// preparer is what statements prepare on and run on: the pool (*sqlx.DB), or a connection of
// its own (*sqlx.Conn), on which database/sql makes them take turns.
type preparer interface {
	PreparexContext(ctx context.Context, query string) (*sqlx.Stmt, error)
	queryer
}

func newStatements(db *sqlx.DB) *statements {
	return &statements{db: db, byQuery: map[string]*sqlx.Stmt{}}
}

// newConnStatements are the statements of a connection whose every use the caller serializes.
func newConnStatements(conn *sqlx.Conn) *statements {
	return &statements{db: conn, inline: true, byQuery: map[string]*sqlx.Stmt{}}
}

// get returns query's statement, or nil when it is not prepared (yet).
func (st *statements) get(ctx context.Context, query string) *sqlx.Stmt {
	st.mu.Lock()
	defer st.mu.Unlock()
	if stmt, ok := st.byQuery[query]; ok {
		return stmt
	}
	if st.inline {
		// On an error it runs unprepared, which fails the same way or succeeds; the next use
		// tries again.
		stmt, err := st.db.PreparexContext(ctx, query)
		if err != nil {
			return nil
		}
		st.byQuery[query] = stmt
		return stmt
	}
	st.byQuery[query] = nil
	go st.prepare(query)
	return nil
}

func (st *statements) prepare(query string) {
	ctx, cancel := context.WithTimeout(context.Background(), prepareTimeout)
	defer cancel()
	stmt, err := st.db.PreparexContext(ctx, query)
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil {
		delete(st.byQuery, query)
		return
	}
	st.byQuery[query] = stmt
}

// on returns a Queryer and Execer that runs each query as its prepared statement, on tx, or on
// the pool when tx is nil.
func (st *statements) on(tx *sqlx.Tx) prepared { return prepared{st: st, tx: tx} }

// prepared runs each query as its prepared statement, once there is one, on tx (or the pool).
type prepared struct {
	st *statements
	tx *sqlx.Tx
}

type queryer interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
}

// run returns what runs query: its statement on tx or the pool, or, while there is none, tx
// or the pool itself.
func (p prepared) run(ctx context.Context, query string) (*sqlx.Stmt, queryer) {
	stmt := p.st.get(ctx, query)
	switch {
	case stmt != nil && p.tx != nil:
		return p.tx.StmtxContext(ctx, stmt), nil
	case stmt != nil:
		return stmt, nil
	case p.tx != nil:
		return nil, p.tx
	default:
		return nil, p.st.db
	}
}

func (p prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, q := p.run(ctx, query)
	if stmt != nil {
		return stmt.QueryContext(ctx, args...)
	}
	return q.QueryContext(ctx, query, args...)
}

func (p prepared) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	stmt, q := p.run(ctx, query)
	if stmt != nil {
		return stmt.QueryxContext(ctx, args...)
	}
	return q.QueryxContext(ctx, query, args...)
}

func (p prepared) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	stmt, q := p.run(ctx, query)
	if stmt != nil {
		return stmt.QueryRowxContext(ctx, args...)
	}
	return q.QueryRowxContext(ctx, query, args...)
}

func (p prepared) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, q := p.run(ctx, query)
	if stmt != nil {
		return stmt.ExecContext(ctx, args...)
	}
	return q.ExecContext(ctx, query, args...)
}
