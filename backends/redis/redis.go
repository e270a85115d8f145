// Package redis is the backend of the redis service: an instance is a key prefix on a shared
// Redis node, and a binding is an ACL user confined to the keys and channels under that prefix
// and kept away from commands that reach beyond it.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/omnibroker/omnibroker/backends"
)

// Redis manages key prefixes and ACL users on a set of Redis nodes (7.0 or later). It is safe
// for concurrent use, and takes no lock: every step is a single command that is harmless to
// repeat, so two calls of the same kind for the same id may interleave and end alike.
type Redis struct {
	nodes map[string]*node
}

var (
	_ backends.Adapter  = (*Redis)(nil)
	_ backends.Restorer = (*Redis)(nil)
)

type node struct {
	name   string
	host   string
	port   int
	tls    bool
	client *goredis.Client
}

// Bounds on the admin client's calls, for admin URLs that set none: a node that accepts the
// socket but never answers must not hold a worker beyond its lease.
const (
	dialTimeout = 5 * time.Second
	ioTimeout   = 10 * time.Second
)

// silent drops go-redis's own log lines (dial failures and the like), which it prints to
// stderr past the broker's redacting logger; every such failure also comes back as an error.
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

func init() { goredis.SetLogger(silent{}) }

// New validates the nodes and prepares one small admin client per node. A node's AdminURL is a
// redis:// or rediss:// URL of a user allowed to manage ACL users and delete any key, such as
// redis://127.0.0.1:6379 or redis://admin:secret@10.0.0.5:6379; Host and Port default to its
// own. It does not connect: clients connect when first used. Error messages name the node,
// never its URL.
func New(nodes []backends.Server) (*Redis, error) {
	r := &Redis{nodes: make(map[string]*node, len(nodes))}
	for _, cfg := range nodes {
		n, err := newNode(cfg)
		if err == nil && r.nodes[cfg.Name] != nil {
			_ = n.client.Close()
			err = fmt.Errorf("redis node %q is listed twice", cfg.Name)
		}
		if err != nil {
			_ = r.Close()
			return nil, err
		}
		r.nodes[cfg.Name] = n
	}
	return r, nil
}

func newNode(cfg backends.Server) (*node, error) {
	if cfg.Name == "" {
		return nil, errors.New("a redis node has no name")
	}
	// ParseURL's errors can quote the whole URL, password included, so they are not wrapped.
	opts, err := goredis.ParseURL(cfg.AdminURL)
	if err != nil || opts.Network != "tcp" {
		return nil, fmt.Errorf("redis node %q: admin URL is not a valid redis:// or rediss:// URL", cfg.Name)
	}
	// Applications cannot SELECT (see aclRules), so their keys, and the keys Deprovision
	// deletes, are in database 0.
	if opts.DB != 0 {
		return nil, fmt.Errorf("redis node %q: admin URL selects database %d, but instances live in database 0", cfg.Name, opts.DB)
	}
	host, port, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("redis node %q: admin URL has an invalid address", cfg.Name)
	}
	n := &node{name: cfg.Name, host: cfg.Host, port: cfg.Port, tls: opts.TLSConfig != nil}
	if n.host == "" {
		n.host = host
	}
	if n.port == 0 {
		if n.port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("redis node %q: admin URL has an invalid port", cfg.Name)
		}
	}
	if n.port < 1 || n.port > 65535 {
		return nil, fmt.Errorf("redis node %q: port %d is out of range", cfg.Name, n.port)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = dialTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = ioTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = ioTimeout
	}
	opts.ContextTimeoutEnabled = true
	// One retry covers a pooled connection the node closed (it restarted); more would only
	// delay the worker, which retries the whole call with backoff anyway.
	opts.MaxRetries = 1
	opts.DialerRetries = 1
	opts.PoolSize = 8
	opts.MaxIdleConns = 2
	opts.ConnMaxIdleTime = 5 * time.Minute
	opts.ClientName = "omnibroker"
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	n.client = goredis.NewClient(opts)
	return n, nil
}

// Close closes the admin clients of all nodes.
func (r *Redis) Close() error {
	var errs []error
	for _, n := range r.nodes {
		errs = append(errs, n.client.Close())
	}
	return errors.Join(errs...)
}

// Ping sends PING to node as the admin, for health logging at start-up. An unknown node is a
// permanent error; the error describes the cause without the URL.
func (r *Redis) Ping(ctx context.Context, name string) error {
	n, err := r.node(name)
	if err != nil {
		return err
	}
	if err := n.client.Ping(ctx).Err(); err != nil {
		return n.fail("answer a PING", err)
	}
	return nil
}

func (r *Redis) node(name string) (*node, error) {
	n, ok := r.nodes[name]
	if !ok {
		return nil, backends.UnknownNode("redis", name)
	}
	return n, nil
}

func (n *node) hostPort() string {
	return net.JoinHostPort(n.host, strconv.Itoa(n.port))
}
