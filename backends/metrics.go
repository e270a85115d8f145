package backends

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// callBuckets are the bounds, in seconds, of a backend call's latency: from a Redis ACL
// command's fraction of a millisecond to a PostgreSQL database that takes a minute to drop.
var callBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// CallMetrics is the latency of the backends' calls, omnibroker_backend_call_duration_seconds,
// by backend (its name in the catalog), node, call (provision, update, deprovision, bind,
// unbind, check_binding, ping) and outcome (ok, transient, permanent, cancelled). It is a
// prometheus.Collector to register once; Middleware times the calls of one backend with it.
// No label carries an instance or binding id.
type CallMetrics struct {
	seconds *prometheus.HistogramVec
}

// NewCallMetrics returns CallMetrics with no calls timed yet.
func NewCallMetrics() *CallMetrics {
	return &CallMetrics{seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "omnibroker_backend_call_duration_seconds",
		Help:    "How long a call of a backend's node took, by backend, node, call and outcome (ok, transient, permanent, cancelled).",
		Buckets: callBuckets,
	}, []string{"backend", "node", "call", "outcome"})}
}

// Describe is prometheus.Collector's.
func (m *CallMetrics) Describe(ch chan<- *prometheus.Desc) { m.seconds.Describe(ch) }

// Collect is prometheus.Collector's.
func (m *CallMetrics) Collect(ch chan<- prometheus.Metric) { m.seconds.Collect(ch) }

// Middleware times each call of the backend named backend, on the node it goes to. The
// broker's ping of every node at each scrape (whether it is reachable) goes through it too,
// so an idle node's latency shows as well. LosesBindings, Owned and Close pass through untimed.
func (m *CallMetrics) Middleware(backend string) Middleware {
	return func(next Backend) Backend { return &timed{backend: backend, seconds: m.seconds, next: next} }
}

type timed struct {
	backend string
	seconds *prometheus.HistogramVec
	next    Backend
}

// observe records one call that began at began and ended with err.
func (t *timed) observe(ctx context.Context, node, call string, began time.Time, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case ctx.Err() != nil:
		outcome = "cancelled"
	case IsPermanent(err):
		outcome = "permanent"
	default:
		outcome = "transient"
	}
	t.seconds.WithLabelValues(t.backend, node, call, outcome).Observe(time.Since(began).Seconds())
}

// timeCall times call, on node, of the backend t wraps.
func timeCall[R any](t *timed, ctx context.Context, node, call string, do func() (R, error)) (R, error) {
	began := time.Now()
	res, err := do()
	t.observe(ctx, node, call, began, err)
	return res, err
}

// timeErr is timeCall for a call that returns only an error.
func timeErr(t *timed, ctx context.Context, node, call string, do func() error) error {
	_, err := timeCall(t, ctx, node, call, func() (struct{}, error) { return struct{}{}, do() })
	return err
}

func (t *timed) Provision(ctx context.Context, req ProvisionRequest) (ProvisionResponse, error) {
	return timeCall(t, ctx, req.Instance.Node, "provision", func() (ProvisionResponse, error) { return t.next.Provision(ctx, req) })
}

func (t *timed) Update(ctx context.Context, req UpdateRequest) (UpdateResponse, error) {
	return timeCall(t, ctx, req.Instance.Node, "update", func() (UpdateResponse, error) { return t.next.Update(ctx, req) })
}

func (t *timed) Deprovision(ctx context.Context, req DeprovisionRequest) error {
	return timeErr(t, ctx, req.Instance.Node, "deprovision", func() error { return t.next.Deprovision(ctx, req) })
}

func (t *timed) Bind(ctx context.Context, req BindRequest) (BindResponse, error) {
	return timeCall(t, ctx, req.Instance.Node, "bind", func() (BindResponse, error) { return t.next.Bind(ctx, req) })
}

func (t *timed) Unbind(ctx context.Context, req UnbindRequest) error {
	return timeErr(t, ctx, req.Instance.Node, "unbind", func() error { return t.next.Unbind(ctx, req) })
}

func (t *timed) LosesBindings() bool { return t.next.LosesBindings() }

func (t *timed) CheckBinding(ctx context.Context, req CheckBindingRequest) (CheckBindingResponse, error) {
	return timeCall(t, ctx, req.Instance.Node, "check_binding", func() (CheckBindingResponse, error) { return t.next.CheckBinding(ctx, req) })
}

func (t *timed) Ping(ctx context.Context, node string) error {
	return timeErr(t, ctx, node, "ping", func() error { return t.next.Ping(ctx, node) })
}

func (t *timed) ListObjects(ctx context.Context, req ListObjectsRequest) (ListObjectsResponse, error) {
	return timeCall(t, ctx, req.Node, "list_objects", func() (ListObjectsResponse, error) { return t.next.ListObjects(ctx, req) })
}

func (t *timed) RemoveObject(ctx context.Context, req RemoveObjectRequest) error {
	return timeErr(t, ctx, req.Node, "remove_object", func() error { return t.next.RemoveObject(ctx, req) })
}

func (t *timed) Owned(req OwnedRequest) OwnedResponse { return t.next.Owned(req) }

func (t *timed) Usage(ctx context.Context, req UsageRequest) (UsageResponse, error) {
	return timeCall(t, ctx, req.Instance.Node, "usage", func() (UsageResponse, error) { return t.next.Usage(ctx, req) })
}

func (t *timed) Close() error { return t.next.Close() }
