package broker_test

import (
	"fmt"
	"time"

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

// addr is the address whose failed logins the specs count.
const addr = "192.0.2.1:40000"

var _ = Describe("Failed logins", func() {
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
})
