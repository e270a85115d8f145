package mysql_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/mysql"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

var _ = Describe("Errors", func() {
	suite.ItFailsOnUnreachableNodes("mysql-unknown", "mysql-closed", "mysql://")

	When("the node accepts the connection and then never answers", func() {
		It("gives up after the read timeout, for a retry, even without a deadline on the call", func(ctx SpecContext) {
			addr := backendtest.HungNode()
			m := suite.Open(backends.Server{Name: "mysql-hung", AdminURL: "mysql://root:" + backendtest.ClosedNodePassword + "@" + addr + "/?readTimeout=300ms"})

			start := time.Now()
			err := suite.CallsOf(m).Provision(suite.Logged(context.WithoutCancel(ctx)), backends.Instance{ID: "some-id", Node: "mysql-hung"})
			Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(Equal("node mysql-hung dropped the connection or stopped answering"))
			backendtest.ExpectHidden(err.Error(), backendtest.ClosedNodePassword, "the error")
		})

		It("gives up when the call's context ends", func(ctx SpecContext) {
			m := suite.Open(backends.Server{Name: "mysql-hung", AdminURL: "mysql://root@" + backendtest.HungNode() + "/"})

			short, cancel := context.WithTimeout(suite.Logged(ctx), 300*time.Millisecond)
			defer cancel()
			err := m.Ping(short, "mysql-hung")
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(Equal("node mysql-hung did not answer in time"))
		})
	})

	When("the admin login is wrong", func() {
		It("says the node rejected the broker's login, for a retry, without the password", func(ctx SpecContext) {
			m := suite.Open(backends.Server{Name: "mysql-wrong", AdminURL: "mysql://nobody_here:" + backendtest.ClosedNodePassword + "@127.0.0.1:3306/"})
			err := m.Ping(ctx, "mysql-wrong")
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(Equal("node mysql-wrong rejected the broker's login"))
			backendtest.ExpectHidden(err.Error(), backendtest.ClosedNodePassword, "the error")
		})
	})

	When("another call holds the instance's lock", func() {
		It("waits, then fails for a retry once its context ends, and leaves the instance usable", func(ctx SpecContext) {
			inst := provisioned(ctx, nil)
			release := holdLock(ctx, inst)

			short, cancel := context.WithTimeout(suite.Logged(ctx), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := suite.Calls().Update(short, inst, "small")
			Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
			Expect(err).To(HaveOccurred())
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(Equal("node mysql-local did not answer in time"))
			Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())

			release()
			Expect(suite.Calls().Update(suite.Logged(ctx), inst, "small")).To(Succeed())
		})

		It("gives up after its bounded wait, for a retry", func(ctx SpecContext) {
			m := suite.Open(backends.Server{Name: "mysql-local", AdminURL: suite.AdminURL})
			m.SetLockWait(500 * time.Millisecond)
			inst := provisioned(ctx, nil)
			release := holdLock(ctx, inst)

			start := time.Now()
			_, err := suite.CallsOf(m).Bind(suite.Logged(ctx), inst, newBinding())
			Expect(time.Since(start)).To(BeNumerically("~", 500*time.Millisecond, 2*time.Second))
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(Equal("node mysql-local is still busy with another call for this instance"))

			release()
			_, err = suite.CallsOf(m).Bind(suite.Logged(ctx), inst, newBinding())
			Expect(err).NotTo(HaveOccurred())
		})
	})

	DescribeTable("invalid plan settings fail permanently before any connection is made",
		func(ctx SpecContext, limit any) {
			inst := backends.Instance{ID: "some-id", Node: "mysql-closed", Plan: "small", PlanConfig: map[string]any{"max_user_connections": limit}}
			err := suite.Calls().Provision(suite.Logged(ctx), inst)
			Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
			Expect(backendtest.Description(err)).To(Equal("plan small sets max_user_connections to something other than a positive whole number"))
			_, err = suite.Calls().Bind(suite.Logged(ctx), inst, newBinding())
			Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
		},
		Entry("text", "ten"),
		Entry("a fraction", 2.5),
		Entry("zero", 0),
		Entry("a negative number", float64(-1)),
		Entry("more than the server takes", float64(1<<40)),
	)

	DescribeTable("words each cause in plain words, without the server's text",
		func(err error, want string) {
			Expect(mysql.Sentence("db-3", "create database ob_x", err)).To(Equal(want))
		},
		backendtest.TransportFailures("db-3"),
		Entry("bad connection", driver.ErrBadConn, "node db-3 dropped the connection"),
		Entry("invalid connection", gomysql.ErrInvalidConn, "node db-3 dropped the connection or stopped answering"),
		Entry("access denied", serverErr(1045), "node db-3 rejected the broker's login"),
		Entry("access denied without password", serverErr(1698), "node db-3 rejected the broker's login"),
		Entry("host not allowed", serverErr(1130), "node db-3 rejected the broker's login"),
		Entry("account locked", serverErr(4151), "node db-3 rejected the broker's login"),
		Entry("host blocked", serverErr(1129), "node db-3 blocks the broker's host after too many failed connections"),
		Entry("too many connections", serverErr(1040), "node db-3 ran out of connections"),
		Entry("too many of the admin's connections", serverErr(1203), "node db-3 ran out of connections"),
		Entry("disk full", serverErr(1021), "node db-3 ran out of resources (disk, memory or connections)"),
		Entry("table full", serverErr(1114), "node db-3 ran out of resources (disk, memory or connections)"),
		Entry("out of memory", serverErr(1037), "node db-3 ran out of resources (disk, memory or connections)"),
		Entry("no thread", serverErr(1135), "node db-3 ran out of resources (disk, memory or connections)"),
		Entry("shutdown", serverErr(1053), "node db-3 is starting up or shutting down"),
		Entry("connection killed", serverErr(1927), "node db-3 dropped the connection"),
		Entry("query interrupted", serverErr(1317), "node db-3 cancelled the statement to create database ob_x"),
		Entry("statement timeout", serverErr(1969), "node db-3 cancelled the statement to create database ob_x"),
		Entry("no privilege on a database", serverErr(1044), "the broker's admin user on node db-3 lacks a privilege it needs to create database ob_x"),
		Entry("no privilege on a table", serverErr(1142), "the broker's admin user on node db-3 lacks a privilege it needs to create database ob_x"),
		Entry("no global privilege", serverErr(1227), "the broker's admin user on node db-3 lacks a privilege it needs to create database ob_x"),
		Entry("not the thread's owner", serverErr(1095), "the broker's admin user on node db-3 lacks a privilege it needs to create database ob_x"),
		Entry("lock wait timeout", serverErr(1205), "node db-3 could not create database ob_x: another session held a lock it needed"),
		Entry("read-only", serverErr(1290), "node db-3 is read-only, or runs with an option that forbids the statement to create database ob_x"),
		Entry("unknown database", serverErr(1049), "node db-3 could not create database ob_x: a database is missing"),
		Entry("anything else", serverErr(1064), "node db-3 failed to create database ob_x"),
		Entry("a wrapped server error", fmt.Errorf("exec: %w", serverErr(1040)), "node db-3 ran out of connections"),
	)
})

func serverErr(number uint16) error {
	return &gomysql.MySQLError{Number: number, Message: "Access denied for user 'root'@'10.0.0.1' (using password: YES)"}
}

// holdLock takes inst's lock on an admin connection of its own, as another call would, and
// returns a function that releases it; the spec's end releases it too.
func holdLock(ctx context.Context, inst backends.Instance) func() {
	c, err := suite.Admin.Conn(ctx)
	Expect(err).NotTo(HaveOccurred())
	var got int
	Expect(c.QueryRowContext(ctx, `SELECT GET_LOCK(?, 5)`, mysql.LockName(inst)).Scan(&got)).To(Succeed())
	Expect(got).To(Equal(1))
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		_, err := c.ExecContext(context.WithoutCancel(ctx), `DO RELEASE_LOCK(?)`, mysql.LockName(inst))
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Close()).To(Succeed())
	}
	DeferCleanup(release)
	return release
}

var _ = Describe("New", func() {
	DescribeTable("rejects a bad node without quoting its URL",
		func(nodes []backends.Server, want string) {
			m, err := mysql.New(nodes)
			Expect(err).To(HaveOccurred())
			Expect(m).To(BeNil())
			backendtest.ExpectHidden(err.Error(), "s3cret", "the error")
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("an unparsable URL", []backends.Server{{Name: "a", AdminURL: "mysql://u:s3cret@%zz/"}}, `mysql node "a": admin URL is not a mysql:// URL`),
		Entry("another scheme", []backends.Server{{Name: "a", AdminURL: "postgres://u:s3cret@h/"}}, "is not a mysql:// URL"),
		Entry("no user", []backends.Server{{Name: "a", AdminURL: "mysql://h:3306/"}}, "has no user name"),
		Entry("no host", []backends.Server{{Name: "a", AdminURL: "mysql://u:s3cret@/"}}, "has no host name"),
		Entry("a bad port", []backends.Server{{Name: "a", AdminURL: "mysql://u:s3cret@h:99999/"}}, "invalid port"),
		Entry("a database", []backends.Server{{Name: "a", AdminURL: "mysql://u:s3cret@h/mysql"}}, "names a database"),
		Entry("an unknown parameter", []backends.Server{{Name: "a", AdminURL: "mysql://u:s3cret@h/?sslmode=s3cret"}}, `parameter "sslmode"`),
		Entry("a bad timeout", []backends.Server{{Name: "a", AdminURL: "mysql://u:s3cret@h/?readTimeout=s3cret"}}, "readTimeout is not a positive duration"),
		Entry("an unknown TLS setting", []backends.Server{{Name: "a", AdminURL: "mysql://u:s3cret@h/?tls=s3cret"}}, "the driver does not accept the admin URL"),
		Entry("no name", []backends.Server{{AdminURL: "mysql://u:s3cret@h/"}}, "has no name"),
		Entry("a public port out of range", []backends.Server{{Name: "a", AdminURL: "mysql://u:s3cret@h/", Port: 70000}}, "out of range"),
		Entry("a name twice", []backends.Server{
			{Name: "a", AdminURL: "mysql://u:s3cret@h/"},
			{Name: "a", AdminURL: "mysql://u:s3cret@h2/"},
		}, "listed twice"),
	)

	It("hands out the node's public host and port when they are set", func(ctx SpecContext) {
		m := suite.Open(backends.Server{Name: "mysql-local", AdminURL: suite.AdminURL, Host: "db.example.com", Port: 13306})
		inst := newInstance(nil)
		Expect(suite.CallsOf(m).Provision(suite.Logged(ctx), inst)).To(Succeed())
		creds, err := suite.CallsOf(m).Bind(suite.Logged(ctx), inst, newBinding())
		Expect(err).NotTo(HaveOccurred())
		Expect(creds["hostname"]).To(Equal("db.example.com"))
		Expect(creds["port"]).To(Equal(13306))
		Expect(backendtest.ParseSecretURL(creds["uri"], "the uri").Host).To(Equal("db.example.com:13306"))
		jdbc, _ := creds["jdbcUrl"].(string)
		Expect(strings.HasPrefix(jdbc, "jdbc:mysql://db.example.com:13306/")).To(BeTrue(), "the jdbcUrl names db.example.com:13306")
	})

	It("accepts the driver's timeouts and an admin URL without a port", func(ctx SpecContext) {
		m := suite.Open(backends.Server{Name: "mysql-local", AdminURL: "mysql://root@127.0.0.1/?timeout=3s&readTimeout=1m&writeTimeout=10s&tls=false"})
		Expect(m.Ping(ctx, "mysql-local")).To(Succeed())
	})
})

// There is no MariaDB with TLS on to test against (the local one has it off, and the test kit
// starts no private one), so these specs check what the adapter makes of a node over TLS, and
// that the local server, which does not speak TLS, is told apart.
var _ = Describe("A node reached over TLS", func() {
	var ca *testkit.CA
	var caFile string
	BeforeEach(func() {
		ca = testkit.NewCA(GinkgoT())
		caFile = filepath.Join(GinkgoT().TempDir(), "ca.pem")
		ca.WriteFile(GinkgoT(), caFile)
	})
	tlsNode := func(query string) backends.Server {
		return backends.Server{Name: "mysql-tls", CAFile: caFile,
			AdminURL: "mysql://root:" + backendtest.ClosedNodePassword + "@db.example.com:3306/?" + query}
	}

	It("verifies the server's certificate with the node's ca_file and its host name", func() {
		conf, err := mysql.AdminTLS(tlsNode("tls=true"))
		Expect(err).NotTo(HaveOccurred())
		Expect(conf.RootCAs.Equal(ca.Pool())).To(BeTrue(), "the admin trusts the node's CA alone")
		Expect(conf.InsecureSkipVerify).To(BeFalse())
	})

	It("tells applications to use TLS and verify the server, and hands out the node's CA", func() {
		m := suite.Open(tlsNode("tls=true"))
		creds := m.Credentials("mysql-tls", "ob_db", "ob_user", "pw")
		Expect(creds[backends.CertificatesKey]).To(Equal(ca.PEM()))
		uri := backendtest.ParseSecretURL(creds["uri"], "the uri")
		Expect(uri.Query().Get("ssl-mode")).To(Equal("VERIFY_IDENTITY"))
		Expect(uri.Query().Get("reconnect")).To(Equal("true"))
		jdbc, _ := creds["jdbcUrl"].(string)
		Expect(backendtest.ParseSecretURL(strings.TrimPrefix(jdbc, "jdbc:"), "the jdbcUrl").Query().Get("sslMode")).To(Equal("VERIFY_IDENTITY"))
		backendtest.ExpectMountable(creds, "mysql")
	})

	It("tells applications to use TLS when the admin URL insists on it without a CA of the node's own", func() {
		m := suite.Open(backends.Server{Name: "mysql-tls", AdminURL: "mysql://root:pw@db.example.com/?tls=skip-verify"})
		creds := m.Credentials("mysql-tls", "ob_db", "ob_user", "pw")
		Expect(creds).NotTo(HaveKey(backends.CertificatesKey))
		Expect(backendtest.ParseSecretURL(creds["uri"], "the uri").Query().Get("ssl-mode")).To(Equal("VERIFY_IDENTITY"))
	})

	It("leaves TLS out of the credentials of a node reached in plain text", func() {
		creds := suite.Open(backends.Server{Name: "mysql-plain", AdminURL: "mysql://root:pw@db.example.com/"}).
			Credentials("mysql-plain", "ob_db", "ob_user", "pw")
		Expect(creds).NotTo(HaveKey(backends.CertificatesKey))
		Expect(backendtest.ParseSecretURL(creds["uri"], "the uri").RawQuery).To(Equal("reconnect=true"))
	})

	It("says so when the node does not speak TLS", func(ctx SpecContext) {
		local := backendtest.ParseSecretURL(suite.AdminURL, "the admin URL")
		local.RawQuery = "tls=true"
		m := suite.Open(backends.Server{Name: "mysql-tls", AdminURL: local.String(), CAFile: caFile})
		Expect(backendtest.Description(m.Ping(ctx, "mysql-tls"))).To(Equal("node mysql-tls does not speak TLS"))
	})

	DescribeTable("refuses a ca_file it cannot use, naming the node, never the URL",
		func(query string, want string) {
			_, err := mysql.New([]backends.Server{tlsNode(query)})
			Expect(err).To(MatchError(ContainSubstring(want)))
			backendtest.ExpectHidden(err.Error(), backendtest.ClosedNodePassword, "the error")
		},
		Entry("without tls", "", `mysql node "mysql-tls" sets ca_file, but its admin URL does not ask for TLS (tls=true)`),
		Entry("with tls=preferred, which may fall back to plain text", "tls=preferred", "does not ask for TLS (tls=true)"),
		Entry("with tls=skip-verify, which would not use it", "tls=skip-verify", "does not ask for TLS (tls=true)"),
	)
})
