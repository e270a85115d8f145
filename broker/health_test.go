package broker_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"code.cloudfoundry.org/lager/v3/lagertest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// probe sends method path to the broker at base as a platform's probe does: no credentials,
// no API version.
func probe(base, method, path string) (int, map[string]any) {
	GinkgoHelper()
	req, err := http.NewRequest(method, base+path, nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"))
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	var body map[string]any
	Expect(json.Unmarshal(data, &body)).To(Succeed(), "body %s", data)
	return resp.StatusCode, body
}

// events are the messages of log other than the access lines.
func events(log *lagertest.TestLogger) []string {
	var found []string
	for _, m := range log.LogMessages() {
		if !strings.HasSuffix(m, ".request") {
			found = append(found, m)
		}
	}
	return found
}

var _ = Describe("Probes", func() {
	It("answers /healthz and /readyz 200 without credentials or an API version", func() {
		status, body := probe(server.URL, http.MethodGet, "/healthz")
		Expect(status).To(Equal(http.StatusOK))
		Expect(body).To(Equal(map[string]any{"status": "ok"}))
		status, body = probe(server.URL, http.MethodGet, "/readyz")
		Expect(status).To(Equal(http.StatusOK))
		Expect(body).To(Equal(map[string]any{"status": "ready"}))
	})

	It("answers with wrong credentials too, and 405 for a method other than GET and HEAD", func() {
		r := call(http.MethodGet, "/readyz", nil, func(req *http.Request) { req.SetBasicAuth("broker", "wrong") })
		Expect(r.status).To(Equal(http.StatusOK))
		status, body := probe(server.URL, http.MethodPost, "/healthz")
		Expect(status).To(Equal(http.StatusMethodNotAllowed))
		Expect(body).To(HaveKeyWithValue("error", "MethodNotAllowed"))
	})

	It("keeps every other path behind the credentials", func() {
		status, _ := probe(server.URL, http.MethodGet, "/v2/catalog")
		Expect(status).To(Equal(http.StatusUnauthorized))
		status, _ = probe(server.URL, http.MethodGet, "/readyz/")
		Expect(status).To(Equal(http.StatusUnauthorized))
	})

	When("the state database is behind this binary or does not answer", func() {
		It("answers /readyz 503 with a reason that names no host, while /healthz stays 200, and the log says it once", func(ctx SpecContext) {
			state := testkit.NewDatabase(GinkgoT(), adminURL, "omnibroker_broker_probes")
			own := openStore(GinkgoT(), state.URL)
			cat, err := catalog.Parse([]byte(testCatalog))
			Expect(err).NotTo(HaveOccurred())
			log := lagertest.NewTestLogger("probes")
			b := broker.New(broker.Config{Catalog: cat, Store: own, Logger: log})
			srv := httptest.NewServer(broker.Handler(b, log, broker.Credential{Username: "broker", Password: "s3cret-broker-pw"}))
			DeferCleanup(srv.Close)

			By("taking the newest migration off goose's version table")
			var newest int64
			Expect(own.DB().GetContext(ctx, &newest, "SELECT max(version_id) FROM goose_db_version")).To(Succeed())
			Expect(own.DB().ExecContext(ctx, "DELETE FROM goose_db_version WHERE version_id = $1", newest)).Error().NotTo(HaveOccurred())
			for range 2 {
				status, body := probe(srv.URL, http.MethodGet, "/readyz")
				Expect(status).To(Equal(http.StatusServiceUnavailable))
				Expect(body).To(Equal(map[string]any{"status": "unavailable", "reason": fmt.Sprintf(
					"the state database's schema is at migration %d and this binary needs %d; run omnibroker migrate", newest-1, newest)}))
			}
			Expect(events(log)).To(Equal([]string{"probes.not-ready"}))
			status, _ := probe(srv.URL, http.MethodGet, "/healthz")
			Expect(status).To(Equal(http.StatusOK))

			By("putting it back")
			Expect(own.DB().ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)", newest)).Error().NotTo(HaveOccurred())
			status, _ = probe(srv.URL, http.MethodGet, "/readyz")
			Expect(status).To(Equal(http.StatusOK))
			Expect(events(log)).To(Equal([]string{"probes.not-ready", "probes.ready-again"}))

			By("closing the broker's connections to the state database")
			Expect(own.Close()).To(Succeed())
			status, body := probe(srv.URL, http.MethodGet, "/readyz")
			Expect(status).To(Equal(http.StatusServiceUnavailable))
			Expect(body).To(Equal(map[string]any{"status": "unavailable", "reason": "the state database does not answer"}))
			status, _ = probe(srv.URL, http.MethodGet, "/healthz")
			Expect(status).To(Equal(http.StatusOK))
		})
	})
})
