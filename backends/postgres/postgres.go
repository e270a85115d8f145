// Package postgres is the backend of the postgresql service: a database per instance, owned
// by a per-instance NOLOGIN owner role, and a LOGIN role per binding that is a member of the
// owner role, so that objects one application creates stay usable by the next.
package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/lib/pq"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/sqlnode"
)

// Postgres creates databases and roles on a set of PostgreSQL nodes. It is safe for
// concurrent use; calls for the same instance are serialised by an advisory lock on its node,
// so two workers (or two broker replicas) never interleave their DDL. Its nodes never forget
// what Bind made.
type Postgres struct {
	backends.KeepsBindings
	nodes sqlnode.Nodes[*node]
}

type node struct {
	*sqlnode.Node
	admin *url.URL
	// sslDisable and clientTLS say what the admin URL's sslmode asks of applications: no TLS,
	// or TLS with the server's certificate verified (see tlsModes).
	sslDisable, clientTLS bool
	// publicChecked is set once warnPublicDatabases has looked.
	publicChecked atomic.Bool
}

// connectTimeout bounds connection start-up when the admin URL sets none: pq honours the
// context while dialling, but not during the handshake with a server that accepted the socket.
const connectTimeout = "10"

// New validates the nodes and prepares one admin pool per node. A node's AdminURL is a DSN of a
// superuser (or a role with CREATEROLE and CREATEDB), such as
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; Host and Port default to its own. A node with a
// CAFile needs an sslmode of require, verify-ca or verify-full, and verifies the server with
// it (sslrootcert). It does not connect: pools open connections when first used. Error messages
// name the node, never its URL.
func New(servers []backends.Server) (*Postgres, error) {
	opened, err := sqlnode.OpenNodes("postgres", servers, newNode)
	if err != nil {
		return nil, err
	}
	return &Postgres{nodes: opened}, nil
}

var _ backends.Backend = (*Postgres)(nil)

func newNode(cfg backends.Server) (*node, error) {
	// url.Parse errors quote the whole URL, password included, so they are not wrapped.
	u, err := url.Parse(cfg.AdminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("postgres node %q: admin URL is not a postgres:// URL", cfg.Name)
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", connectTimeout)
	}
	ca, err := backends.ReadCA("postgres", cfg)
	if err != nil {
		return nil, err
	}
	clientTLS := tlsModes[q.Get("sslmode")]
	if ca.File != "" {
		if !clientTLS {
			return nil, backends.NeedsTLS("postgres", cfg, "sslmode=verify-full")
		}
		// lib/pq reads the file for every new connection, so a renewed CA is taken at once.
		q.Set("sslrootcert", ca.File)
	}
	u.RawQuery = q.Encode()
	if cfg.Host == "" && u.Hostname() == "" {
		return nil, fmt.Errorf("postgres node %q: admin URL has no host name, so Host must be set", cfg.Name)
	}
	port := 5432
	if s := u.Port(); s != "" {
		if port, err = strconv.Atoi(s); err != nil && cfg.Port == 0 {
			return nil, fmt.Errorf("postgres node %q: admin URL has an invalid port", cfg.Name)
		}
	}
	connector, err := pq.NewConnector(u.String())
	if err != nil {
		return nil, fmt.Errorf("postgres node %q: the driver does not accept the admin URL", cfg.Name)
	}
	sn, err := sqlnode.Open("postgres", cfg, u.Hostname(), port, ca, connector, cause)
	if err != nil {
		return nil, err
	}
	return &node{Node: sn, admin: u, sslDisable: q.Get("sslmode") == "disable", clientTLS: clientTLS}, nil
}

// tlsModes are the sslmode values of an admin URL that insist on TLS: the node is then taken to
// serve its clients over TLS only, and applications are told sslmode=verify-full.
var tlsModes = map[string]bool{"require": true, "verify-ca": true, "verify-full": true}

// Close closes the admin pools of all nodes.
func (p *Postgres) Close() error { return p.nodes.Close() }

// Ping connects to node as the admin, for health logging at start-up. An unknown node is a
// permanent error; the error describes the cause without the URL. The first time it reaches a
// node, it warns on the logger in ctx about the node's databases that PUBLIC may connect to
// (see warnPublicDatabases).
func (p *Postgres) Ping(ctx context.Context, name string) error {
	if err := p.nodes.Ping(ctx, name); err != nil {
		return err
	}
	n, err := p.nodes.Get(name)
	if err != nil {
		return err
	}
	return n.warnPublicDatabases(ctx)
}

const selectPublicDatabases = `
SELECT coalesce(array_agg(datname ORDER BY datname), '{}')
FROM pg_database
WHERE datallowconn
  AND has_database_privilege('public', oid, 'CONNECT')`

func (n *node) publicDatabases(ctx context.Context) ([]string, error) {
	var names []string
	err := n.DB.QueryRowContext(ctx, selectPublicDatabases).Scan(pq.Array(&names))
	return names, err
}

// maxNamed is how many databases the warning of warnPublicDatabases names; it counts them all.
const maxNamed = 20

// warnPublicDatabases logs, once per node, the databases that PUBLIC may connect to, which
// every binding role of the node may then connect to too (postgres and template1 as
// PostgreSQL is installed; an instance's database never is one). Whether they should stay
// open is the operator's call, not the broker's: it changes nothing.
func (n *node) warnPublicDatabases(ctx context.Context) error {
	if n.publicChecked.Load() {
		return nil
	}
	names, err := n.publicDatabases(ctx)
	if err != nil {
		return n.Fail("list the databases PUBLIC may connect to", err)
	}
	if len(names) == 0 || !n.publicChecked.CompareAndSwap(false, true) {
		return nil
	}
	lagerctx.FromContext(ctx).Info("databases-open-to-public", lager.Data{
		"node": n.Name, "databases": names[:min(len(names), maxNamed)], "count": len(names),
		"hint": "every binding role of this node may connect to these databases; revoke CONNECT on them from PUBLIC unless that is meant",
	})
	return nil
}

// openDatabase returns a pool of at most one admin connection to database dbname on the node.
// The caller closes it; it does not connect until used.
func (n *node) openDatabase(dbname string) (*sql.DB, error) {
	u := *n.admin
	u.Path, u.RawPath = "/"+dbname, ""
	q := u.Query()
	q.Del("dbname")
	u.RawQuery = q.Encode()
	connector, err := pq.NewConnector(u.String())
	if err != nil {
		return nil, errors.New("the driver does not accept the admin URL")
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	return db, nil
}

// lockClass is the first key of the two-key advisory locks this package takes; the two-key
// space does not overlap the one-key space other tools (such as migrations) tend to use.
const lockClass int32 = 0x6f62 // "ob"

// advisoryLock is the session advisory lock of one instance, derived from a key. CREATE
// DATABASE cannot run in a transaction, hence a session lock rather than a transaction one.
type advisoryLock struct{ key int32 }

func lockOf(key string) advisoryLock {
	sum := sha256.Sum256([]byte(key))
	return advisoryLock{key: int32(binary.BigEndian.Uint32(sum[:4]))}
}

func (l advisoryLock) Acquire(ctx context.Context, c *sql.Conn) error {
	_, err := c.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, lockClass, l.key)
	return err
}

func (l advisoryLock) Release(ctx context.Context, c *sql.Conn) bool {
	var released bool
	err := c.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockClass, l.key).Scan(&released)
	return err == nil && released
}

// locked runs f on an admin connection that holds the advisory lock of key (see
// sqlnode.Node.Locked).
func (n *node) locked(ctx context.Context, key string, f func(c *sql.Conn) error) error {
	return n.Locked(ctx, lockOf(key), f)
}
