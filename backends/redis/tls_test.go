package redis_test

import (
	"context"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/redis"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

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
		other := filepath.Join(GinkgoT().TempDir(), "other-ca.pem")
		testkit.NewCA(GinkgoT()).WriteFile(GinkgoT(), other)
		r := suite.Open(tlsNode(other))
		const sentence = "node redis-tls presented a TLS certificate the broker does not trust"

		err := r.Ping(ctx, "redis-tls")
		Expect(backendtest.Description(err)).To(Equal(sentence))
		err = suite.CallsOf(r).Provision(suite.Logged(ctx), backends.Instance{ID: "tls-untrusted", Node: "redis-tls", Plan: "small", Parameters: map[string]any{}})
		Expect(backendtest.Description(err)).To(Equal(sentence))
		Expect(backends.IsPermanent(err)).To(BeFalse(), "an operator can fix the ca_file, and a retry then succeeds")
		backendtest.ExpectHidden(err.Error(), testkit.RedisAdminPassword, "the error")
		Expect(err.Error()).NotTo(ContainSubstring("rediss://"))
		backendtest.ExpectHidden(string(suite.Logger.Buffer().Contents()), testkit.RedisAdminPassword, "the log")
	})

	It("refuses a ca_file on a node whose admin URL is not rediss://", func() {
		_, err := redis.New([]backends.Server{{Name: "redis-plain", CAFile: server.CAFile,
			AdminURL: "redis://admin:" + backendtest.ClosedNodePassword + "@cache.example.com:6379"}})
		Expect(err).To(MatchError(`redis node "redis-plain" sets ca_file, but its admin URL does not ask for TLS (a rediss:// URL)`))
	})
})
