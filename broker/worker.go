package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"
	"github.com/google/uuid"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/store"
)

// PoolConfig tunes the workers; zero durations take the Default… values of this package.
type PoolConfig struct {
	// Workers is how many operations run at once; 0 runs none.
	Workers int
	// Lease is how long a claimed operation stays with its worker without a heartbeat; the
	// heartbeat renews it every sixth of it.
	Lease            time.Duration
	PollInterval     time.Duration // how often idle workers look for work; NOTIFY wakes them sooner
	OperationTimeout time.Duration // one attempt's limit
	RetryBase        time.Duration // the first backoff; it doubles per attempt, up to a minute
	// RescueInterval is how often the pool checks that its database session, to which the
	// operations it runs are tied, still holds them, and how often its rescuer looks for the
	// operations of sessions that have ended (a process that died) and of leases that expired.
	// An operation whose session ended runs again tieGrace intervals later at the earliest.
	// Replicas should share it.
	RescueInterval time.Duration
	// RestoreInterval is how often the pool checks, on the nodes of backends that can forget
	// what Bind made (Backend.LosesBindings), that the logins of live bindings are still there,
	// and queues a restore of those that are not. 0 disables it.
	RestoreInterval time.Duration
	// ExpiryInterval is how often the pool queues an expire operation for each bound binding
	// whose lifetime (a plan's binding_lifetime) has run out, which removes its login.
	ExpiryInterval time.Duration
}

// Pool runs queued operations against the backends: claim, tied to its database session
// (see session.go), run under a lease it keeps renewing, record the outcome fenced on the
// lease, retry transient failures with jittered exponential backoff.
type Pool struct {
	b     *Broker
	cfg   PoolConfig
	retry retryPolicy
	owner string
	wake  chan struct{}
	tie   tie
	// workers are the pool's workers, which a request may reserve (handoff.go).
	workers []*worker
}

// NewPool returns a worker pool for b; Run starts it.
func (b *Broker) NewPool(cfg PoolConfig) *Pool {
	cfg.Workers = max(cfg.Workers, 0)
	cfg.Lease = orDefault(cfg.Lease, DefaultLease)
	cfg.PollInterval = orDefault(cfg.PollInterval, DefaultPollInterval)
	cfg.OperationTimeout = orDefault(cfg.OperationTimeout, DefaultOperationTimeout)
	cfg.RetryBase = orDefault(cfg.RetryBase, DefaultRetryBase)
	cfg.ExpiryInterval = orDefault(cfg.ExpiryInterval, DefaultExpiryInterval)
	cfg.RescueInterval = orDefault(cfg.RescueInterval, DefaultRescueInterval)
	p := &Pool{b: b, cfg: cfg, retry: newRetryPolicy(cfg.RetryBase), owner: uuid.NewString(), wake: make(chan struct{}, 1)}
	for i := range cfg.Workers {
		// Each worker holds leases under its own name, so fencing tells them apart.
		p.workers = append(p.workers, &worker{owner: fmt.Sprintf("%s/%d", p.owner, i), handed: make(chan handedOp, 1)})
	}
	b.pool.Store(p)
	return p
}

// Run works until fetchCtx ends, then lets running operations finish until workCtx ends,
// when their backend calls are cancelled and the operations released to the queue for
// another replica. It returns when every worker has stopped and its session is closed.
func (p *Pool) Run(fetchCtx, workCtx context.Context) {
	logger := p.b.logger.Session("workers", lager.Data{"owner": p.owner, "workers": p.cfg.Workers})
	// The session outlives the workers: closing it hands what they still run to the rescuers.
	sessionCtx, closeSession := context.WithCancel(context.WithoutCancel(fetchCtx))
	sessionDone := make(chan struct{})
	if p.cfg.Workers > 0 {
		go func() {
			defer close(sessionDone)
			p.keepSession(sessionCtx, logger.Session("session"))
		}()
	} else {
		close(sessionDone)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := p.b.store.Listen(fetchCtx, p.wake); err != nil && fetchCtx.Err() == nil {
			logger.Error("listen-failed", err)
		}
	})
	wg.Go(func() { p.rescue(fetchCtx, logger) })
	wg.Go(func() { p.expire(fetchCtx, logger.Session("expiry")) })
	if p.cfg.RestoreInterval > 0 {
		wg.Go(func() { p.restore(fetchCtx, logger.Session("restore")) })
	}
	for i, w := range p.workers {
		wg.Go(func() { p.work(fetchCtx, workCtx, w, logger.Session("worker", lager.Data{"worker": i})) })
	}
	// The kinds it claims: during a rolling deploy an older replica's list is shorter.
	logger.Info("started", lager.Data{"kinds": store.KnownKinds()})
	wg.Wait()
	closeSession()
	<-sessionDone
	logger.Info("stopped")
}

func (p *Pool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Pool) work(fetchCtx, workCtx context.Context, w *worker, logger lager.Logger) {
	for fetchCtx.Err() == nil {
		// Without a session (the state database is out of reach) there is nothing to claim with.
		if session, lost := p.tie.current(); session != nil {
			// A claim that commits is run or released: shutdown must not cancel it half-way.
			claimCtx, cancel := context.WithTimeout(context.WithoutCancel(fetchCtx), 10*time.Second)
			op, inst, err := session.ClaimWithInstance(claimCtx, w.owner, p.cfg.Lease)
			cancel()
			if err == nil {
				// Another idle worker may find more work waiting behind this one.
				p.signal()
				p.run(workCtx, op, known{instance: inst, claimed: inst != nil}, lost)
				continue
			}
			if !errors.Is(err, store.ErrNothingToClaim) && !errors.Is(err, store.ErrSessionLost) && fetchCtx.Err() == nil {
				logger.Error("claim-failed", err)
			}
		}
		if h := w.waitIdle(fetchCtx, p.wake, p.retry.jitter(p.cfg.PollInterval)); h.op.ID != "" {
			p.run(workCtx, h.op, h.known, h.lost)
		}
	}
}

// run runs op, claimed through the session that lost is closed for; rows are what is known of
// the rows it acts on.
func (p *Pool) run(workCtx context.Context, op store.Operation, rows known, lost <-chan struct{}) {
	logger := p.b.logger.Session("operation", logIDs(lager.Data{
		"operation-id": op.ID, "kind": op.Kind, "attempt": op.Attempt,
		"instance-id": op.InstanceID, "binding-id": op.BindingID,
	}))
	started := time.Now()
	logger.Info("claimed")
	defer p.b.store.RunsHere(op.ID)()

	opCtx, cancel := context.WithTimeout(workCtx, p.cfg.OperationTimeout)
	defer cancel()
	// The heartbeat renews the lease. A worker that has not renewed it for half its length
	// stops its backend call, well before the lease expires and another worker may take the
	// operation over; so does a worker whose session is lost, before the rescuers' grace ends.
	var leaseLost, sessionLost bool
	heartbeatDone := make(chan struct{})
	go func() {
		defer close(heartbeatDone)
		every := p.cfg.Lease / 6
		tick := time.NewTicker(every)
		defer tick.Stop()
		renewed := started
		for {
			select {
			case <-opCtx.Done():
				return
			case <-lost:
				logger.Error("session-lost", store.ErrSessionLost)
				sessionLost = true
				cancel()
				return
			case <-tick.C:
			}
			attempt := time.Now()
			renewCtx, cancelRenew := context.WithTimeout(opCtx, every)
			err := p.b.store.RenewLease(renewCtx, op, p.cfg.Lease)
			cancelRenew()
			switch {
			case err == nil:
				renewed = attempt
			case opCtx.Err() != nil:
				return
			case errors.Is(err, store.ErrLeaseLost) || time.Since(renewed) >= p.cfg.Lease/2:
				logger.Error("lease-lost", err)
				leaseLost = true
				cancel()
				return
			default:
				logger.Error("lease-renew-failed", err)
			}
		}
	}()

	var backend string // the instance's, once execute has read it
	credentials, err := p.execute(lagerctx.NewContext(opCtx, logger), op, rows, &backend)
	cancel()
	<-heartbeatDone

	data := lager.Data{"duration": time.Since(started).String()}
	switch {
	case leaseLost || sessionLost:
		// Another worker may be running it already, or will: the rescuers requeued it.
		reason := lostLease
		if sessionLost {
			reason = lostSession
		}
		p.b.metrics.leasesLost.WithLabelValues(reason).Inc()
		p.b.metrics.attempted(op, backend, outcomeAbandoned)
		logger.Info("abandoned", data)
		return
	case err == nil:
		p.ended(op, backend, outcomeSucceeded, p.record(workCtx, logger, store.OpSucceeded, func(ctx context.Context) error {
			return p.b.store.Succeed(ctx, op, credentials)
		}))
		logger.Info("succeeded", data)
		return
	case workCtx.Err() != nil:
		p.ended(op, backend, outcomeReleased, p.record(workCtx, logger, store.OpQueued, func(ctx context.Context) error { return p.b.store.Release(ctx, op) }))
		logger.Info("released", data)
		return
	}

	sentence := sentenceFor(err, op)
	logger.Error("backend-failed", err, data)
	if backends.IsPermanent(err) || op.Attempt >= op.MaxAttempts {
		p.ended(op, backend, outcomeFailed, p.record(workCtx, logger, store.OpFailed, func(ctx context.Context) error { return p.b.store.Fail(ctx, op, sentence) }))
		return
	}
	delay, description := p.retry.retry(sentence, op.Attempt, op.MaxAttempts)
	p.ended(op, backend, outcomeRetried, p.record(workCtx, logger, store.OpQueued, func(ctx context.Context) error {
		return p.b.store.Retry(ctx, op, delay, description)
	}))
}

// ended counts an attempt of op on backend that ended with outcome, and op as finished when
// the outcome finishes it; an outcome that was not recorded leaves op to the rescuers, as an
// abandoned attempt.
func (p *Pool) ended(op store.Operation, backend, outcome string, recorded bool) {
	if !recorded {
		p.b.metrics.attempted(op, backend, outcomeAbandoned)
		return
	}
	p.b.metrics.attempted(op, backend, outcome)
	if outcome == outcomeSucceeded || outcome == outcomeFailed {
		p.b.metrics.finished(op, backend, outcome)
	}
}

// sentenceFor is what last_operation shows for err: the backend's own sentence when it
// wrote one for people, never driver text.
func sentenceFor(err error, op store.Operation) string {
	if sentence, ok := backends.SentenceOf(err); ok {
		return sentence
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the backend did not answer in time"
	}
	return fmt.Sprintf("the backend call failed; the broker's operator can find operation %s in its log", op.ID)
}
