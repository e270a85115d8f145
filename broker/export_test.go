package broker

import "time"

// RetryPolicy is the pool's retry policy, for tests that fix its random source and clock.
type RetryPolicy = retryPolicy

// NewRetryPolicy returns a policy whose first backoff is base, drawing from random and reading
// the time from now.
func NewRetryPolicy(base time.Duration, random func(n int64) int64, now func() time.Time) RetryPolicy {
	return retryPolicy{base: base, rand: random, now: now}
}

// Backoff is backoff.
func (r retryPolicy) Backoff(attempt int) time.Duration { return r.backoff(attempt) }

// Jitter is jitter.
func (r retryPolicy) Jitter(d time.Duration) time.Duration { return r.jitter(d) }

// Retry is retry.
func (r retryPolicy) Retry(sentence string, attempt, maxAttempts int) (time.Duration, string) {
	return r.retry(sentence, attempt, maxAttempts)
}

// ConnectionLimitOf is the connection bound LimitConnections sets under a file limit of files.
func ConnectionLimitOf(files uint64) int { return connectionLimit(files) }

// LogID is logID.
func LogID(id string) string { return logID(id) }
