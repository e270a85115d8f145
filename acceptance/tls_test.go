package acceptance_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

var _ = Describe("Serving HTTPS", func() {
	var (
		ca                *testkit.CA
		certFile, keyFile string
		first             *big.Int
		b                 *broker
		addr              string
	)
	BeforeEach(func() {
		dir := GinkgoT().TempDir()
		certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		ca = testkit.NewCA(GinkgoT())
		first = ca.Issue(GinkgoT(), certFile, keyFile)
		rememberKey(keyFile)
		b = startBrokerTrusted(newStateDB(), map[string]string{"OMNIBROKER_TLS_CERT": certFile, "OMNIBROKER_TLS_KEY": keyFile}, ca.Pool())
		addr = strings.TrimPrefix(b.url, "https://")
	})

	It("serves the API over TLS 1.2 or newer with the certificate in the files, and refuses plain HTTP and TLS 1.1", func() {
		By("answering a client that trusts the certificate's CA")
		Expect(b.client().catalog().Status).To(Equal(http.StatusOK))
		state := handshake(addr, &tls.Config{RootCAs: ca.Pool()})
		Expect(state.PeerCertificates[0].SerialNumber).To(Equal(first))
		Expect(state.Version).To(BeNumerically(">=", tls.VersionTLS12))
		Expect(state.NegotiatedProtocol).To(BeElementOf("", "http/1.1"))
		Expect(handshake(addr, &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12}).Version).To(Equal(uint16(tls.VersionTLS12)))

		By("refusing a handshake of TLS 1.1")
		_, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		Expect(err).To(HaveOccurred())

		By("serving nothing over plain HTTP")
		// Go's server answers a plain HTTP request on a TLS port at once, and closes.
		plain := &http.Client{Timeout: b.client().http.Timeout}
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/catalog", nil)
		Expect(err).NotTo(HaveOccurred())
		req.SetBasicAuth(brokerUsername, brokerPassword)
		req.Header.Set("X-Broker-API-Version", "2.15")
		if resp, err := plain.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
			Expect(string(body)).NotTo(ContainSubstring("services"))
		}
	})

	It("presents a new certificate written over the files at the next handshake, and keeps the old one while the new pair does not load", func() {
		trust := &tls.Config{RootCAs: ca.Pool()}
		By("rotating the pair in place, without a restart")
		second := ca.Issue(GinkgoT(), certFile, keyFile)
		rememberKey(keyFile)
		Expect(handshake(addr, trust).PeerCertificates[0].SerialNumber).To(Equal(second))
		Expect(b.client().catalog().Status).To(Equal(http.StatusOK))

		By("keeping the second while the certificate file holds a third whose key has not arrived")
		nextKey := filepath.Join(filepath.Dir(keyFile), "next.key")
		third := ca.Issue(GinkgoT(), certFile, nextKey)
		rememberKey(nextKey)
		Expect(handshake(addr, trust).PeerCertificates[0].SerialNumber).To(Equal(second))
		Expect(b.client().catalog().Status).To(Equal(http.StatusOK))
		Eventually(b.session.Out).Should(gbytes.Say(`"level":"error".*tls-certificate-not-reloaded`))

		By("presenting the third once its key is there")
		key, err := os.ReadFile(nextKey)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(keyFile, key, 0o600)).To(Succeed())
		Expect(handshake(addr, trust).PeerCertificates[0].SerialNumber).To(Equal(third))
		Expect(b.client().catalog().Status).To(Equal(http.StatusOK))
		Expect(string(b.session.Out.Contents())).To(ContainSubstring("tls-certificate-reloaded"))
	})
})

// handshake makes a TLS connection to addr with config and returns what it negotiated.
func handshake(addr string, config *tls.Config) tls.ConnectionState {
	GinkgoHelper()
	conn, err := tls.Dial("tcp", addr, config)
	Expect(err).NotTo(HaveOccurred())
	defer conn.Close()
	return conn.ConnectionState()
}

// rememberKey makes each line of the PEM private key in path a secret no broker may print.
func rememberKey(path string) {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") && line != "" {
			rememberSecret("a line of a TLS private key", line)
		}
	}
}

// tlsNodesCatalog writes the test catalog with pg-local and redis-local verifying their
// servers with caFile, and returns its path.
func tlsNodesCatalog(caFile string) string {
	GinkgoHelper()
	yaml := catalogYAML
	for _, env := range []string{"OMNIBROKER_POSTGRES_URL", "OMNIBROKER_REDIS_URL"} {
		yaml = strings.Replace(yaml, "url_env: "+env+"\n", "url_env: "+env+"\n        ca_file: "+caFile+"\n", 1)
	}
	return writeCatalog(yaml)
}

// tlsNodes are a private PostgreSQL cluster and a private redis-server that take TLS
// connections only, with certificates their CA signed.
type tlsNodes struct {
	ca       *testkit.CA
	postgres *testkit.PostgresCluster
	redis    *testkit.RedisServer
}

func startTLSNodes() tlsNodes {
	GinkgoHelper()
	ca := testkit.NewCA(GinkgoT())
	return tlsNodes{ca: ca, postgres: testkit.StartPostgresTLS(GinkgoT(), ca), redis: testkit.StartRedisTLS(GinkgoT(), ca, testkit.SecuredRedisArgs()...)}
}

// startBroker serves the test catalog with pg-local and redis-local on the nodes, verified with
// the CA in caFile; the admin URLs ask for TLS and name no CA of their own.
func (n tlsNodes) startBroker(caFile string) *broker {
	GinkgoHelper()
	return startBroker(newStateDB(), map[string]string{
		"OMNIBROKER_CONFIG":       tlsNodesCatalog(caFile),
		"OMNIBROKER_POSTGRES_URL": fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=verify-full", n.postgres.Port),
		"OMNIBROKER_REDIS_URL":    n.redis.Server().URL(),
		"OMNIBROKER_MAX_ATTEMPTS": "2",
		"OMNIBROKER_RETRY_BASE":   "100ms",
	})
}

var _ = Describe("Nodes that take TLS connections only", func() {
	It("get instances and bindings over TLS, and the applications credentials that say TLS and carry the nodes' CA, with which they verify the nodes", func(ctx SpecContext) {
		nodes := startTLSNodes()
		b := nodes.startBroker(nodes.postgres.CAFile)
		Eventually(b.session).Should(gbytes.Say(`node-ready.*"node":"pg-local"`))
		c := b.client()

		By("provisioning and binding a PostgreSQL database: its uri asks for verify-full")
		db, app := newID(), newID()
		c.provisionReady(db, quickPlan, nil)
		creds := c.bindReady(db, app, quickPlan, newID())
		Expect(creds.str("certificates")).To(Equal(nodes.ca.PEM()))
		Expect(parseURLWithSecret(creds.str("uri"), "the uri").Query().Get("sslmode")).To(Equal("verify-full"))
		pg, err := testkit.PostgresTLSLogin(ctx, GinkgoT(), creds.str("uri"), creds.str("certificates"))
		Expect(err).NotTo(HaveOccurred())
		_, err = pg.ExecContext(ctx, `CREATE TABLE notes (text text)`)
		Expect(err).NotTo(HaveOccurred())
		Expect(pg.Close()).To(Succeed())

		By("provisioning and binding a Redis key prefix: its uri is rediss://")
		cache, cacheApp := newID(), newID()
		c.provisionReady(cache, redisPlan, nil)
		rc := c.bindReady(cache, cacheApp, redisPlan, newID())
		Expect(rc.str("certificates")).To(Equal(nodes.ca.PEM()))
		Expect(parseURLWithSecret(rc.str("uri"), "the uri").Scheme).To(Equal("rediss"))
		client, err := testkit.RedisTLSLogin(ctx, GinkgoT(), rc.str("uri"), rc.str("certificates"))
		Expect(err).NotTo(HaveOccurred())
		Expect(client.Set(ctx, rc.str("key_prefix")+"greeting", "hello", 0).Err()).To(Succeed())
		Expect(client.Close()).To(Succeed())

		By("GET binding answering the same certificates")
		r := c.getBinding(db, app)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		Expect(credentialsOf(r).str("certificates")).To(Equal(nodes.ca.PEM()))

		By("unbinding and deprovisioning over TLS")
		c.unbindGone(db, app, quickPlan)
		c.deprovisionGone(db, quickPlan)
		c.unbindGone(cache, cacheApp, redisPlan)
		c.deprovisionGone(cache, redisPlan)
	})

	It("fail an operation, after its retries, with a sentence naming the node when its certificate is not signed by the node's ca_file", func() {
		nodes := startTLSNodes()
		other := filepath.Join(GinkgoT().TempDir(), "other-ca.pem")
		testkit.NewCA(GinkgoT()).WriteFile(GinkgoT(), other)
		b := nodes.startBroker(other)
		Eventually(b.session).Should(gbytes.Say(`node-unreachable.*node pg-local presented a TLS certificate the broker does not trust`))
		c := b.client()

		id := newID()
		r := c.provision(id, provisionBody(quickPlan, nil), true)
		Expect(r.Status).To(BeElementOf(http.StatusAccepted, http.StatusCreated), r.String())
		last := c.awaitInstance(id, quickPlan, operationOf(r))
		Expect(last.str("state")).To(Equal("failed"))
		Expect(last.str("description")).To(ContainSubstring("node pg-local presented a TLS certificate the broker does not trust"))
		Expect(last.str("description")).NotTo(ContainSubstring("postgres://"))
	})
})
