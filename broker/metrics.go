package broker

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omnibroker/omnibroker/store"
)

// metricsPath is where the broker's Prometheus metrics are scraped: on the API's port beside
// the probes, without the platform's credentials, unless Config.MetricsApart serves them on
// a listener of their own (MetricsHandler).
const metricsPath = "/metrics"

// Outcomes of an attempt, the outcome label of omnibroker_operation_attempts_total: the
// first two finish the operation (omnibroker_operations_total), retried queues it again after
// a backoff, released hands it back at shutdown, abandoned stops it once its lease or its
// session is lost (the rescuers requeue it).
const (
	outcomeSucceeded = "succeeded"
	outcomeFailed    = "failed"
	outcomeRetried   = "retried"
	outcomeReleased  = "released"
	outcomeAbandoned = "abandoned"
)

// Why a worker lost an operation, the reason label of omnibroker_leases_lost_total: its lease
// could not be renewed, its pool's database session ended, or another worker held the
// operation by the time its outcome was to be recorded.
const (
	lostLease     = "lease"
	lostSession   = "session"
	lostRecording = "recording"
)

// requestBuckets are the bounds, in seconds, of an API answer: a catalog in a fraction of a
// millisecond, a provision that waits for its operation up to the 60 s platforms allow.
var requestBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// operationBuckets are the bounds, in seconds, of an operation from its creation to its end,
// retries included.
var operationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// metrics are the counters and histograms the broker's own process keeps: requests, and the
// operations its workers ran. No label carries an instance or binding id.
type metrics struct {
	requests         *prometheus.CounterVec
	requestSeconds   *prometheus.HistogramVec
	operations       *prometheus.CounterVec
	operationSeconds *prometheus.HistogramVec
	attempts         *prometheus.CounterVec
	retries          *prometheus.CounterVec
	leasesLost       *prometheus.CounterVec
	rescued          *prometheus.CounterVec
}

func newMetrics() *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &metrics{
		requests: counter("omnibroker_http_requests_total",
			"Requests answered, by route pattern, method and status.", "route", "method", "status"),
		requestSeconds: histogram("omnibroker_http_request_duration_seconds",
			"How long the answer of a request took, by route pattern and method.", requestBuckets, "route", "method"),
		operations: counter("omnibroker_operations_total",
			"Operations finished by this process's workers, by kind, backend and outcome (succeeded, failed).", "kind", "backend", "outcome"),
		operationSeconds: histogram("omnibroker_operation_duration_seconds",
			"How long a finished operation took from its creation to its end, retries included, by kind, backend and outcome.", operationBuckets, "kind", "backend", "outcome"),
		attempts: counter("omnibroker_operation_attempts_total",
			"Attempts run by this process's workers, by kind, backend and outcome (succeeded, failed, retried, released, abandoned).", "kind", "backend", "outcome"),
		retries: counter("omnibroker_operation_retries_total",
			"Attempts that failed transiently and queued their operation again after a backoff, by kind and backend.", "kind", "backend"),
		leasesLost: counter("omnibroker_leases_lost_total",
			"Operations this process's workers lost to another worker or the rescuers, by reason (lease, session, recording).", "reason"),
		rescued: counter("omnibroker_operations_rescued_total",
			"Running operations this process's rescuer returned to the queue or gave up on, by reason (orphaned: their session ended; expired: their lease ran out).", "reason"),
	}
	for _, reason := range []string{lostLease, lostSession, lostRecording} {
		m.leasesLost.WithLabelValues(reason)
	}
	for _, reason := range []string{"orphaned", "expired"} {
		m.rescued.WithLabelValues(reason)
	}
	return m
}

// knowBackend starts the operation counters of backend at zero, so that a rate over them is
// defined before its first operation and a dashboard lists every backend.
func (m *metrics) knowBackend(backend string) {
	for _, kind := range store.KnownKinds() {
		k := string(kind)
		for _, outcome := range []string{outcomeSucceeded, outcomeFailed} {
			m.operations.WithLabelValues(k, backend, outcome)
		}
		for _, outcome := range []string{outcomeSucceeded, outcomeFailed, outcomeRetried, outcomeReleased, outcomeAbandoned} {
			m.attempts.WithLabelValues(k, backend, outcome)
		}
		m.retries.WithLabelValues(k, backend)
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.requestSeconds, m.operations, m.operationSeconds, m.attempts, m.retries, m.leasesLost, m.rescued}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// attempted counts one attempt of op on backend ("" when the instance was not found) that
// ended with outcome.
func (m *metrics) attempted(op store.Operation, backend, outcome string) {
	m.attempts.WithLabelValues(string(op.Kind), backend, outcome).Inc()
	if outcome == outcomeRetried {
		m.retries.WithLabelValues(string(op.Kind), backend).Inc()
	}
}

// finished counts op as finished with outcome, its duration from its creation.
func (m *metrics) finished(op store.Operation, backend, outcome string) {
	m.operations.WithLabelValues(string(op.Kind), backend, outcome).Inc()
	m.operationSeconds.WithLabelValues(string(op.Kind), backend, outcome).Observe(time.Since(op.CreatedAt).Seconds())
}

// methods are the methods a request is counted under; any other is "other", so that a
// client cannot make up series.
var methods = map[string]string{
	http.MethodGet: http.MethodGet, http.MethodHead: http.MethodHead, http.MethodPut: http.MethodPut,
	http.MethodPatch: http.MethodPatch, http.MethodDelete: http.MethodDelete, http.MethodPost: http.MethodPost,
}

func methodLabel(method string) string {
	if m, ok := methods[method]; ok {
		return m
	}
	return "other"
}

// countRequests is the chain's metrics stage: the count of each answer by route (the
// pattern, never the path, which holds ids: routeOf, or the probe's path), method and status,
// and its duration.
func countRequests(m *metrics, routes chi.Routes) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			began := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			record := recordOf(r)
			route := record.probe
			if route == "" {
				route = routeOf(r, routes)
				record.route = route
			}
			method := methodLabel(r.Method)
			m.requests.WithLabelValues(route, method, strconv.Itoa(sw.statusCode())).Inc()
			m.requestSeconds.WithLabelValues(route, method).Observe(time.Since(began).Seconds())
		})
	}
}

// MetricsHandler serves the broker's Prometheus metrics: its own, the state's gauges, the
// nodes' reachability and the collectors of Config.Collectors.
func (b *Broker) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(b.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// newRegistry registers the broker's collectors and extra in a registry of their own.
func (b *Broker) newRegistry(extra []prometheus.Collector) *prometheus.Registry {
	registry := prometheus.NewRegistry()
	registry.MustRegister(b.metrics, newStateGauges(b), newReachability(b))
	registry.MustRegister(extra...)
	return registry
}
