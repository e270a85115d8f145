package acceptance_test

// The broker's log as an operator reads it: lager JSON lines, one access line per request.

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// logLine is one line of a broker's log, as lager's pretty sink writes it.
type logLine struct {
	Timestamp string         `json:"timestamp"`
	Level     string         `json:"level"`
	Message   string         `json:"message"`
	Data      map[string]any `json:"data"`
}

// brokerLog is every line b has logged, each checked to be a JSON object with an RFC 3339
// timestamp.
func brokerLog(b *broker) []logLine {
	GinkgoHelper()
	var lines []logLine
	for text := range strings.Lines(string(b.session.Out.Contents())) {
		var line logLine
		Expect(json.Unmarshal([]byte(text), &line)).To(Succeed(), "a log line is JSON: %.300s", text)
		_, err := time.Parse(time.RFC3339Nano, line.Timestamp)
		Expect(err).NotTo(HaveOccurred(), "the timestamp of a log line is RFC 3339: %.300s", text)
		lines = append(lines, line)
	}
	return lines
}

// accessLines are b's access lines from the index'th line of its log on.
func accessLines(b *broker, from int) []logLine {
	GinkgoHelper()
	var found []logLine
	for _, line := range brokerLog(b)[from:] {
		if line.Message == "omnibroker.request" {
			found = append(found, line)
		}
	}
	return found
}

// lastAccessLine waits for the access line of the one request sent since b's log had from
// lines, and returns it.
func lastAccessLine(b *broker, from int) logLine {
	GinkgoHelper()
	Eventually(func() []logLine { return accessLines(b, from) }).Should(HaveLen(1), "one access line for one request")
	return accessLines(b, from)[0]
}

var _ = Describe("The broker's log", func() {
	var b *broker
	BeforeEach(func() {
		// Its own broker, so that every line after a request is that request's.
		b = startBroker(newStateDB(), map[string]string{"OMNIBROKER_WORKERS": "0", "OMNIBROKER_SYNC_BUDGET": "1s"})
		// The log reaches the spec a moment after the answer: the start-up check's line first.
		Eventually(func() []logLine { return accessLines(b, 0) }).ShouldNot(BeEmpty())
	})

	It("has one access line per request: method, route, status, duration, request identity and remote address, ids cut, never the path", func() {
		c := b.client()
		requestID := newID()
		c.spoil = func(r *http.Request) { r.Header.Set("X-Broker-API-Request-Identity", requestID) }
		id := newID() + strings.Repeat("x", 164)
		from := len(brokerLog(b))
		expectOSBError(c.getInstance(id), http.StatusNotFound)

		line := lastAccessLine(b, from)
		Expect(line.Level).To(Equal("info"), "an ordinary 404 is no error")
		Expect(line.Data).To(HaveKeyWithValue("method", "GET"))
		Expect(line.Data).To(HaveKeyWithValue("route", "/v2/service_instances/{instance_id}"))
		Expect(line.Data).To(HaveKeyWithValue("status", BeNumerically("==", 404)))
		Expect(line.Data).To(HaveKeyWithValue("request-id", requestID))
		Expect(line.Data).To(HaveKeyWithValue("instance-id", id[:64]+"...(200 bytes)"))
		Expect(line.Data).To(HaveKeyWithValue("remote-address", MatchRegexp(`^127\.0\.0\.1:[0-9]+$`)))
		Expect(line.Data).To(HaveKeyWithValue("duration", WithTransform(func(s string) error {
			_, err := time.ParseDuration(s)
			return err
		}, Succeed())))
		Expect(string(b.session.Out.Contents())).NotTo(ContainSubstring(id), "no line holds the whole id")
		for _, l := range brokerLog(b)[from:] {
			Expect(l.Level).NotTo(Equal("error"), "%s", l.Message)
		}
	})

	DescribeTable("has an access line at info for a request the chain refuses",
		func(spoil func(*osbClient), route string, status int) {
			c := b.client()
			spoil(c)
			from := len(brokerLog(b))
			r := c.provision(newID(), provisionBody(quickPlan, nil), true)
			Expect(r.Status).To(Equal(status), r.String())
			line := lastAccessLine(b, from)
			Expect(line.Level).To(Equal("info"))
			Expect(line.Data).To(HaveKeyWithValue("method", "PUT"))
			Expect(line.Data).To(HaveKeyWithValue("route", route))
			Expect(line.Data).To(HaveKeyWithValue("status", BeNumerically("==", status)))
			Expect(line.Data).To(HaveKeyWithValue("remote-address", HavePrefix("127.0.0.1:")))
		},
		Entry("a wrong password", func(c *osbClient) {
			c.password = "wrong-" + randomBase62(16)
			rememberSecret("a wrong basic-auth password", c.password)
		}, "/v2/service_instances/{instance_id}", http.StatusUnauthorized),
		Entry("an API version it does not speak", func(c *osbClient) { c.version = "2.10" }, "/v2/service_instances/{instance_id}", http.StatusPreconditionFailed),
		Entry("malformed JSON", func(c *osbClient) {
			truncated := `{"service_id":`
			c.spoil = func(r *http.Request) {
				r.Body, r.ContentLength = io.NopCloser(strings.NewReader(truncated)), int64(len(truncated))
			}
		}, "/v2/service_instances/{instance_id}", http.StatusBadRequest),
		Entry("a route the API does not have", func(c *osbClient) {
			c.spoil = func(r *http.Request) { r.URL.Path = "/v2/service_instance/x" }
		}, "unmatched", http.StatusNotFound),
	)

	It("logs a failed login with its remote address and never the password tried", func() {
		c := b.client()
		c.password = "tried-" + randomBase62(16)
		rememberSecret("a tried basic-auth password", c.password)
		from := len(brokerLog(b))
		expectOSBErrorCode(c.catalog(), http.StatusUnauthorized, "Unauthorized")
		Eventually(func() []logLine { return brokerLog(b)[from:] }).Should(ContainElement(And(
			HaveField("Message", "omnibroker.login-failed"),
			HaveField("Level", "info"),
			HaveField("Data", HaveKeyWithValue("remote-address", HavePrefix("127.0.0.1:"))),
		)))
		Expect(secretLeaks()).To(BeEmpty())
	})

	It("logs a 5xx at error", func() {
		c := b.client()
		from := len(brokerLog(b))
		By("provisioning without accepts_incomplete on a broker without workers, whose sync budget runs out")
		r := c.provision(newID(), provisionBody(quickPlan, nil), false)
		Expect(r.Status).To(Equal(http.StatusInternalServerError), r.String())
		line := lastAccessLine(b, from)
		Expect(line.Level).To(Equal("error"))
		Expect(line.Data).To(HaveKeyWithValue("status", BeNumerically("==", 500)))
		Expect(line.Data).To(HaveKeyWithValue("route", "/v2/service_instances/{instance_id}"))
	})
})
