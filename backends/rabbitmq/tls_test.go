package rabbitmq_test

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/rabbitmq"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// There is no RabbitMQ with TLS on to test against (the local one serves plain HTTP and AMQP,
// and the test kit starts no private one), so these specs check what the adapter makes of a
// node over TLS: the management API's certificate verified with the node's ca_file (against
// an HTTPS listener of the spec's own, which answers who the admin is and nothing else), the
// credentials, and the local node told apart when it is asked for TLS.
var _ = Describe("A node reached over TLS", func() {
	var (
		ca     *testkit.CA
		caFile string
		api    *httptest.Server
	)
	BeforeEach(func() {
		ca = testkit.NewCA(GinkgoT())
		dir := GinkgoT().TempDir()
		caFile = filepath.Join(dir, "ca.pem")
		ca.WriteFile(GinkgoT(), caFile)
		certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
		ca.Issue(GinkgoT(), certFile, keyFile)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		Expect(err).NotTo(HaveOccurred())
		api = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/whoami" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"name":"admin","tags":["administrator"]}`))
		}))
		api.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the specs make fail
		api.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		api.StartTLS()
		DeferCleanup(api.Close)
	})
	tlsNode := func(caFile string) backends.Server {
		return backends.Server{Name: "rabbitmq-tls", CAFile: caFile,
			AdminURL: strings.Replace(api.URL, "https://", "https://admin:"+backendtest.ClosedNodePassword+"@", 1)}
	}

	It("verifies the management API's certificate with the node's ca_file", func(ctx SpecContext) {
		Expect(suite.Open(tlsNode(caFile)).Ping(ctx, "rabbitmq-tls")).To(Succeed())
	})

	It("fails with a sentence naming the node, without its URL or password, when the certificate is not signed by its ca_file", func(ctx SpecContext) {
		other := filepath.Join(GinkgoT().TempDir(), "other-ca.pem")
		testkit.NewCA(GinkgoT()).WriteFile(GinkgoT(), other)
		err := suite.Open(tlsNode(other)).Ping(ctx, "rabbitmq-tls")
		Expect(backendtest.Description(err)).To(Equal("node rabbitmq-tls presented a TLS certificate the broker does not trust"))
		backendtest.ExpectHidden(err.Error(), backendtest.ClosedNodePassword, "the error")
	})

	It("says so when the management API does not speak TLS", func(ctx SpecContext) {
		local := backendtest.ParseSecretURL(suite.AdminURL, "the admin URL")
		local.Scheme = "https"
		err := suite.Open(backends.Server{Name: "rabbitmq-tls", AdminURL: local.String(), CAFile: caFile}).Ping(ctx, "rabbitmq-tls")
		Expect(backendtest.Description(err)).To(Equal("node rabbitmq-tls does not speak TLS"))
	})

	It("hands out amqps:// and https:// URIs with the node's CA", func() {
		creds, err := rabbitmq.CredentialsOn(tlsNode(caFile), "ob_vhost", "ob_user", "pw", true)
		Expect(err).NotTo(HaveOccurred())
		Expect(creds[backends.CertificatesKey]).To(Equal(ca.PEM()))
		Expect(backendtest.ParseSecretURL(creds["uri"], "the uri").Scheme).To(Equal("amqps"))
		Expect(backendtest.ParseSecretURL(creds["http_api_uri"], "the http_api_uri").Scheme).To(Equal("https"))
		Expect(creds["port"]).To(Equal(5671))
		backendtest.ExpectMountable(creds, "rabbitmq")
	})

	It("refuses a ca_file on a node whose management API is http://", func() {
		_, err := rabbitmq.New([]backends.Server{{Name: "rabbitmq-plain", CAFile: caFile,
			AdminURL: "http://admin:" + backendtest.ClosedNodePassword + "@mq.example.com:15672"}})
		Expect(err).To(MatchError(`rabbitmq node "rabbitmq-plain" sets ca_file, but its admin URL does not ask for TLS (an https:// URL)`))
	})
})
