package broker

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// maxBackoff caps the backoff before its jitter.
const maxBackoff = time.Minute

// retryPolicy says when work happens again: the backoff before a failed operation's next
// attempt, and the jitter that spreads out the polls and sweeps of many workers and replicas.
// Its random source and clock are fields, so that a test can fix them.
type retryPolicy struct {
	base time.Duration       // the first backoff; it doubles per attempt, up to maxBackoff
	rand func(n int64) int64 // a uniform random number in [0, n)
	now  func() time.Time
}

// newRetryPolicy is the policy of a pool whose first backoff is base.
func newRetryPolicy(base time.Duration) retryPolicy {
	return retryPolicy{base: base, rand: rand.Int64N, now: time.Now}
}

// backoff is the delay before attempt+1: base doubled per attempt, at most maxBackoff, with
// ±25% jitter so retries of many operations spread out.
func (r retryPolicy) backoff(attempt int) time.Duration {
	d := r.base
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return r.jitter(min(d, maxBackoff))
}

// jitter is d moved by up to 25% either way, uniformly; zero for a d that is not positive.
func (r retryPolicy) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*3/4 + time.Duration(r.rand(int64(d/2)+1))
}

// retry is the delay before the next attempt after attempt (of maxAttempts) failed with
// sentence, and the description last_operation shows until then, which says when it begins.
func (r retryPolicy) retry(sentence string, attempt, maxAttempts int) (time.Duration, string) {
	delay := r.backoff(attempt)
	next := r.now().Add(delay).UTC().Format("15:04:05 MST")
	return delay, fmt.Sprintf("%s; attempt %d of %d failed, the next begins at %s", sentence, attempt, maxAttempts, next)
}
