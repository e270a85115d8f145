package broker

import (
	"context"
	"sync"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/omnibroker/omnibroker/store"
)

// The pool's recovery. Every operation its workers claim is tied to the pool's database
// session (a store.Session), so the rescuer of any replica requeues it within seconds of the
// session's end: a process that died is noticed by PostgreSQL, not by a lease running out.
// The pool checks its own session every RescueInterval; once it is lost, the workers stop the
// backend calls of the operations they claimed through it, since those are the rescuers' now,
// and the pool opens another.

// tieGrace is how many rescue intervals an operation whose session ended waits before it
// runs again. A live worker whose connection broke finds out at its next check, within an
// interval (a session that ends makes the check fail at once), and stops its backend call;
// the rest is the call's time to stop, so that it never runs twice at once.
const tieGrace = 3

// checkTimeouts is how many rescue intervals a check of the pool's session may take before
// the session counts as lost. A check that does not answer says the server is slow or out of
// reach, not that the session ended (while it holds the tie, no rescuer can take it over), so
// it may take longer than the interval: a loaded server does not stop every backend call.
const checkTimeouts = 5

// tie holds the pool's current session and the channel closed when it is lost.
type tie struct {
	mu      sync.Mutex
	session *store.Session
	lost    chan struct{}
}

// current is the session to claim through and the channel closed when it is lost; a nil
// session while there is none (the state database is out of reach).
func (t *tie) current() (*store.Session, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.session, t.lost
}

func (t *tie) set(se *store.Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.session, t.lost = se, make(chan struct{})
}

// drop closes the current session, if any, and tells the operations tied to it.
func (t *tie) drop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.session != nil {
		t.session.Close()
		close(t.lost)
		t.session = nil
	}
}

// keepSession keeps the pool's session until ctx ends, and then closes it: it opens one,
// checks it every RescueInterval, and opens another once it is lost. ctx must outlive the
// workers' operations: closing the session hands them to the rescuers.
func (p *Pool) keepSession(ctx context.Context, logger lager.Logger) {
	defer p.tie.drop()
	timeout := checkTimeouts * p.cfg.RescueInterval
	unreachable := false
	for {
		if se, _ := p.tie.current(); se == nil {
			openCtx, cancel := context.WithTimeout(ctx, timeout)
			se, err := p.b.store.OpenSession(openCtx)
			cancel()
			switch {
			case err == nil:
				p.tie.set(se)
				unreachable = false
				logger.Info("session-opened")
				p.signal()
			case ctx.Err() != nil:
				return
			case !unreachable:
				// Once per outage: it is tried again every interval until it opens.
				unreachable = true
				logger.Error("session-open-failed", err)
			}
		} else {
			checkCtx, cancel := context.WithTimeout(ctx, timeout)
			err := se.Check(checkCtx)
			cancel()
			if err != nil && ctx.Err() == nil {
				logger.Error("session-lost", err)
				p.tie.drop()
				continue
			}
		}
		if !p.pause(ctx, p.cfg.RescueInterval) {
			return
		}
	}
}

// rescue returns to the queue, at start and then every RescueInterval, the running
// operations whose worker is gone: those tied to a session that has ended, after
// orphanDelay, and those whose lease expired (claimed without a session, or by a worker too
// slow to renew it), after their backoff.
func (p *Pool) rescue(ctx context.Context, logger lager.Logger) {
	for {
		orphaned, err := p.b.store.RescueOrphaned(ctx, p.orphanDelay)
		if err != nil && ctx.Err() == nil {
			logger.Error("rescue-failed", err)
		}
		expired, err := p.b.store.RescueExpired(ctx, p.retry.backoff)
		if err != nil && ctx.Err() == nil {
			logger.Error("rescue-failed", err)
		}
		p.b.metrics.rescued.WithLabelValues("orphaned").Add(float64(orphaned))
		p.b.metrics.rescued.WithLabelValues("expired").Add(float64(expired))
		if orphaned+expired > 0 {
			logger.Info("rescued", lager.Data{"orphaned": orphaned, "expired": expired})
			p.signal()
			// The orphans' earliest time to run again; a poll finds those that wait longer.
			time.AfterFunc(tieGrace*p.cfg.RescueInterval, p.signal)
		}
		if !p.pause(ctx, p.cfg.RescueInterval) {
			return
		}
	}
}

// orphanDelay is how long an operation whose session ended waits before attempt+1: its
// backoff, as after a lease that expired, and at least the grace a live worker whose
// connection broke needs to stop its backend call.
func (p *Pool) orphanDelay(attempt int) time.Duration {
	return max(tieGrace*p.cfg.RescueInterval, p.retry.backoff(attempt))
}

// pause waits d, jittered so that replicas spread out, and reports false if ctx ends first.
func (p *Pool) pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(p.retry.jitter(d)):
		return true
	}
}
