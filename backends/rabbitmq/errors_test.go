package rabbitmq_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/rabbitmq"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// fakeNode returns a backend whose node rabbitmq-fake is a management API that answers every
// request with handler, its admin URL carrying backendtest.ClosedNodePassword.
func fakeNode(handler http.HandlerFunc) *rabbitmq.RabbitMQ {
	srv := httptest.NewServer(handler)
	DeferCleanup(srv.Close)
	return suite.Open(backends.Server{Name: "rabbitmq-fake", AdminURL: "http://admin:" + backendtest.ClosedNodePassword + "@" + srv.Listener.Addr().String()})
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// expectClean checks that err, and what was logged, show neither the admin password nor a URL.
func expectClean(err error) {
	GinkgoHelper()
	backendtest.ExpectHidden(err.Error(), backendtest.ClosedNodePassword, "the error")
	Expect(strings.Contains(err.Error(), "admin:")).To(BeFalse(), "the error shows the admin URL's login")
	Expect(backendtest.Description(err)).NotTo(ContainSubstring("http"))
	backendtest.ExpectHidden(string(suite.Logger.Buffer().Contents()), backendtest.ClosedNodePassword, "the log")
}

var _ = Describe("Errors", func() {
	suite.ItFailsOnUnreachableNodes("rabbitmq-unknown", "rabbitmq-closed", "guest:")

	DescribeTable("words the management API's error statuses for a person, as errors to retry",
		func(ctx SpecContext, status int, body, sentence string) {
			r := fakeNode(answer(status, body))
			inst := backends.Instance{ID: "some-id", Node: "rabbitmq-fake"}
			err := suite.CallsOf(r).Provision(suite.Logged(ctx), inst)
			Expect(err).To(HaveOccurred())
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(Equal(strings.ReplaceAll(sentence, "VHOST", vhostName(inst))))
			expectClean(err)
		},
		Entry("a wrong login", http.StatusUnauthorized, `{"error":"not_authorized","reason":"Login failed"}`,
			"node rabbitmq-fake rejected the broker's login"),
		Entry("an admin user without the administrator tag", http.StatusUnauthorized, `{"error":"not_authorised","reason":"Not administrator user"}`,
			"the broker's admin user on node rabbitmq-fake lacks the administrator tag"),
		Entry("an admin user without access to the vhost", http.StatusUnauthorized, `{"error":"not_authorised","reason":"User not authorised to access virtual host"}`,
			"the broker's admin user on node rabbitmq-fake lacks a permission it needs to look up vhost VHOST"),
		Entry("a refused request", http.StatusForbidden, `{"error":"access_refused","reason":"Forbidden"}`,
			"the broker's admin user on node rabbitmq-fake lacks a permission it needs to look up vhost VHOST"),
		Entry("a node that is starting or stopping", http.StatusServiceUnavailable, `{"error":"service_unavailable"}`,
			"node rabbitmq-fake is starting up, shutting down or not serving its management API"),
		Entry("an internal error", http.StatusInternalServerError, `{"error":"internal_server_error","reason":"{badmatch,...}"}`,
			"node rabbitmq-fake failed to look up vhost VHOST (an internal error of the node)"),
		Entry("a proxy that cannot reach the node", http.StatusBadGateway, `<html>Bad Gateway</html>`,
			"node rabbitmq-fake could not be reached through the proxy in front of it"),
		Entry("a proxy whose node is too slow", http.StatusGatewayTimeout, ``,
			"node rabbitmq-fake did not answer in time"),
		Entry("a bad request", http.StatusBadRequest, `{"error":"bad_request","reason":"whatever"}`,
			"node rabbitmq-fake failed to look up vhost VHOST"),
		Entry("an answer that is not JSON", http.StatusOK, `<html>not the management API</html>`,
			"node rabbitmq-fake failed to look up vhost VHOST"),
	)

	It("says when the admin user lacks the administrator tag at start-up", func(ctx SpecContext) {
		r := fakeNode(answer(http.StatusOK, `{"name":"monitor","tags":["management","monitoring"]}`))
		err := r.Ping(ctx, "rabbitmq-fake")
		Expect(err).To(HaveOccurred())
		Expect(backendtest.Description(err)).To(Equal("the broker's admin user on node rabbitmq-fake lacks the administrator tag"))
	})

	When("the caller's context ends while the node does not answer", func() {
		hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

		It("gives up at the deadline and fails for a retry", func(ctx SpecContext) {
			r := fakeNode(hang)
			short, cancel := context.WithTimeout(suite.Logged(ctx), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := suite.CallsOf(r).Provision(short, backends.Instance{ID: "some-id", Node: "rabbitmq-fake"})
			Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(Equal("node rabbitmq-fake did not answer in time"))
			Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())
			expectClean(err)
		})

		It("stops when cancelled", func(ctx SpecContext) {
			r := fakeNode(hang)
			cancelled, cancel := context.WithCancel(suite.Logged(ctx))
			time.AfterFunc(100*time.Millisecond, cancel)
			_, err := suite.CallsOf(r).Bind(cancelled, backends.Instance{ID: "some-id", Node: "rabbitmq-fake"}, backends.Binding{ID: "b", Password: "p"})
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(Equal("the call to node rabbitmq-fake was cancelled"))
		})
	})
})

var _ = Describe("New", func() {
	DescribeTable("rejects a bad node without quoting its URL",
		func(nodes []backends.Server) {
			r, err := rabbitmq.New(nodes)
			Expect(err).To(HaveOccurred())
			Expect(r).To(BeNil())
			backendtest.ExpectHidden(err.Error(), "s3cret", "the error")
		},
		Entry("an unparsable URL", []backends.Server{{Name: "a", AdminURL: "http://u:s3cret@%zz/x"}}),
		Entry("another scheme", []backends.Server{{Name: "a", AdminURL: "amqp://u:s3cret@h:5672/x"}}),
		Entry("no password", []backends.Server{{Name: "a", AdminURL: "http://s3cret@h:15672"}}),
		Entry("no host", []backends.Server{{Name: "a", AdminURL: "http:///u:s3cret"}}),
		Entry("no name", []backends.Server{{AdminURL: "http://u:s3cret@h:15672"}}),
		Entry("a port out of range", []backends.Server{{Name: "a", AdminURL: "http://u:s3cret@h:15672", Port: 70000}}),
		Entry("a name twice", []backends.Server{
			{Name: "a", AdminURL: "http://u:s3cret@h:15672"},
			{Name: "a", AdminURL: "http://u:s3cret@g:15672"},
		}),
	)

	It("hands out the node's public host and port when they are set, and the management API's own address", func(ctx SpecContext) {
		r := suite.Open(backends.Server{Name: "rabbitmq-local", AdminURL: suite.AdminURL + "/api/", Host: "mq.example.com", Port: 5673})
		Expect(r.Ping(ctx, "rabbitmq-local")).To(Succeed())
		inst := newInstance()
		inst.PlanConfig = map[string]any{"management_api": true}
		Expect(suite.CallsOf(r).Provision(suite.Logged(ctx), inst)).To(Succeed())
		creds, err := suite.CallsOf(r).Bind(suite.Logged(ctx), inst, newBinding())
		Expect(err).NotTo(HaveOccurred())
		Expect(creds["hostname"]).To(Equal("mq.example.com"))
		Expect(creds["host"]).To(Equal("mq.example.com"))
		Expect(creds["port"]).To(Equal(5673))
		Expect(backendtest.ParseSecretURL(creds["uri"], "the uri").Host).To(Equal("mq.example.com:5673"))
		api := backendtest.ParseSecretURL(creds["http_api_uri"], "the http_api_uri")
		Expect(api.Host).To(Equal("127.0.0.1:15672"))
		Expect(api.Path).To(Equal("/api/"))
	})

	DescribeTable("hands out amqps:// and port 5671 when the management API is served over https, unless the node names a port",
		func(server backends.Server, scheme string, port int) {
			password := "Bx7kQ2mZ9pR4tW1vY6nC3hJ8sD5fG0aL"
			server.Name = "mq"
			creds, err := rabbitmq.CredentialsOn(server, "ob_vhost", "ob_user", password, true)
			Expect(err).NotTo(HaveOccurred())
			Expect(creds["hostname"]).To(Equal("mq.example.com"))
			Expect(creds["port"]).To(Equal(port))
			uri := backendtest.ParseSecretURL(creds["uri"], "the uri")
			Expect(uri.Scheme).To(Equal(scheme))
			Expect(uri.Host).To(Equal(net.JoinHostPort("mq.example.com", strconv.Itoa(port))))
			Expect(uri.Path).To(Equal("/ob_vhost"))
			Expect(uri.User.Username()).To(Equal("ob_user"))
			uriPassword, _ := uri.User.Password()
			Expect(uriPassword == password).To(BeTrue(), "the uri carries the binding's password")
			api := backendtest.ParseSecretURL(creds["http_api_uri"], "the http_api_uri")
			adminScheme, _, _ := strings.Cut(server.AdminURL, "://")
			Expect(api.Scheme).To(Equal(adminScheme))
			Expect(api.Host).To(Equal("mq.example.com:15672"))
			Expect(api.Path).To(Equal("/api/"))
		},
		Entry("http: amqp on 5672", backends.Server{AdminURL: "http://admin:s3cret@mq.example.com:15672"}, "amqp", 5672),
		Entry("https: amqps on 5671", backends.Server{AdminURL: "https://admin:s3cret@mq.example.com:15672"}, "amqps", 5671),
		Entry("https with a port of the node's own", backends.Server{AdminURL: "https://admin:s3cret@mq.example.com:15672", Port: 5681}, "amqps", 5681),
		Entry("http with a port of the node's own", backends.Server{AdminURL: "http://admin:s3cret@mq.example.com:15672", Port: 5673}, "amqp", 5673),
	)
})

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
		suite.ExpectUntrusted(ctx, suite.Open(tlsNode(backendtest.UntrustedCAFile())), "rabbitmq-tls", backendtest.ClosedNodePassword)
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
