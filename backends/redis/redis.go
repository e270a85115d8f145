// Package redis is the backend of the redis service: an instance is a key prefix on a shared
// Redis node, and a binding is an ACL user confined to the keys and channels under that prefix
// and kept away from commands that reach beyond it.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/omnibroker/omnibroker/backends"
)

// Redis manages key prefixes and ACL users on a set of Redis nodes (7.0 or later). It is safe
// for concurrent use, and takes no lock: every step is a single command that is harmless to
// repeat, so two calls of the same kind for the same id may interleave and end alike.
type Redis struct {
	nodes backends.Nodes[*node]
}

type node struct {
	backends.Endpoint
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
// redis://omnibroker:secret@10.0.0.5:6379; Host and Port default to its own. A node with a
// CAFile needs a rediss:// URL, and the broker verifies the node's certificate with it. It does not
// connect: clients connect when first used. Error messages name the node, never its URL.
func New(servers []backends.Server) (*Redis, error) {
	opened, err := backends.OpenNodes("redis", servers, newNode, func(n *node) error { return n.client.Close() })
	if err != nil {
		return nil, err
	}
	return &Redis{nodes: opened}, nil
}

var _ backends.Backend = (*Redis)(nil)

func newNode(cfg backends.Server) (*node, error) {
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
	urlPort, err := strconv.Atoi(port)
	if err != nil && cfg.Port == 0 {
		return nil, fmt.Errorf("redis node %q: admin URL has an invalid port", cfg.Name)
	}
	e, err := backends.NewEndpoint("redis", cfg, host, urlPort)
	if err != nil {
		return nil, err
	}
	if e.CA, err = backends.ReadCA("redis", cfg); err != nil {
		return nil, err
	}
	if e.CA.Pool != nil {
		if opts.TLSConfig == nil {
			return nil, backends.NeedsTLS("redis", cfg, "a rediss:// URL")
		}
		opts.TLSConfig.RootCAs = e.CA.Pool
	}
	n := &node{Endpoint: e, tls: opts.TLSConfig != nil}
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
	return r.nodes.Close()
}

// Ping sends PING to node as the admin, and checks that no ACL user of the node lets anyone
// log in without a password, for health logging at start-up. An unknown node is a permanent
// error; the error describes the cause without the URL.
func (r *Redis) Ping(ctx context.Context, name string) error {
	n, err := r.node(name)
	if err != nil {
		return err
	}
	if err := n.client.Ping(ctx).Err(); err != nil {
		return n.fail("answer a PING", err)
	}
	return n.checkNoOpenUser(ctx)
}

// checkNoOpenUser refuses a node on which an enabled ACL user has no password (nopass): Redis
// never denies AUTH, so any application bound to any instance could log in as that user with
// a made-up password and reach every instance's keys. The default user of a Redis left as
// installed is such a user. ACL LIST names them all in one reply, which grows with the
// number of users, so Bind, which runs for every binding, checks the default user alone
// (checkDefaultClosed). Like every failure of the node, it is not permanent: an operator
// closes the user, and a retry succeeds.
func (n *node) checkNoOpenUser(ctx context.Context) error {
	rules, err := n.client.ACLList(ctx).Result()
	if err != nil {
		return n.fail("list the ACL users", err)
	}
	for _, line := range rules {
		// A line is "user <name> <flags...> <passwords, patterns and commands...>"; user names
		// hold no spaces, and the flags come before everything else.
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "user" {
			continue
		}
		var flags []string
		for _, f := range fields[2:] {
			if !isUserFlag(f) {
				break
			}
			flags = append(flags, f)
		}
		if letsAnyoneIn(flags) {
			return n.openUser(fields[1])
		}
	}
	return nil
}

// checkDefaultClosed refuses a node whose default user is enabled without a password, as
// checkNoOpenUser does for every user.
func (n *node) checkDefaultClosed(ctx context.Context) error {
	reply, err := n.client.Do(ctx, "ACL", "GETUSER", "default").Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil
	case err != nil:
		return n.fail("read the ACL rules of user default", err)
	}
	if letsAnyoneIn(userFlags(reply)) {
		return n.openUser("default")
	}
	return nil
}

// isUserFlag reports whether an ACL LIST field is one of the flags Redis 7 lists before a
// user's passwords and rules.
func isUserFlag(field string) bool {
	switch field {
	case "on", "off", "nopass", "sanitize-payload", "skip-sanitize-payload":
		return true
	}
	return false
}

// letsAnyoneIn reports whether a user with flags lets anyone log in: it is on, and takes any
// password.
func letsAnyoneIn(flags []string) bool {
	return slices.Contains(flags, "on") && slices.Contains(flags, "nopass")
}

// userFlags returns the flags in an ACL GETUSER reply, a map in RESP3 and a list of names
// and values in RESP2.
func userFlags(reply any) []string {
	var value any
	switch r := reply.(type) {
	case map[any]any:
		value = r["flags"]
	case []any:
		for i := 0; i+1 < len(r); i += 2 {
			if r[i] == "flags" {
				value = r[i+1]
			}
		}
	}
	list, _ := value.([]any)
	flags := make([]string, 0, len(list))
	for _, f := range list {
		if s, ok := f.(string); ok {
			flags = append(flags, s)
		}
	}
	return flags
}

// openUser is the failure of a node on which anyone can log in as user, saying how to close it.
func (n *node) openUser(user string) error {
	who := "its ACL user " + user
	if user == "default" {
		who = "Redis's default user"
	}
	return backends.Transient(
		fmt.Sprintf("node %s lets anyone log in as %s without a password; turn it off (ACL SETUSER %s off) or give it a password", n.Name, who, user),
		fmt.Errorf("ACL user %q is on and nopass", user))
}

// LosesBindings reports true: a node that restarts without an aclfile forgets its ACL users,
// and the broker restores those of its live bindings (see CheckBinding).
func (r *Redis) LosesBindings() bool { return true }

func (r *Redis) node(name string) (*node, error) {
	return r.nodes.Get(name)
}

// credentials are what the application gets: host, port, username, password, key_prefix and
// uri, with type and provider (backends.Mountable). The uri is rediss:// when the broker's own
// admin URL is, and then the node's CA, if it has one, comes as certificates.
func (n *node) credentials(prefix, user, password string) backends.Credentials {
	u := url.URL{
		Scheme: "redis",
		User:   url.UserPassword(user, password),
		Host:   n.HostPort(),
	}
	if n.tls {
		u.Scheme = "rediss"
	}
	c := backends.Credentials{
		"host":       n.Host,
		"port":       n.Port,
		"username":   user,
		"password":   password,
		"key_prefix": prefix,
		"uri":        u.String(),
	}
	n.CA.AddCertificates(c)
	return backends.Mountable(c)
}
