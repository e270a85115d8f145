package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

var _ = Describe("A node that takes TLS connections only", func() {
	var (
		ca      *testkit.CA
		cluster *testkit.PostgresCluster
		admin   *sql.DB
	)
	BeforeEach(func() {
		ca = testkit.NewCA(GinkgoT())
		cluster = testkit.StartPostgresTLS(GinkgoT(), ca)
		admin = testkit.PostgresAdmin(GinkgoT(), cluster.Server)
	})
	// tlsNode is the cluster as a node whose admin URL asks for TLS with the server verified,
	// and whose ca_file is caFile. The password is one the errors must never show (the
	// cluster lets the postgres superuser in without one).
	tlsNode := func(caFile string) backends.Server {
		return backends.Server{Name: "pg-tls", CAFile: caFile, AdminURL: fmt.Sprintf(
			"postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=verify-full", backendtest.ClosedNodePassword, cluster.Port)}
	}

	It("provisions and binds over TLS, and tells the application to verify the server with the node's CA, which it hands out", func(ctx SpecContext) {
		calls := suite.CallsOf(suite.Open(tlsNode(cluster.CAFile)))
		inst := calls.NewInstance("pg-tls", nil, func(ctx context.Context, inst backends.Instance) {
			var n int
			Expect(admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, databaseName(inst)).Scan(&n)).To(Succeed())
			Expect(n).To(BeZero())
		})
		Expect(calls.Provision(suite.Logged(ctx), inst)).To(Succeed())
		_, creds := calls.Bound(suite.Logged(ctx), inst)

		By("saying so in the credentials: sslmode=verify-full in both URLs, and the CA as certificates")
		backendtest.ExpectMountable(creds, "postgresql")
		Expect(creds[backends.CertificatesKey]).To(Equal(ca.PEM()))
		Expect(backendtest.ParseSecretURL(creds["uri"], "the uri").Query().Get("sslmode")).To(Equal("verify-full"))
		jdbc, _ := creds["jdbcUrl"].(string)
		Expect(backendtest.ParseSecretURL(strings.TrimPrefix(jdbc, "jdbc:"), "the jdbcUrl").Query().Get("sslmode")).To(Equal("verify-full"))

		By("the application logging in with them over TLS, having verified the server")
		uri, _ := creds["uri"].(string)
		app, err := testkit.PostgresTLSLogin(ctx, GinkgoT(), uri, ca.PEM())
		Expect(err).NotTo(HaveOccurred())
		_, err = app.ExecContext(ctx, `CREATE TABLE notes (text text)`)
		Expect(err).NotTo(HaveOccurred())
		var sessions, overTLS int
		Expect(admin.QueryRowContext(ctx, `
SELECT count(*), count(*) FILTER (WHERE s.ssl)
FROM pg_stat_activity a
JOIN pg_stat_ssl s USING (pid)
WHERE a.usename = $1`, creds["username"]).Scan(&sessions, &overTLS)).To(Succeed())
		Expect(sessions).To(BeNumerically(">", 0))
		Expect(overTLS).To(Equal(sessions), "the application's sessions are over TLS")
		Expect(app.Close()).To(Succeed())

		By("an application trusting another CA refusing the server")
		_, err = testkit.PostgresTLSLogin(ctx, GinkgoT(), uri, testkit.NewCA(GinkgoT()).PEM())
		Expect(err).To(HaveOccurred())
		By("a login without TLS being refused by the node")
		plain := backendtest.ParseSecretURL(uri, "the uri")
		plain.RawQuery = "sslmode=disable"
		_, err = testkit.PostgresLogin(ctx, GinkgoT(), plain.String())
		Expect(err).To(HaveOccurred())
	})

	It("fails with a sentence naming the node, without its URL or password, when the node's certificate is not signed by its ca_file", func(ctx SpecContext) {
		suite.ExpectUntrusted(ctx, suite.Open(tlsNode(backendtest.UntrustedCAFile())), "pg-tls", backendtest.ClosedNodePassword)
	})

	It("says so when the node does not speak TLS", func(ctx SpecContext) {
		plainCluster := testkit.StartPostgres(GinkgoT())
		p := suite.Open(backends.Server{Name: "pg-plain", AdminURL: fmt.Sprintf(
			"postgres://postgres@127.0.0.1:%d/postgres?sslmode=verify-full", plainCluster.Port), CAFile: cluster.CAFile})
		Expect(backendtest.Description(p.Ping(ctx, "pg-plain"))).To(Equal("node pg-plain does not speak TLS"))
	})
})
