package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"code.cloudfoundry.org/lager/v3"
)

const (
	// healthPath answers 200 while the process serves: a liveness probe.
	healthPath = "/healthz"
	// readyPath answers 200 while the state database answers with a schema this binary can
	// use, else 503: a readiness probe.
	readyPath = "/readyz"
	// readyTimeout bounds the readiness check, so that a state database that does not answer
	// gives a 503 before a probe's timeout (Kubernetes' default is 1 s; the manifest sets 3 s).
	readyTimeout = 2 * time.Second
)

// healthAnswer is the JSON body of both probes.
type healthAnswer struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// probes answers healthPath and readyPath, GET or HEAD, before the platform's credentials are
// asked for and before any other check, since probes send neither credentials nor an API
// version; so does scrape, metricsPath, unless it is nil (the metrics have a listener of their
// own). Every other path goes on down the chain. ready says why the broker is not ready, in
// a sentence that names no host and no URL; the log says it once each time readiness changes.
func probes(logger lager.Logger, ready func(context.Context) error, scrape http.Handler) func(http.Handler) http.Handler {
	var failing atomic.Bool
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scraped := scrape != nil && r.URL.Path == metricsPath
			if r.URL.Path != healthPath && r.URL.Path != readyPath && !scraped {
				next.ServeHTTP(w, r)
				return
			}
			noteProbe(r, r.URL.Path)
			w.Header().Set("Cache-Control", "no-store")
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the probes and /metrics answer GET and HEAD")
				return
			}
			if scraped {
				scrape.ServeHTTP(w, r)
				return
			}
			if r.URL.Path == healthPath {
				writeJSON(w, http.StatusOK, healthAnswer{Status: "ok"})
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				if !failing.Swap(true) {
					logger.Error("not-ready", err)
				}
				writeJSON(w, http.StatusServiceUnavailable, healthAnswer{Status: "unavailable", Reason: reasonOf(err)})
				return
			}
			if failing.Swap(false) {
				logger.Info("ready-again")
			}
			writeJSON(w, http.StatusOK, healthAnswer{Status: "ready"})
		})
	}
}

// notReadyError is why the broker is not ready: reason is for the probe's answer, cause (which
// may name the database's host) for the log alone.
type notReadyError struct {
	reason string
	cause  error
}

func (e *notReadyError) Error() string {
	if e.cause == nil {
		return e.reason
	}
	return e.reason + ": " + e.cause.Error()
}

func (e *notReadyError) Unwrap() error { return e.cause }

func reasonOf(err error) string {
	var nr *notReadyError
	if errors.As(err, &nr) {
		return nr.reason
	}
	return "the broker is not ready"
}

// ready is nil when the state database answers and its schema is migrated at least as far as
// this binary's newest migration (a newer one serves it too: migrations only add).
func (b *Broker) ready(ctx context.Context) error {
	if err := b.store.DB().PingContext(ctx); err != nil {
		return &notReadyError{reason: "the state database does not answer", cause: err}
	}
	current, latest, err := b.store.SchemaVersion(ctx)
	if err != nil {
		return &notReadyError{reason: "the state database's schema version cannot be read; run omnibroker migrate", cause: err}
	}
	if current < latest {
		return &notReadyError{reason: fmt.Sprintf("the state database's schema is at migration %d and this binary needs %d; run omnibroker migrate", current, latest)}
	}
	return nil
}
