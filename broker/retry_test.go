package broker_test

import (
	"math/rand/v2"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/broker"
)

var _ = Describe("The retry policy", func() {
	// lowest and highest are random sources that always draw the smallest and the largest
	// number they may.
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	noon := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return noon }

	DescribeTable("backs off from the base, doubling per attempt up to a minute, 25% either way",
		func(attempt int, low, high time.Duration) {
			Expect(broker.NewRetryPolicy(2*time.Second, lowest, clock).Backoff(attempt)).To(Equal(low))
			Expect(broker.NewRetryPolicy(2*time.Second, highest, clock).Backoff(attempt)).To(Equal(high))
		},
		Entry("before the first attempt", 0, 1500*time.Millisecond, 2500*time.Millisecond),
		Entry("after the first attempt", 1, 1500*time.Millisecond, 2500*time.Millisecond),
		Entry("after the second", 2, 3*time.Second, 5*time.Second),
		Entry("after the fifth", 5, 24*time.Second, 40*time.Second),
		Entry("after the sixth, at the cap of a minute", 6, 45*time.Second, 75*time.Second),
		Entry("long after, still at the cap", 1000, 45*time.Second, 75*time.Second),
	)

	It("caps a base that is itself longer than a minute", func() {
		Expect(broker.NewRetryPolicy(5*time.Minute, lowest, clock).Backoff(1)).To(Equal(45 * time.Second))
	})

	It("jitters by up to 25% either way, drawing from the whole half-width", func() {
		var asked []int64
		recording := func(n int64) int64 { asked = append(asked, n); return n / 2 }
		p := broker.NewRetryPolicy(time.Second, recording, clock)
		Expect(p.Jitter(time.Second)).To(Equal(time.Second))
		Expect(asked).To(Equal([]int64{int64(500*time.Millisecond) + 1}))

		Expect(broker.NewRetryPolicy(time.Second, lowest, clock).Jitter(time.Second)).To(Equal(750 * time.Millisecond))
		Expect(broker.NewRetryPolicy(time.Second, highest, clock).Jitter(time.Second)).To(Equal(1250 * time.Millisecond))
	})

	It("stays inside ±25% with a real random source", func() {
		p := broker.NewRetryPolicy(time.Second, rand.New(rand.NewPCG(1, 2)).Int64N, clock)
		for range 1000 {
			Expect(p.Jitter(time.Minute)).To(And(
				BeNumerically(">=", 45*time.Second), BeNumerically("<=", 75*time.Second)))
		}
	})

	It("never waits for a duration that is not positive, and draws nothing for it", func() {
		never := func(int64) int64 { Fail("drew a random number"); return 0 }
		p := broker.NewRetryPolicy(0, never, clock)
		Expect(p.Jitter(0)).To(BeZero())
		Expect(p.Jitter(-time.Second)).To(BeZero())
		Expect(p.Backoff(3)).To(BeZero())
	})

	It("says in the description when the next attempt begins, in UTC", func() {
		berlin := time.FixedZone("CET", 3600)
		p := broker.NewRetryPolicy(2*time.Second, highest, func() time.Time {
			return time.Date(2026, 12, 1, 12, 59, 58, 0, berlin)
		})
		delay, description := p.Retry("node pg-1 refused the connection", 1, 5)
		Expect(delay).To(Equal(2500 * time.Millisecond))
		Expect(description).To(Equal("node pg-1 refused the connection; attempt 1 of 5 failed, the next begins at 12:00:00 UTC"))

		delay, description = broker.NewRetryPolicy(2*time.Second, lowest, clock).Retry("the backend did not answer in time", 4, 5)
		Expect(delay).To(Equal(12 * time.Second))
		Expect(description).To(Equal("the backend did not answer in time; attempt 4 of 5 failed, the next begins at 12:00:12 UTC"))
	})
})
