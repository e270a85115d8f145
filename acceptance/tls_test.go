package acceptance_test

import (
	"crypto/tls"
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
