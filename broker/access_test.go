package broker_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagertest"
	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"

	"github.com/omnibroker/omnibroker/broker"
)

// accessLinesOf are the access lines of the requests with identity requestID in the suite's log.
func accessLinesOf(requestID string) []lager.LogFormat {
	var found []lager.LogFormat
	for _, l := range logger.Logs() {
		if l.Message == "broker-test.request" && l.Data["request-id"] == requestID {
			found = append(found, l)
		}
	}
	return found
}

var _ = Describe("The access line", func() {
	It("names the route and not the path, the status, the ids cut, the request identity, duration and remote address, at info for a 404", func() {
		requestID := uuid.NewString()
		id := uuid.NewString() + strings.Repeat("x", 100)
		Expect(call("GET", "/v2/service_instances/"+id, nil, func(r *http.Request) {
			r.Header.Set("X-Broker-API-Request-Identity", requestID)
		}).status).To(Equal(404))
		lines := accessLinesOf(requestID)
		Expect(lines).To(HaveLen(1))
		Expect(lines[0].LogLevel).To(Equal(lager.INFO))
		Expect(lines[0].Data).To(HaveKeyWithValue("route", "/v2/service_instances/{instance_id}"))
		Expect(lines[0].Data).To(HaveKeyWithValue("method", "GET"))
		Expect(lines[0].Data).To(HaveKeyWithValue("status", BeNumerically("==", 404)))
		Expect(lines[0].Data).To(HaveKeyWithValue("instance-id", broker.LogID(id)))
		Expect(lines[0].Data).To(HaveKeyWithValue("remote-address", HavePrefix("127.0.0.1:")))
		Expect(lines[0].Data).To(HaveKey("duration"))
		Expect(string(logger.Buffer().Contents())).NotTo(ContainSubstring(id))
	})

	It("leaves out the path's ids when the chain refuses the request's body or query", func() {
		for _, send := range []func(id string, spoil func(*http.Request)) response{
			func(id string, spoil func(*http.Request)) response {
				return call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", `{"service_id":`, spoil)
			},
			func(id string, spoil func(*http.Request)) response {
				return call("GET", "/v2/service_instances/"+id+"/last_operation?operation=a&operation=b", nil, spoil)
			},
		} {
			requestID, id := uuid.NewString(), uuid.NewString()
			Expect(send(id, func(r *http.Request) { r.Header.Set("X-Broker-API-Request-Identity", requestID) }).status).To(Equal(400))
			lines := accessLinesOf(requestID)
			Expect(lines).To(HaveLen(1))
			Expect(lines[0].Data).To(HaveKeyWithValue("status", BeNumerically("==", 400)))
			Expect(lines[0].Data).NotTo(HaveKey("instance-id"))
			Expect(string(logger.Buffer().Contents())).NotTo(ContainSubstring(id))
		}
	})

	It("leaves brokerapi's line of a refusal at info: an unbind of a binding that does not exist is no error", func() {
		id := uuid.NewString()
		before := len(logger.Logs())
		Expect(call("DELETE", "/v2/service_instances/"+id+"/service_bindings/"+uuid.NewString()+"?service_id="+serviceID+"&plan_id="+quickPlan, nil).status).To(Equal(410))
		for _, l := range logger.Logs()[before:] {
			Expect(l.LogLevel).NotTo(Equal(lager.ERROR), l.Message)
		}
	})
})

var _ = Describe("The chain's log", func() {
	var (
		logger *lagertest.TestLogger
		status int
	)
	serve := func(user, password string) *httptest.ResponseRecorder {
		GinkgoHelper()
		logger = lagertest.NewTestLogger("chain")
		handler := broker.ChainFor(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if status == 0 {
				panic("route-broke")
			}
			w.WriteHeader(status)
		}), logger, broker.NewLoginLimiter(broker.LoginLimits{}, time.Now))
		r := httptest.NewRequest(http.MethodGet, "/v2/catalog", nil)
		r.Header.Set("X-Broker-API-Version", "2.17")
		r.SetBasicAuth(user, password)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w
	}
	levelOf := func(message string) []lager.LogLevel {
		var levels []lager.LogLevel
		for _, l := range logger.Logs() {
			if l.Message == message {
				levels = append(levels, l.LogLevel)
			}
		}
		return levels
	}

	DescribeTable("logs each answer once, a 5xx at error and anything else at info",
		func(written, answered int, want lager.LogLevel) {
			status = written
			Expect(serve("broker", "pw").Code).To(Equal(answered))
			Expect(levelOf("chain.request")).To(Equal([]lager.LogLevel{want}))
		},
		Entry("200", 200, 200, lager.INFO),
		Entry("404", 404, 404, lager.INFO),
		Entry("422", 422, 422, lager.INFO),
		Entry("500", 500, 500, lager.ERROR),
		Entry("503", 503, 503, lager.ERROR),
		Entry("a panic, answered 500", 0, 500, lager.ERROR),
	)

	It("logs a probe's answer at debug level, named for its path", func() {
		logger := lagertest.NewTestLogger("chain")
		handler := broker.ChainFor(http.NotFoundHandler(), logger, broker.NewLoginLimiter(broker.LoginLimits{}, time.Now))
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		Expect(w.Code).To(Equal(http.StatusOK))
		Expect(logger.Logs()).To(ConsistOf(And(
			HaveField("Message", "chain.request"),
			HaveField("LogLevel", lager.DEBUG),
			HaveField("Data", HaveKeyWithValue("route", "/readyz")),
		)))
	})

	It("accepts each of the platform's credentials, and logs a failed login with its remote address and not what it sent", func() {
		status = http.StatusTeapot
		Expect(serve("broker", "pw").Code).To(Equal(http.StatusTeapot))
		Expect(serve("broker", "next-pw").Code).To(Equal(http.StatusTeapot), "the next credential")
		for _, creds := range [][2]string{{"broker", "nope-pw"}, {"next-pw", "pw"}, {"broker", ""}, {"", "next-pw"}} {
			Expect(serve(creds[0], creds[1]).Code).To(Equal(http.StatusUnauthorized))
			failed := logger.Logs()[0]
			Expect(failed.Message).To(Equal("chain.login-failed"))
			Expect(failed.Data).To(Equal(lager.Data{"remote-address": "192.0.2.1:1234", "reason": "wrong-login", "realm": "omnibroker"}))
			Expect(levelOf("chain.request")).To(Equal([]lager.LogLevel{lager.INFO}))
			Expect(string(logger.Buffer().Contents())).NotTo(ContainSubstring("nope-pw"))
		}
	})
})

var _ = DescribeTable("brokerapi's error lines",
	func(action string, err error, want lager.LogLevel) {
		logger := lagertest.NewTestLogger("api")
		broker.RefusalsAtInfo(logger).Session("provision").Error(action, err, lager.Data{"instance-id": "i"})
		Expect(logger.Logs()).To(HaveLen(1))
		Expect(logger.Logs()[0].LogLevel).To(Equal(want))
		Expect(logger.Logs()[0].Data).To(HaveKeyWithValue("instance-id", "i"))
	},
	Entry("a 404 FailureResponse is logged at info", "instance-missing", apiresponses.ErrInstanceDoesNotExist, lager.INFO),
	Entry("a 410 FailureResponse is logged at info", "binding-missing", apiresponses.ErrBindingDoesNotExist, lager.INFO),
	Entry("a missing plan_id is logged at info", "plan-id-missing", errors.New("plan_id missing"), lager.INFO),
	Entry("a 500 FailureResponse stays at error", "internal", apiresponses.NewFailureResponse(errors.New("internal error"), 500, "internal"), lager.ERROR),
	Entry("an unknown error stays at error", "unknown-error", errors.New("boom"), lager.ERROR),
)
