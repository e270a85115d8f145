// Package broker implements the Open Service Broker API v2 on top of the catalog, the state
// store and the backends: it validates requests, records them with their operation in one
// transaction, waits for the operation up to a budget, and runs the queue's workers.
package broker

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// Config is what a Broker is built from.
type Config struct {
	Catalog *catalog.Catalog
	Store   *store.Store
	// Backends maps a catalog backend name to the adapter that serves it.
	Backends map[string]backends.Backend
	Logger   lager.Logger
	// SyncBudget is how long a request without accepts_incomplete=true waits for its
	// operation (default DefaultSyncBudget); it must stay under the platforms' 60 s client
	// timeout (MaxSyncBudget).
	SyncBudget time.Duration
	// WaitPoll is how often a request that waits for its operation re-reads it without a
	// wake-up (default DefaultWaitPoll): the completion wakes it, in process or by NOTIFY, so
	// the poll only covers a lost notification.
	WaitPoll time.Duration
	// MaxAttempts bounds how often an operation runs before it is failed (default
	// DefaultMaxAttempts).
	MaxAttempts int
	// Logins bounds how fast one address may guess the platform's password (LoginLimits).
	Logins LoginLimits
	// Collectors are served at /metrics beside the broker's own metrics: the backends' call
	// latency, the build info, the Go runtime's and the process's.
	Collectors []prometheus.Collector
	// MetricsApart leaves /metrics off the API's port, for a listener of its own that
	// serves MetricsHandler.
	MetricsApart bool
	// Admin is the operator API that Handler serves under AdminPrefix; the zero value refuses it.
	Admin AdminAPI
}

// Broker is omnibroker's domain.ServiceBroker.
type Broker struct {
	catalog     *catalog.Catalog
	store       *store.Store
	backends    map[string]backends.Backend
	logger      lager.Logger
	syncBudget  time.Duration
	waitPoll    time.Duration
	maxAttempts int
	logins      LoginLimits
	admin       AdminAPI
	// metrics are the process's counters; registry serves them with the rest at /metrics,
	// on the API's port unless metricsApart.
	metrics      *metrics
	registry     *prometheus.Registry
	metricsApart bool
	// pool is the worker pool NewPool made last, whose session may hold the gauges lock.
	pool atomic.Pointer[Pool]
	// watches are the store.Watch of the operations requests are queuing, taken before the
	// enqueue commits (queue), which the request's waitFor takes over.
	watches sync.Map // operation id → watch
	// services is the catalog as brokerapi wants it, which it asks for on every provision.
	services []domain.Service
	// catalogs is GET /v2/catalog's answer by minor version of the API.
	catalogs map[int]catalogAnswer
}

var _ domain.ServiceBroker = (*Broker)(nil)

// New returns a Broker; zero durations and counts in cfg take their Default… values.
func New(cfg Config) *Broker {
	b := &Broker{
		catalog:      cfg.Catalog,
		store:        cfg.Store,
		backends:     cfg.Backends,
		logger:       cfg.Logger,
		syncBudget:   orDefault(cfg.SyncBudget, DefaultSyncBudget),
		waitPoll:     orDefault(cfg.WaitPoll, DefaultWaitPoll),
		maxAttempts:  orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		logins:       cfg.Logins,
		admin:        cfg.Admin,
		services:     toDomainServices(cfg.Catalog.Services()),
		catalogs:     catalogAnswers(cfg.Catalog.Services()),
		metrics:      newMetrics(),
		metricsApart: cfg.MetricsApart,
	}
	for name := range cfg.Backends {
		b.metrics.knowBackend(name)
	}
	b.registry = b.newRegistry(cfg.Collectors)
	return b
}

// Services serves GET /v2/catalog.
func (b *Broker) Services(ctx context.Context) ([]domain.Service, error) {
	return b.services, nil
}

// waitFor reads the operation, and again each time the store says it may have finished
// (store.Watch: by NOTIFY when another replica finished it) or waitPoll has passed without a
// wake-up (a lost notification), until it has finished or budget has passed; it returns the
// last state read. A wake-up from a worker of this process carries the outcome, which is
// returned as it is, without reading the operation again; and an operation the request has
// just queued, watched since before (queue), is not read before the first wait. Once budget
// has passed it answers with what it read last rather than read once more, so only a wake-up
// or a poll inside the budget finds a completion: a budget of zero reads it once. It also
// returns the credentials of a bind that a worker of this process finished (nil otherwise).
func (b *Broker) waitFor(ctx context.Context, opID string, budget time.Duration) (store.Operation, json.RawMessage, error) {
	w, fresh := b.watchOf(opID)
	defer w.stop()
	deadline := time.NewTimer(budget)
	defer deadline.Stop()
	poll := time.NewTicker(b.waitPoll)
	defer poll.Stop()
	// What it knows before it reads: the operation, just queued.
	op := store.Operation{ID: opID, State: store.OpQueued}
	read := !fresh || budget <= 0
	for {
		if read {
			var err error
			op, err = b.store.GetOperation(ctx, opID)
			if err != nil || op.State == store.OpSucceeded || op.State == store.OpFailed || budget <= 0 {
				return op, nil, err
			}
		}
		read = true
		select {
		case <-ctx.Done():
			return op, nil, nil
		case <-deadline.C:
			return op, nil, nil
		case known := <-w.woken:
			if known.State != "" { // committed here: its end, without reading it again
				return store.Operation{ID: opID, State: known.State, Description: known.Description}, known.Credentials, nil
			}
		case <-poll.C:
		}
	}
}

// budget is how long a request on plan waits for its operation, an instance's or (binding
// true) a binding's.
func (b *Broker) budget(plan catalog.Plan, binding, asyncAllowed bool) time.Duration {
	switch {
	case plan.AsyncOnlyFor(binding):
		return 0
	case asyncAllowed:
		return plan.Budget(binding)
	default:
		return b.syncBudget
	}
}

// settle waits for the request's own operation up to budget and reports whether it is done.
// Not done is an answer (202 with the operation id) only when the platform accepts
// incomplete operations; otherwise a failure or a timeout becomes the error to answer with.
func (b *Broker) settle(ctx context.Context, logger lager.Logger, opID string, budget time.Duration, asyncAllowed bool) (bool, error) {
	done, _, err := b.settleOutcome(ctx, logger, opID, budget, asyncAllowed)
	return done, err
}

// settleOutcome is settle that also returns the credentials of a bind that a worker of this
// process finished (nil otherwise).
func (b *Broker) settleOutcome(ctx context.Context, logger lager.Logger, opID string, budget time.Duration, asyncAllowed bool) (bool, json.RawMessage, error) {
	op, credentials, err := b.waitFor(ctx, opID, budget)
	if err != nil {
		logger.Error("store-get-operation-failed", err, lager.Data{"operation-id": opID})
		return false, nil, internalError(opID)
	}
	switch {
	case op.State == store.OpSucceeded:
		return true, credentials, nil
	case asyncAllowed:
		return false, nil, nil
	case op.State == store.OpFailed:
		return false, nil, operationFailed(op.Description)
	default:
		return false, nil, stillRunning(opID)
	}
}

// asyncID is the operation id to return: none once the operation is done.
func asyncID(done bool, opID string) string {
	if done {
		return ""
	}
	return opID
}
