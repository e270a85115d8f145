package redis_test

import (
	"context"
	"slices"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/redis"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestRedis(t *testing.T) { testkit.RunSuite(t, "Redis Backend Suite") }

// The admin login of the local Redis as scripts/services leaves it, which the Redis servers the
// specs start have too.
const (
	adminUser     = testkit.RedisAdminUser
	adminPassword = testkit.RedisAdminPassword
)

var suite = backendtest.NewSuite("redis", testkit.Redis, testkit.RedisAdmin, redis.New, "redis-local",
	backendtest.ClosedNode("redis-closed", "redis", "admin", ""),
	func() backends.Server {
		return backends.Server{Name: "redis-silent", AdminURL: "redis://admin:" + backendtest.ClosedNodePassword + "@" + backendtest.HungNode()}
	})

// startRedisServer runs a Redis server of the spec's own on a free port of 127.0.0.1, with
// extra configuration directives (such as "--user", "default", "off"), in memory only; it
// returns its address and is stopped when the spec ends.
func startRedisServer(extra ...string) string {
	GinkgoHelper()
	return testkit.StartRedis(GinkgoT(), 0, extra...).Addr
}

// securedServerArgs start a Redis server as scripts/services leaves the local one: the
// default user off, and the admin user with every right and a password, given as its SHA-256
// so that it stays out of the process list.
func securedServerArgs() []string { return testkit.SecuredRedisArgs() }

// newInstance returns an instance with a fresh id on redis-local, deprovisioned after the spec,
// which then checks that no key and no ACL user of it is left.
func newInstance() backends.Instance {
	return suite.Calls().NewInstance("redis-local", nil, func(ctx context.Context, inst backends.Instance) {
		Expect(keysUnder(ctx, keyPrefix(inst))).To(BeEmpty())
		Expect(usersOf(ctx, inst)).To(BeEmpty())
	})
}

func provisioned(ctx context.Context) backends.Instance {
	inst := newInstance()
	Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())
	return inst
}

func newBinding() backends.Binding { return backendtest.NewBinding() }

// login connects with the credentials' uri as an application would, with no retries, so that a
// closed connection shows as an error rather than a silent reconnect. The client is closed
// after the spec.
func login(ctx context.Context, creds backends.Credentials) (*goredis.Client, error) {
	GinkgoHelper()
	uri, _ := creds["uri"].(string)
	return testkit.RedisLogin(ctx, GinkgoT(), uri)
}

func mustLogin(ctx context.Context, creds backends.Credentials) *goredis.Client {
	c, err := login(ctx, creds)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// heldConn takes one connection of c for the spec's own, closed when the spec ends, so that a spec
// can tell whether a connection made before an operation survives it.
func heldConn(c *goredis.Client) *goredis.Conn {
	conn := c.Conn()
	DeferCleanup(conn.Close)
	return conn
}

func keyPrefix(inst backends.Instance) string { return backends.Name("ob:", inst.ID) + ":" }

func userName(inst backends.Instance, b backends.Binding) string {
	return backends.UserName(inst.ID, b)
}

// keysUnder lists, as the admin, the keys whose names start with prefix.
func keysUnder(ctx context.Context, prefix string) []string {
	keys, err := testkit.RedisKeysUnder(ctx, suite.Admin, prefix)
	Expect(err).NotTo(HaveOccurred())
	return keys
}

// usersOf lists the node's ACL users that are logins of bindings ever bound to inst.
func usersOf(ctx context.Context, inst backends.Instance) []string {
	var ours []string
	for _, b := range backendtest.EverBound(inst.ID) {
		if userExists(ctx, userName(inst, b)) {
			ours = append(ours, userName(inst, b))
		}
	}
	return ours
}

func userExists(ctx context.Context, user string) bool {
	users, err := suite.Admin.ACLUsers(ctx).Result()
	Expect(err).NotTo(HaveOccurred())
	return slices.Contains(users, user)
}
