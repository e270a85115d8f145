package mysql_test

import (
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/mysql"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

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
