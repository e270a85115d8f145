// Package postgres is the backend of the postgresql service: a database per instance, owned
// by a per-instance NOLOGIN owner role, and a LOGIN role per binding that is a member of the
// owner role, so that objects one application creates stay usable by the next.
package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/lib/pq"

	"github.com/omnibroker/omnibroker/backends"
)

// Postgres creates databases and roles on a set of PostgreSQL nodes. It is safe for
// concurrent use; calls for the same instance are serialised by an advisory lock on its node,
// so two workers (or two broker replicas) never interleave their DDL.
type Postgres struct {
	nodes backends.Nodes[*node]
}

var _ backends.Adapter = (*Postgres)(nil)

type node struct {
	name       string
	host       string
	port       int
	admin      *url.URL
	sslDisable bool
	db         *sql.DB
}

// connectTimeout bounds connection start-up when the admin URL sets none: pq honours the
// context while dialling, but not during the handshake with a server that accepted the socket.
const connectTimeout = "10"

// New validates the nodes and prepares one admin pool per node. A node's AdminURL is a DSN of a
// superuser (or a role with CREATEROLE and CREATEDB), such as
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; Host and Port default to its own. It does not connect: pools
// open connections when first used. Error messages name the node, never its URL.
func New(servers []backends.Server) (*Postgres, error) {
	opened, err := backends.OpenNodes("postgres", servers, newNode, func(n *node) error { return n.db.Close() })
	if err != nil {
		return nil, err
	}
	return &Postgres{nodes: opened}, nil
}

func newNode(cfg backends.Server) (*node, error) {
	// url.Parse errors quote the whole URL, password included, so they are not wrapped.
	u, err := url.Parse(cfg.AdminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("postgres node %q: admin URL is not a postgres:// URL", cfg.Name)
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", connectTimeout)
		u.RawQuery = q.Encode()
	}
	n := &node{
		name:       cfg.Name,
		host:       cfg.Host,
		port:       cfg.Port,
		admin:      u,
		sslDisable: q.Get("sslmode") == "disable",
	}
	if n.host == "" {
		n.host = u.Hostname()
	}
	if n.host == "" {
		return nil, fmt.Errorf("postgres node %q: admin URL has no host name, so Host must be set", cfg.Name)
	}
	if n.port == 0 {
		n.port = 5432
		if s := u.Port(); s != "" {
			if n.port, err = strconv.Atoi(s); err != nil {
				return nil, fmt.Errorf("postgres node %q: admin URL has an invalid port", cfg.Name)
			}
		}
	}
	if n.port < 1 || n.port > 65535 {
		return nil, fmt.Errorf("postgres node %q: port %d is out of range", cfg.Name, n.port)
	}
	connector, err := pq.NewConnector(u.String())
	if err != nil {
		return nil, fmt.Errorf("postgres node %q: the driver does not accept the admin URL", cfg.Name)
	}
	n.db = sql.OpenDB(connector)
	n.db.SetMaxOpenConns(16)
	n.db.SetMaxIdleConns(2)
	n.db.SetConnMaxIdleTime(5 * time.Minute)
	return n, nil
}

// Close closes the admin pools of all nodes.
func (p *Postgres) Close() error {
	return p.nodes.Close()
}

// Ping connects to node as the admin, for health logging at start-up. An unknown node is a
// permanent error; the error describes the cause without the URL.
func (p *Postgres) Ping(ctx context.Context, name string) error {
	n, err := p.node(name)
	if err != nil {
		return err
	}
	if err := n.db.PingContext(ctx); err != nil {
		return n.fail("accept a connection", err)
	}
	return nil
}

func (p *Postgres) node(name string) (*node, error) {
	return p.nodes.Get(name)
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

// locked runs f on one admin connection that holds a session advisory lock derived from key,
// so that calls for the same instance wait for each other instead of racing on the catalog.
// CREATE DATABASE cannot run in a transaction, hence a session lock rather than a transaction one.
func (n *node) locked(ctx context.Context, key string, f func(c *sql.Conn) error) error {
	c, err := n.db.Conn(ctx)
	if err != nil {
		return n.fail("accept a connection", err)
	}
	sum := sha256.Sum256([]byte(key))
	k := int32(binary.BigEndian.Uint32(sum[:4]))
	if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, lockClass, k); err != nil {
		discard(c)
		return n.fail("take the instance's lock", err)
	}
	defer func() {
		// Unlock even when ctx is done; a connection that cannot say whether it still holds
		// the lock is closed rather than returned to the pool, which releases the lock.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var released bool
		if err := c.QueryRowContext(uctx, `SELECT pg_advisory_unlock($1, $2)`, lockClass, k).Scan(&released); err != nil || !released {
			discard(c)
			return
		}
		_ = c.Close()
	}()
	err = f(c)
	if err != nil && ctx.Err() != nil && !backends.IsPermanent(err) {
		// pq reports a statement it cancelled for ctx as the server's query_canceled; the
		// sentence should say why it was cancelled.
		return n.fail("", fmt.Errorf("%w: %w", ctx.Err(), err))
	}
	return err
}

// discard closes c instead of returning it to its pool.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.Close()
}

func (n *node) hostPort() string {
	return net.JoinHostPort(n.host, strconv.Itoa(n.port))
}
