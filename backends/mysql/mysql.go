// Package mysql is the backend of the mysql service, on MariaDB: a database per instance, and a
// user per binding with every privilege on that database and on nothing else.
package mysql

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/sqlnode"
)

// MySQL creates databases and users on a set of MariaDB nodes. It is safe for concurrent use;
// calls for the same instance are serialised by a named lock (GET_LOCK) on its node, so two
// workers (or two broker replicas) never interleave their statements. Its nodes never forget
// what Bind made.
type MySQL struct {
	backends.KeepsBindings
	nodes sqlnode.Nodes[*node]
}

type node struct {
	*sqlnode.Node
	lockWait time.Duration
	// clientTLS is set when the admin URL insists on TLS (see clientTLS).
	clientTLS bool
}

const (
	defaultPort = 3306
	// dialTimeout bounds the TCP connect; the read and write timeouts bound every exchange
	// afterwards, so that a node that accepted the socket and then hung cannot hold a worker
	// even when its context has no deadline. readTimeout stays above lockWait and
	// lockWaitTimeout, so a statement waiting for a lock ends on the server's terms first.
	dialTimeout  = 10 * time.Second
	readTimeout  = 2 * time.Minute
	writeTimeout = 30 * time.Second
	// lockWait is how long a call waits for the instance's lock before it gives up, for a retry.
	lockWait = 30 * time.Second
	// lockWaitTimeout bounds, in seconds, how long the admin's DDL waits for a metadata lock
	// (the server's default is a day): DROP DATABASE waits for every session using its tables.
	lockWaitTimeout = "60"
)

// New validates the nodes and prepares one admin pool per node. A node's AdminURL names a user
// that may create databases and users, grant, and see and kill every connection, such as
// mysql://root@127.0.0.1:3306/; it may set tls, timeout, readTimeout and writeTimeout as the
// driver spells them. A node with a CAFile needs tls=true, and verifies the server with it.
// Host and Port default to the URL's own. It does not connect: pools open
// connections when first used. Error messages name the node, never its URL.
func New(servers []backends.Server) (*MySQL, error) {
	opened, err := sqlnode.OpenNodes("mysql", servers, newNode)
	if err != nil {
		return nil, err
	}
	return &MySQL{nodes: opened}, nil
}

var _ backends.Backend = (*MySQL)(nil)

func newNode(cfg backends.Server) (*node, error) {
	dc, ca, err := nodeConfig(cfg)
	if err != nil {
		return nil, err
	}
	connector, err := gomysql.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("mysql node %q: the driver does not accept the admin URL", cfg.Name)
	}
	urlHost, urlPort, _ := net.SplitHostPort(dc.Addr)
	port, _ := strconv.Atoi(urlPort)
	sn, err := sqlnode.Open("mysql", cfg, urlHost, port, ca, connector, cause)
	if err != nil {
		return nil, err
	}
	return &node{Node: sn, lockWait: lockWait, clientTLS: clientTLS[dc.TLSConfig]}, nil
}

// clientTLS are the tls values of an admin URL that insist on TLS: the node is then taken to
// serve its clients over TLS only, and applications are told to verify its certificate.
var clientTLS = map[string]bool{"true": true, "skip-verify": true}

// nodeConfig is the driver's configuration of server cfg's admin URL and the node's CA, which
// the admin's connections verify the server's certificate with; a CA needs tls=true.
func nodeConfig(cfg backends.Server) (*gomysql.Config, backends.CA, error) {
	dc, err := driverConfig(cfg.AdminURL)
	if err != nil {
		return nil, backends.CA{}, fmt.Errorf("mysql node %q: %w", cfg.Name, err)
	}
	ca, err := backends.ReadCA("mysql", cfg)
	if err != nil {
		return nil, backends.CA{}, err
	}
	if ca.Pool != nil {
		if dc.TLSConfig != "true" {
			return nil, backends.CA{}, backends.NeedsTLS("mysql", cfg, "tls=true")
		}
		// The driver fills in ServerName from the address, and verifies the host name.
		dc.TLS = &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	}
	return dc, ca, nil
}

// driverConfig turns an admin URL, mysql://user[:password]@host[:port]/[?param=value], into
// the driver's configuration. Its errors never quote the URL: url.Parse errors do, so they
// are not wrapped.
func driverConfig(adminURL string) (*gomysql.Config, error) {
	u, err := url.Parse(adminURL)
	if err != nil || u.Scheme != "mysql" || u.Opaque != "" {
		return nil, errors.New("admin URL is not a mysql:// URL")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("admin URL names a database; the admin connects without one")
	}
	dc := gomysql.NewConfig()
	if u.User != nil {
		dc.User = u.User.Username()
		dc.Passwd, _ = u.User.Password()
	}
	if dc.User == "" {
		return nil, errors.New("admin URL has no user name")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("admin URL has no host name")
	}
	port := defaultPort
	if s := u.Port(); s != "" {
		if port, err = strconv.Atoi(s); err != nil || port < 1 || port > 65535 {
			return nil, errors.New("admin URL has an invalid port")
		}
	}
	dc.Net = "tcp"
	dc.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	dc.Timeout, dc.ReadTimeout, dc.WriteTimeout = dialTimeout, readTimeout, writeTimeout
	dc.Params = map[string]string{"lock_wait_timeout": lockWaitTimeout}
	// The driver prints some failures to stderr, outside the broker's redacting logger; each
	// of them also reaches the caller as an error.
	dc.Logger = &gomysql.NopLogger{}
	for key, values := range u.Query() {
		value := values[len(values)-1]
		switch key {
		case "tls":
			dc.TLSConfig = value
		case "timeout", "readTimeout", "writeTimeout":
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("admin URL parameter %s is not a positive duration", key)
			}
			switch key {
			case "timeout":
				dc.Timeout = d
			case "readTimeout":
				dc.ReadTimeout = d
			default:
				dc.WriteTimeout = d
			}
		default:
			return nil, fmt.Errorf("admin URL parameter %q is not one of tls, timeout, readTimeout, writeTimeout", truncate(key, 32))
		}
	}
	return dc, nil
}

// Close closes the admin pools of all nodes.
func (m *MySQL) Close() error { return m.nodes.Close() }

// Ping connects to node as the admin, for health logging at start-up. An unknown node is a
// permanent error; the error describes the cause without the URL.
func (m *MySQL) Ping(ctx context.Context, name string) error { return m.nodes.Ping(ctx, name) }

// lockName is the name of the GET_LOCK lock of the instance whose database is db. Lock names
// are server-wide, hence the prefix.
func lockName(db string) string { return "omnibroker." + db }

// namedLock is the GET_LOCK lock of one instance on node. The wait is bounded by the node's
// lockWait; a call that gives up fails for a retry. A named lock belongs to its session, so
// the server releases it if the broker dies holding it.
type namedLock struct {
	node, name string
	wait       time.Duration
}

func (l namedLock) Acquire(ctx context.Context, c *sql.Conn) error {
	// GET_LOCK answers 1 when it has the lock, 0 when the wait ran out, NULL on an error.
	var got sql.NullInt64
	err := c.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, l.name, l.wait.Seconds()).Scan(&got)
	switch {
	case err != nil:
		return err
	case !got.Valid:
		return errors.New("GET_LOCK returned NULL")
	case got.Int64 != 1:
		return backends.Transient(
			fmt.Sprintf("node %s is still busy with another call for this instance", l.node),
			fmt.Errorf("GET_LOCK waited %s for lock %s", l.wait, l.name))
	}
	return nil
}

func (l namedLock) Release(ctx context.Context, c *sql.Conn) bool {
	var released sql.NullInt64
	err := c.QueryRowContext(ctx, `SELECT RELEASE_LOCK(?)`, l.name).Scan(&released)
	return err == nil && released.Int64 == 1
}

// locked runs f on an admin connection that holds the named lock of the instance whose
// database is db (see sqlnode.Node.Locked).
func (n *node) locked(ctx context.Context, db string, f func(c *sql.Conn) error) error {
	return n.Locked(ctx, namedLock{node: n.Name, name: lockName(db), wait: n.lockWait}, f)
}

// quoteIdentifier quotes a database or user name for SQL. Names are derived from ids and hold
// no backtick, but are quoted all the same.
func quoteIdentifier(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// account is the account of user name: every binding user may connect from any host.
func account(user string) string {
	return quoteIdentifier(user) + `@'%'`
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
