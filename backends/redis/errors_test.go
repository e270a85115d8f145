package redis_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/redis"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// reply is an error reply as a Redis node sends it.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

// adminAddr is host:port of the local node.
func adminAddr() string {
	opts, err := goredis.ParseURL(suite.AdminURL)
	Expect(err).NotTo(HaveOccurred())
	return opts.Addr
}

// bindingLost is the table entry of the check of a binding of inst, a call that talks to
// the node.
func bindingLost(inst backends.Instance) TableEntry {
	return Entry("binding-lost", backendtest.NodeCall(func(ctx context.Context, b backends.Backend) error {
		_, err := suite.CallsOf(b).BindingLost(ctx, inst, backends.Binding{ID: "b", Password: backendtest.ClosedNodePassword})
		return err
	}))
}

// nodeCalls are table entries of the backend calls that talk to the node, for inst: those of
// every adapter, and the check of a binding.
func nodeCalls(inst backends.Instance) []TableEntry {
	return append(backendtest.NodeCalls("redis", inst, backendtest.ClosedNodePassword), bindingLost(inst))
}

// expectDescribed expects err to be a retryable failure described by sentence, showing
// neither secret nor URL.
func expectDescribed(err error, sentence string, secrets ...string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(backends.IsPermanent(err)).To(BeFalse())
	Expect(backendtest.Description(err)).To(Equal(sentence))
	for _, s := range append(secrets, backendtest.ClosedNodePassword, "redis://") {
		Expect(err.Error()).NotTo(ContainSubstring(s))
		Expect(string(suite.Logger.Buffer().Contents())).NotTo(ContainSubstring(s))
	}
}

var _ = Describe("Errors", func() {
	suite.ItFailsOnUnreachableNodes("redis-unknown", "redis-closed", "redis://", bindingLost)

	When("the node accepts connections but never answers", func() {
		It("gives up when the caller's context ends, for a retry", func(ctx SpecContext) {
			short, cancel := context.WithTimeout(suite.Logged(ctx), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := suite.Calls().Provision(short, backends.Instance{ID: "some-id", Node: "redis-silent"})
			Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
			expectDescribed(err, "node redis-silent did not answer in time")
		})
	})

	When("the node rejects the broker's admin login", func() {
		DescribeTable("fails for a retry, without the admin's password",
			func(ctx SpecContext, call backendtest.NodeCall) {
				const password = "wr0ng-admin-pass"
				r := suite.Open(backends.Server{Name: "redis-wrong", AdminURL: "redis://ob-nobody:" + password + "@" + adminAddr()})
				expectDescribed(call(suite.Logged(ctx), r), "node redis-wrong rejected the broker's login", password)
			},
			nodeCalls(backends.Instance{ID: "some-id", Node: "redis-wrong"}),
		)
	})

	When("the broker's admin user may not manage ACL users", func() {
		It("says which permission is missing, for a retry once an operator grants it", func(ctx SpecContext) {
			user, password := "obtest-limited-"+uuid.NewString()[:8], newBinding().Password
			Expect(suite.Admin.ACLSetUser(ctx, user, "reset", "on", ">"+password, "~*", "&*", "+@all", "-acl").Err()).To(Succeed())
			DeferCleanup(func(ctx SpecContext) { Expect(suite.Admin.ACLDelUser(ctx, user).Err()).To(Succeed()) })
			r := suite.Open(backends.Server{Name: "redis-limited", AdminURL: "redis://" + user + ":" + password + "@" + adminAddr()})
			inst, b := backends.Instance{ID: uuid.NewString(), Node: "redis-limited"}, newBinding()

			expectDescribed(suite.CallsOf(r).Provision(suite.Logged(ctx), inst),
				"the broker's admin user on node redis-limited lacks a permission it needs to list the ACL users", password)
			_, err := suite.CallsOf(r).Bind(suite.Logged(ctx), inst, b)
			expectDescribed(err,
				"the broker's admin user on node redis-limited lacks a permission it needs to read the ACL rules of user default", password, b.Password)
			expectDescribed(suite.CallsOf(r).Deprovision(suite.Logged(ctx), inst),
				"the broker's admin user on node redis-limited lacks a permission it needs to delete ACL user "+userName(inst, b), password)
		})
	})

	When("anyone can log in to the node as its default user without a password, as Redis is installed", func() {
		It("refuses Ping, Provision and Bind, saying how to close it, and succeeds on a retry once an operator has", func(ctx SpecContext) {
			addr := startRedisServer()
			r := suite.Open(backends.Server{Name: "redis-open", AdminURL: "redis://" + addr})
			inst, b := backends.Instance{ID: uuid.NewString(), Node: "redis-open"}, newBinding()
			const open = "node redis-open lets anyone log in as Redis's default user without a password; turn it off (ACL SETUSER default off) or give it a password"

			expectDescribed(r.Ping(suite.Logged(ctx), "redis-open"), open)
			expectDescribed(suite.CallsOf(r).Provision(suite.Logged(ctx), inst), open)
			_, err := suite.CallsOf(r).Bind(suite.Logged(ctx), inst, b)
			expectDescribed(err, open, b.Password)
			resp2 := suite.Open(backends.Server{Name: "redis-open", AdminURL: "redis://" + addr + "?protocol=2"})
			_, err = suite.CallsOf(resp2).Bind(suite.Logged(ctx), inst, b)
			expectDescribed(err, open, b.Password)
			node := goredis.NewClient(&goredis.Options{Addr: addr})
			DeferCleanup(node.Close)
			Expect(node.ACLUsers(ctx).Val()).To(ConsistOf("default"), "Bind created no user")

			By("giving the default user a password, as an operator would")
			password := newBinding().Password
			Expect(node.ACLSetUser(ctx, "default", ">"+password).Err()).To(Succeed())
			Expect(node.Do(ctx, "AUTH", "default", "made-up").Err()).To(HaveOccurred())

			Expect(r.Ping(suite.Logged(ctx), "redis-open")).To(Succeed())
			Expect(suite.CallsOf(r).Provision(suite.Logged(ctx), inst)).To(Succeed())
			creds, err := suite.CallsOf(r).Bind(suite.Logged(ctx), inst, b)
			Expect(err).NotTo(HaveOccurred())
			Expect(mustLogin(ctx, creds).Set(ctx, keyPrefix(inst)+"k", "v", 0).Err()).To(Succeed())
			Expect(suite.CallsOf(r).Deprovision(suite.Logged(ctx), inst)).To(Succeed())
		})
	})

	When("the node is secured as scripts/services leaves the local one: the default user off, an admin with a password", func() {
		var (
			r    *redis.Redis
			node *goredis.Client
			inst backends.Instance
			addr string
		)

		BeforeEach(func() {
			addr = startRedisServer(securedServerArgs()...)
			r = suite.Open(backends.Server{Name: "redis-secured", AdminURL: "redis://" + adminUser + ":" + adminPassword + "@" + addr})
			node = goredis.NewClient(&goredis.Options{Addr: addr, Username: adminUser, Password: adminPassword})
			DeferCleanup(node.Close)
			inst = backends.Instance{ID: uuid.NewString(), Node: "redis-secured"}
		})

		It("serves instances, and shuts out whoever logs in as the default user", func(ctx SpecContext) {
			Expect(r.Ping(suite.Logged(ctx), "redis-secured")).To(Succeed())
			Expect(suite.CallsOf(r).Provision(suite.Logged(ctx), inst)).To(Succeed())
			creds, err := suite.CallsOf(r).Bind(suite.Logged(ctx), inst, newBinding())
			Expect(err).NotTo(HaveOccurred())
			Expect(mustLogin(ctx, creds).Set(ctx, keyPrefix(inst)+"k", "v", 0).Err()).To(Succeed())

			intruder := goredis.NewClient(&goredis.Options{Addr: addr, Username: "default", Password: "made-up", MaxRetries: -1})
			DeferCleanup(intruder.Close)
			Expect(goredis.IsAuthError(intruder.Ping(ctx).Err())).To(BeTrue(), "the default user is off")
			Expect(suite.CallsOf(r).Deprovision(suite.Logged(ctx), inst)).To(Succeed())
			Expect(node.Exists(ctx, keyPrefix(inst)+"k").Val()).To(BeZero())
		})

		It("refuses Ping and Provision while another user lets anyone in, naming it", func(ctx SpecContext) {
			Expect(node.ACLSetUser(ctx, "ops", "on", "nopass", "+@all", "~*").Err()).To(Succeed())
			const open = "node redis-secured lets anyone log in as its ACL user ops without a password; turn it off (ACL SETUSER ops off) or give it a password"
			expectDescribed(r.Ping(suite.Logged(ctx), "redis-secured"), open)
			expectDescribed(suite.CallsOf(r).Provision(suite.Logged(ctx), inst), open)

			Expect(node.ACLSetUser(ctx, "ops", "off").Err()).To(Succeed())
			Expect(r.Ping(suite.Logged(ctx), "redis-secured")).To(Succeed())
			Expect(suite.CallsOf(r).Provision(suite.Logged(ctx), inst)).To(Succeed())
		})
	})

	DescribeTable("words every cause in plain terms, naming the node",
		func(err error, sentence string) {
			Expect(redis.Sentence("redis-1", "delete ACL user ob_x", err)).To(Equal(sentence))
		},
		Entry("a wrong password", reply("WRONGPASS invalid username-password pair or user is disabled."), "node redis-1 rejected the broker's login"),
		Entry("a login missing", reply("NOAUTH Authentication required."), "node redis-1 rejected the broker's login"),
		Entry("a missing permission", reply("NOPERM this user has no permissions to run the 'acl|deluser' command"),
			"the broker's admin user on node redis-1 lacks a permission it needs to delete ACL user ob_x"),
		Entry("a node loading its data", reply("LOADING Redis is loading the dataset in memory"), "node redis-1 is loading its data set into memory"),
		Entry("a long script", reply("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."), "node redis-1 is busy running a script"),
		Entry("maxmemory reached", reply("OOM command not allowed when used memory > 'maxmemory'."), "node redis-1 ran out of memory (maxmemory)"),
		Entry("a failed save", reply("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."),
			"node redis-1 refuses writes because it cannot save its data to disk"),
		Entry("a replica", reply("READONLY You can't write against a read only replica."), "node redis-1 is a read-only replica, not a primary"),
		Entry("a replica without its primary", reply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
			"node redis-1 is a replica that lost its link to the primary"),
		Entry("a cluster node", reply("MOVED 3999 127.0.0.1:6381"), "node redis-1 is part of a Redis Cluster, which the redis backend does not support"),
		Entry("too many clients", reply("ERR max number of clients reached"), "node redis-1 ran out of connections"),
		Entry("another error reply", reply("ERR something else"), "node redis-1 failed to delete ACL user ob_x"),
		Entry("a reply wrapped", fmt.Errorf("pipeline: %w", reply("OOM command not allowed")), "node redis-1 ran out of memory (maxmemory)"),
		backendtest.TransportFailures("redis-1"),
		Entry("a full pool", goredis.ErrPoolTimeout, "node redis-1 did not answer in time"),
		Entry("a closed client", goredis.ErrClosed, "the broker has closed its connections to node redis-1, as it does when it stops"),
	)

	DescribeTable("Provision accepts Redis 7.0 and later only",
		func(version string, ok bool) { Expect(redis.Supported(version)).To(Equal(ok)) },
		Entry("7.0", "7.0.15", true),
		Entry("7.2", "7.2.4", true),
		Entry("8.0", "8.0.2", true),
		Entry("6.2, which cannot deny a subcommand", "6.2.14", false),
		Entry("6.0, which has no channel patterns", "6.0.20", false),
		Entry("no version", "", false),
		Entry("nonsense", "x.y", false),
	)
})

var _ = Describe("New", func() {
	DescribeTable("rejects a bad node without quoting its URL",
		func(nodes []backends.Server) {
			r, err := redis.New(nodes)
			Expect(err).To(HaveOccurred())
			Expect(r).To(BeNil())
			Expect(err.Error()).NotTo(ContainSubstring("s3cret"))
		},
		Entry("an unparsable URL", []backends.Server{{Name: "a", AdminURL: "redis://u:s3cret@%zz"}}),
		Entry("another scheme", []backends.Server{{Name: "a", AdminURL: "postgres://u:s3cret@h/x"}}),
		Entry("a unix socket", []backends.Server{{Name: "a", AdminURL: "unix://u:s3cret@/run/redis.sock"}}),
		Entry("a database other than 0", []backends.Server{{Name: "a", AdminURL: "redis://u:s3cret@h:6379/2"}}),
		Entry("a port out of range", []backends.Server{{Name: "a", AdminURL: "redis://u:s3cret@h:6379", Port: 70000}}),
		Entry("no name", []backends.Server{{AdminURL: "redis://u:s3cret@h"}}),
		Entry("a name twice", []backends.Server{
			{Name: "a", AdminURL: "redis://u:s3cret@h"},
			{Name: "a", AdminURL: "redis://u:s3cret@i"},
		}),
	)

	It("hands out the node's public host and port when they are set", func(ctx SpecContext) {
		r := suite.Open(backends.Server{Name: "redis-local", AdminURL: suite.AdminURL, Host: "cache.example.com", Port: 16379})
		inst := newInstance()
		Expect(suite.CallsOf(r).Provision(suite.Logged(ctx), inst)).To(Succeed())
		creds, err := suite.CallsOf(r).Bind(suite.Logged(ctx), inst, newBinding())
		Expect(err).NotTo(HaveOccurred())
		Expect(creds["host"]).To(Equal("cache.example.com"))
		Expect(creds["port"]).To(Equal(16379))
		uri := creds["uri"].(string)
		Expect(strings.HasPrefix(uri, "redis://"+creds["username"].(string)+":")).To(BeTrue(), "the uri logs in as the binding's user")
		Expect(strings.HasSuffix(uri, "@cache.example.com:16379")).To(BeTrue(), "the uri names the public host and port")
	})

	It("defaults the port to 6379 and hands out rediss:// URIs for a node reached over TLS", func() {
		r := suite.Open(backends.Server{Name: "redis-tls", AdminURL: "rediss://admin:s3cret@cache.example.com"})
		creds := r.Credentials("redis-tls", "ob:x:", "ob_user", "pw")
		Expect(creds["port"]).To(Equal(6379))
		Expect(creds["uri"]).To(Equal("rediss://ob_user:pw@cache.example.com:6379"))
	})
})

var _ = Describe("A node that speaks TLS only", func() {
	var (
		ca     *testkit.CA
		server *testkit.RedisServer
		admin  *goredis.Client
	)
	BeforeEach(func(ctx SpecContext) {
		ca = testkit.NewCA(GinkgoT())
		server = testkit.StartRedisTLS(GinkgoT(), ca, testkit.SecuredRedisArgs()...)
		var err error
		admin, err = testkit.RedisTLSLogin(ctx, GinkgoT(), server.Server().URL(), ca.PEM())
		Expect(err).NotTo(HaveOccurred())
	})
	tlsNode := func(caFile string) backends.Server {
		return backends.Server{Name: "redis-tls", AdminURL: server.Server().URL(), CAFile: caFile}
	}

	It("provisions and binds over TLS, and hands out a rediss:// uri with the node's CA", func(ctx SpecContext) {
		calls := suite.CallsOf(testkit.OpenAdapter(GinkgoT(), redis.New, "redis-tls", tlsNode(server.CAFile)))
		inst := calls.NewInstance("redis-tls", nil, func(ctx context.Context, inst backends.Instance) {
			Expect(testkit.RedisKeysUnder(ctx, admin, keyPrefix(inst))).To(BeEmpty())
			users, err := admin.ACLUsers(ctx).Result()
			Expect(err).NotTo(HaveOccurred())
			for _, b := range backendtest.EverBound(inst.ID) {
				Expect(users).NotTo(ContainElement(userName(inst, b)))
			}
		})
		Expect(calls.Provision(suite.Logged(ctx), inst)).To(Succeed())
		_, creds := calls.Bound(suite.Logged(ctx), inst)

		By("saying so in the credentials: a rediss:// uri, and the CA as certificates")
		backendtest.ExpectMountable(creds, "redis")
		Expect(creds[backends.CertificatesKey]).To(Equal(ca.PEM()))
		Expect(backendtest.ParseSecretURL(creds["uri"], "the uri").Scheme).To(Equal("rediss"))

		By("the application logging in with them over TLS, having verified the server, and using its keys")
		uri, _ := creds["uri"].(string)
		app, err := testkit.RedisTLSLogin(ctx, GinkgoT(), uri, ca.PEM())
		Expect(err).NotTo(HaveOccurred())
		prefix, _ := creds["key_prefix"].(string)
		Expect(app.Set(ctx, prefix+"greeting", "hello", 0).Err()).To(Succeed())
		Expect(app.Del(ctx, prefix+"greeting").Err()).To(Succeed())

		By("an application trusting another CA refusing the server")
		_, err = testkit.RedisTLSLogin(ctx, GinkgoT(), uri, testkit.NewCA(GinkgoT()).PEM())
		Expect(err).To(HaveOccurred())
		By("a login without TLS getting no answer")
		_, err = testkit.RedisLogin(ctx, GinkgoT(), "redis"+strings.TrimPrefix(uri, "rediss"))
		Expect(err).To(HaveOccurred())
	})

	It("fails with a sentence naming the node, without its URL or password, when the node's certificate is not signed by its ca_file", func(ctx SpecContext) {
		suite.ExpectUntrusted(ctx, suite.Open(tlsNode(backendtest.UntrustedCAFile())), "redis-tls", testkit.RedisAdminPassword)
	})

	It("refuses a ca_file on a node whose admin URL is not rediss://", func() {
		_, err := redis.New([]backends.Server{{Name: "redis-plain", CAFile: server.CAFile,
			AdminURL: "redis://admin:" + backendtest.ClosedNodePassword + "@cache.example.com:6379"}})
		Expect(err).To(MatchError(`redis node "redis-plain" sets ca_file, but its admin URL does not ask for TLS (a rediss:// URL)`))
	})
})
