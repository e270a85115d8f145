package broker_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"time"

	"code.cloudfoundry.org/lager/v3/lagertest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/broker"
)

var _ = Describe("Error answers of the chain's routes", func() {
	var logger *lagertest.TestLogger

	serve := func(route http.HandlerFunc) (*httptest.ResponseRecorder, map[string]any) {
		GinkgoHelper()
		logger = lagertest.NewTestLogger("bodies")
		handler := broker.ChainFor(route, logger, broker.NewLoginLimiter(broker.LoginLimits{}, time.Now))
		r := httptest.NewRequest(http.MethodGet, "/v2/catalog", nil)
		r.Header.Set("X-Broker-API-Version", "2.17")
		r.SetBasicAuth("broker", "pw")
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		var body map[string]any
		Expect(json.Unmarshal(w.Body.Bytes(), &body)).To(Succeed(), "an OSB JSON body: %s", w.Body.String())
		Expect(w.Header().Get("Content-Type")).To(Equal("application/json"))
		return w, body
	}

	It("are written again as an OSB body when a route writes plain text, without what it wrote", func() {
		w, body := serve(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "raw-value-x", http.StatusBadRequest) })
		Expect(w.Code).To(Equal(400))
		Expect(body["description"]).To(ContainSubstring("Bad Request"))
		Expect(w.Body.String()).NotTo(ContainSubstring("raw-value-x"))
	})

	It("get the PreconditionFailed key on a 412 that has none, as brokerapi's below OSB 2.14", func() {
		w, body := serve(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusPreconditionFailed)
			_, _ = w.Write([]byte(`{"description":"get instance endpoint only supported starting with OSB version 2.14"}`))
		})
		Expect(w.Code).To(Equal(412))
		Expect(body).To(Equal(map[string]any{"error": "PreconditionFailed", "description": "get instance endpoint only supported starting with OSB version 2.14"}))
	})

	It("keep an OSB body, and a 2xx, as they were written", func() {
		w, body := serve(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGone)
			_, _ = w.Write([]byte(`{}`))
		})
		Expect(w.Code).To(Equal(410))
		Expect(body).To(BeEmpty())
		w, body = serve(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"services":[]}`))
		})
		Expect(w.Code).To(Equal(200))
		Expect(body).To(HaveKey("services"))
	})

	It("answer a route that panics with a 500 naming a reference, which the log has with the stack", func() {
		w, body := serve(func(http.ResponseWriter, *http.Request) { panic("route-broke") })
		Expect(w.Code).To(Equal(500))
		Expect(body["description"]).To(MatchRegexp(`^internal error, reference [0-9a-f-]{36};`))
		Expect(body["description"]).NotTo(ContainSubstring("route-broke"))
		Expect(logger.LogMessages()).To(ConsistOf("bodies.request-panicked", "bodies.request"))
		Expect(string(logger.Buffer().Contents())).To(ContainSubstring("route-broke"))
	})
})

var _ = Describe("Failed logins in the chain", func() {
	var (
		c       *clock
		handler http.Handler
		logger  *lagertest.TestLogger
	)
	BeforeEach(func() {
		c = newClock()
		logger = lagertest.NewTestLogger("logins")
		handler = broker.ChainFor(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusTeapot)
		}), logger, newLimiter(c))
	})
	send := func(from, user, password string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/v2/catalog", nil)
		r.RemoteAddr = from
		r.Header.Set("X-Broker-API-Version", "2.17")
		r.SetBasicAuth(user, password)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w
	}

	It("answers 429 with Retry-After and an OSB body to a throttled address, whatever its credentials, and serves it again after Retry-After", func() {
		for i := range 3 {
			Expect(send(addr, "broker", guess(i)).Code).To(Equal(401))
		}
		Expect(logger.LogMessages()).To(ContainElement("logins.logins-throttled"))
		for _, password := range []string{guess(9), "pw"} {
			w := send(addr, "broker", password)
			Expect(w.Code).To(Equal(429))
			Expect(w.Header().Get("Retry-After")).To(Equal("10"))
			var body map[string]any
			Expect(json.Unmarshal(w.Body.Bytes(), &body)).To(Succeed())
			Expect(body).To(HaveKeyWithValue("error", "TooManyRequests"))
			Expect(body["description"]).NotTo(BeEmpty())
		}
		Expect(send("192.0.2.99:1", "broker", "pw").Code).To(Equal(http.StatusTeapot), "another address is served")
		c.advance(2500 * time.Millisecond)
		Expect(send(addr, "broker", "pw").Header().Get("Retry-After")).To(Equal("8"), "whole seconds, rounded up")
		c.advance(7500 * time.Millisecond)
		Expect(send(addr, "broker", "pw").Code).To(Equal(http.StatusTeapot), "the right password works at the first token")
		Expect(send(addr, "broker", "pw").Code).To(Equal(http.StatusTeapot), "and takes none")
	})

	It("keeps serving the platform behind an address whose other client keeps sending a stale password", func() {
		for range 50 {
			Expect(send(addr, "broker", "stale").Code).To(Equal(401))
			Expect(send(addr, "broker", "pw").Code).To(Equal(http.StatusTeapot))
		}
	})
})
