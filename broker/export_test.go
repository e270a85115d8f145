package broker

import (
	"context"
	"net/http"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/go-chi/chi/v5"
)

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

// OSBTime is osbTime.
func OSBTime(t time.Time) string { return osbTime(&t) }

// ConnectionLimitOf is the connection bound LimitConnections sets under a file limit of files.
func ConnectionLimitOf(files uint64) int { return connectionLimit(files) }

// LogID is logID.
func LogID(id string) string { return logID(id) }

// LoginLimiter is the failed-login table, for tests that drive its clock.
type LoginLimiter = loginLimiter

// NewLoginLimiter returns a table with limits that reads the time from now.
func NewLoginLimiter(limits LoginLimits, now func() time.Time) *LoginLimiter {
	return newLoginLimiter(limits, now)
}

// Failed is failed, for the address remoteAddr.
func (l *loginLimiter) Failed(remoteAddr, user, password string) bool {
	return l.failed(loginAddress(remoteAddr), user, password)
}

// Wait is wait, for the address remoteAddr.
func (l *loginLimiter) Wait(remoteAddr string) time.Duration { return l.wait(loginAddress(remoteAddr)) }

// Size is size.
func (l *loginLimiter) Size() int { return l.size() }

// LoginAddress is the address loginLimiter counts remoteAddr's failures by.
func LoginAddress(remoteAddr string) string { return loginAddress(remoteAddr).String() }

// ChainFor is the chain with logins in front of handler, as Handler builds it, for the
// credentials broker:pw and broker:next-pw, handler serving every route under /v2.
func ChainFor(handler http.Handler, logger lager.Logger, logins *LoginLimiter) http.Handler {
	return ChainWithAdmin(handler, AdminAPI{}, logger, logins)
}

// ChainWithAdmin is ChainFor with admin served under AdminPrefix.
func ChainWithAdmin(handler http.Handler, admin AdminAPI, logger lager.Logger, logins *LoginLimiter) http.Handler {
	r := chi.NewRouter()
	r.Use(chain(logger, []Credential{{"broker", "pw"}, {"broker", "next-pw"}}, admin, logins, func(context.Context) error { return nil }, r, newMetrics(), nil)...)
	r.Handle("/v2/*", handler)
	return r
}

// RefusalsAtInfo is refusalsAtInfo.
func RefusalsAtInfo(logger lager.Logger) lager.Logger { return refusalsAtInfo(logger) }
