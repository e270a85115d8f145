// Package sqlnode is what the adapters of SQL servers (postgres, mysql) share: one admin pool
// per node with the same limits, Ping and Close, node lookup, the credentials of a database, and
// running a call for one instance on an admin session that holds the instance's lock, whatever
// the server's kind of lock. It imports nothing of ours but backends.
package sqlnode

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/omnibroker/omnibroker/backends"
)

// Node is the admin side of one SQL server. An adapter's own node type embeds it.
type Node struct {
	backends.Endpoint
	// DB is the admin pool.
	DB *sql.DB
	// cause reads the driver's errors into a sentence; see backends.NodeFailed.
	cause func(error) backends.Cause
}

// Open makes the node of server cfg from the admin URL's own host and port (used where cfg
// sets none) and ca (the node's, from backends.ReadCA), with an admin pool on connector and
// cause to read its driver's errors. It does not connect. Its errors name the node as a node
// of kind, never its URL.
func Open(kind string, cfg backends.Server, urlHost string, urlPort int, ca backends.CA, connector driver.Connector, cause func(error) backends.Cause) (*Node, error) {
	e, err := backends.NewEndpoint(kind, cfg, urlHost, urlPort)
	if err != nil {
		return nil, err
	}
	e.CA = ca
	n := &Node{Endpoint: e, DB: sql.OpenDB(connector), cause: cause}
	n.DB.SetMaxOpenConns(16)
	n.DB.SetMaxIdleConns(2)
	n.DB.SetConnMaxIdleTime(5 * time.Minute)
	return n, nil
}

// SQL returns n; it lets Nodes reach the Node an adapter's node type embeds.
func (n *Node) SQL() *Node { return n }

// Dialect is how an SQL kind spells the URLs of its credentials: the uri's Scheme and Query
// (such as "sslmode=disable"; none when empty), and the jdbcUrl's JDBC subprotocol and the
// JDBCQuery that follows its user and password.
type Dialect struct {
	Scheme, Query, Subprotocol, JDBCQuery string
}

// Credentials are what an application gets of database db on the node, to log in as user
// with password: hostname, port, name, username, password, a uri and a jdbcUrl as d spells
// them, and the node's CA as certificates when it has one, with the well-known entries of
// backends.Mountable (type, provider, host, database) next to them.
func (n *Node) Credentials(d Dialect, db, user, password string) backends.Credentials {
	u := url.URL{
		Scheme:   d.Scheme,
		User:     url.UserPassword(user, password),
		Host:     n.HostPort(),
		Path:     "/" + db,
		RawQuery: d.Query,
	}
	jdbc := "jdbc:" + d.Subprotocol + "://" + n.HostPort() + "/" + db +
		"?user=" + url.QueryEscape(user) + "&password=" + url.QueryEscape(password)
	if d.JDBCQuery != "" {
		jdbc += "&" + d.JDBCQuery
	}
	c := backends.Credentials{
		"hostname": n.Host,
		"port":     n.Port,
		"name":     db,
		"username": user,
		"password": password,
		"uri":      u.String(),
		"jdbcUrl":  jdbc,
	}
	n.CA.AddCertificates(c)
	return backends.Mountable(c)
}

// Fail is the transient failure of the node doing action (a verb phrase such as "create the
// database"), worded from err by the node's driver (backends.NodeFailed).
func (n *Node) Fail(action string, err error) error {
	return backends.NodeFailed(n.Name, action, err, n.cause)
}

// Lock is how a kind of server serialises the calls for one instance: a lock held by one admin
// session, which the server releases should the session end.
type Lock interface {
	// Acquire takes the lock on c, waiting as the server's lock does. Its error is worded by
	// Locked unless it carries a sentence already (such as "still busy").
	Acquire(ctx context.Context, c *sql.Conn) error
	// Release gives the lock back, and reports whether c held it and the server said so.
	Release(ctx context.Context, c *sql.Conn) bool
}

// Locked runs f on one admin connection that holds lock, so that calls for the same instance
// wait for each other instead of racing on the catalog. The lock is released even when ctx is
// done; a connection that cannot say whether it still holds the lock is closed rather than
// returned to the pool, which releases the lock. A statement that ctx cut short is worded for
// why it was cut short.
func (n *Node) Locked(ctx context.Context, lock Lock, f func(c *sql.Conn) error) error {
	c, err := n.DB.Conn(ctx)
	if err != nil {
		return n.Fail("accept a connection", err)
	}
	if err := lock.Acquire(ctx, c); err != nil {
		discard(c)
		return n.Fail("take the instance's lock", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if !lock.Release(uctx, c) {
			discard(c)
			return
		}
		_ = c.Close()
	}()
	err = f(c)
	if err != nil && ctx.Err() != nil && !backends.IsPermanent(err) && !errors.Is(err, ctx.Err()) {
		// A driver reports a statement cut short for ctx as the server's own cancellation, or
		// as a broken connection; the sentence should say why it was cut short.
		return n.Fail("", fmt.Errorf("%w: %w", ctx.Err(), err))
	}
	return err
}

// discard closes c instead of returning it to its pool.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.Close()
}

// Nodes are the nodes of an adapter of SQL servers, N being its own node type that embeds
// *Node. An adapter embeds Nodes, and so has Ping and Close.
type Nodes[N interface{ SQL() *Node }] struct {
	backends.Nodes[N]
}

// OpenNodes builds the nodes of an adapter of kind with open, as backends.OpenNodes does;
// Close closes their admin pools.
func OpenNodes[N interface{ SQL() *Node }](kind string, servers []backends.Server, open func(backends.Server) (N, error)) (Nodes[N], error) {
	ns, err := backends.OpenNodes(kind, servers, open, func(n N) error { return n.SQL().DB.Close() })
	return Nodes[N]{ns}, err
}

// Ping connects to node name as the admin, for health logging at start-up. An unknown node is
// a permanent error; the error describes the cause without the URL.
func (ns Nodes[N]) Ping(ctx context.Context, name string) error {
	n, err := ns.Get(name)
	if err != nil {
		return err
	}
	if err := n.SQL().DB.PingContext(ctx); err != nil {
		return n.SQL().Fail("accept a connection", err)
	}
	return nil
}

// ListObjects runs query on the admin pool, which returns a kind and a name per row, and
// returns the objects keep accepts, in the order of the rows; a failure is the node failing to
// "list its " + what.
func (n *Node) ListObjects(ctx context.Context, query, what string, keep func(backends.Object) bool) (backends.ListObjectsResponse, error) {
	rows, err := n.DB.QueryContext(ctx, query)
	if err != nil {
		return backends.ListObjectsResponse{}, n.Fail("list its "+what, err)
	}
	defer rows.Close()
	var res backends.ListObjectsResponse
	for rows.Next() {
		var o backends.Object
		if err := rows.Scan(&o.Kind, &o.Name); err != nil {
			return backends.ListObjectsResponse{}, n.Fail("list its "+what, err)
		}
		if keep(o) {
			res.Objects = append(res.Objects, o)
		}
	}
	if err := rows.Err(); err != nil {
		return backends.ListObjectsResponse{}, n.Fail("list its "+what, err)
	}
	return res, nil
}
