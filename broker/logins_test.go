package broker_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"code.cloudfoundry.org/lager/v3/lagertest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/broker"
)

// clock is a time the spec moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func guess(i int) string                 { return fmt.Sprintf("guess-%d", i) }
func newLimiter(c *clock) *broker.LoginLimiter {
	return broker.NewLoginLimiter(broker.LoginLimits{Failures: 3, Interval: 10 * time.Second}, c.now)
}

var _ = Describe("Failed logins", func() {
	const addr = "192.0.2.1:40000"

	It("let an address fail Failures times with new credentials, then make it wait one Interval per further try", func() {
		c := newClock()
		l := newLimiter(c)
		Expect(l.Failed(addr, "u", guess(1))).To(BeFalse())
		Expect(l.Failed(addr, "u", guess(2))).To(BeFalse())
		Expect(l.Wait(addr)).To(BeZero())
		Expect(l.Failed(addr, "u", guess(3))).To(BeTrue(), "the third failure takes the last token")
		Expect(l.Wait(addr)).To(Equal(10 * time.Second))

		c.advance(4 * time.Second)
		Expect(l.Wait(addr)).To(Equal(6 * time.Second))
		c.advance(6 * time.Second)
		Expect(l.Wait(addr)).To(BeZero(), "one try again after an Interval")
		Expect(l.Failed(addr, "u", guess(4))).To(BeTrue())
		Expect(l.Wait(addr)).To(Equal(10 * time.Second))
	})

	It("count the same wrong credentials once, so a client with a stale password uses up nothing", func() {
		c := newClock()
		l := newLimiter(c)
		for range 100 {
			Expect(l.Failed(addr, "platform", "stale")).To(BeFalse())
			Expect(l.Failed(addr, "", "")).To(BeFalse(), "nor a client without credentials")
		}
		Expect(l.Wait(addr)).To(BeZero())
		Expect(l.Failed(addr, "platform", guess(1))).To(BeTrue(), "a third new one takes the last token")
	})

	It("keep each address to itself, an IPv6 host by its /64", func() {
		c := newClock()
		l := newLimiter(c)
		for i := range 3 {
			l.Failed(addr, "u", guess(i))
			l.Failed("[2001:db8:1:2::1]:5000", "u", guess(i))
		}
		Expect(l.Wait(addr)).To(BeNumerically(">", 0))
		Expect(l.Wait("192.0.2.2:40000")).To(BeZero())
		Expect(l.Wait("[2001:db8:1:2:ffff::9]:1")).To(BeNumerically(">", 0), "same /64")
		Expect(l.Wait("[2001:db8:1:3::1]:1")).To(BeZero(), "another /64")
		Expect(broker.LoginAddress("[::ffff:192.0.2.1]:1")).To(Equal("192.0.2.1/32"))
	})

	It("forget an address once its bucket is full again", func() {
		c := newClock()
		l := newLimiter(c)
		l.Failed(addr, "u", guess(1))
		Expect(l.Size()).To(Equal(1))
		c.advance(10 * time.Second)
		Expect(l.Wait(addr)).To(BeZero())
		Expect(l.Size()).To(BeZero())
	})

	It("hold at most MaxLoginAddresses addresses, dropping the least throttled first", func() {
		c := newClock()
		l := newLimiter(c)
		for i := range 3 {
			l.Failed("198.51.100.7:1", "u", guess(i))
		}
		for i := range broker.MaxLoginAddresses + 50 {
			l.Failed(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255), "u", "x")
			if i%1000 == 0 {
				c.advance(time.Millisecond)
			}
		}
		Expect(l.Size()).To(Equal(broker.MaxLoginAddresses))
		Expect(l.Wait("198.51.100.7:1")).To(BeNumerically(">", 0), "the throttled address is still held")
	})

	Describe("in the chain", func() {
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
})
