package broker

import (
	"context"
	"errors"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/omnibroker/omnibroker/store"
)

// How the worker writes an operation's outcome: each try within recordTry, and between tries
// a backoff from recordBackoff, doubled up to recordBackoffMax.
const (
	recordTry        = 10 * time.Second
	recordBackoff    = 100 * time.Millisecond
	recordBackoffMax = 2 * time.Second
)

// record writes the outcome of an operation (the state it records: succeeded, failed, or
// queued again) with write, the one fenced transaction that records it. The outcome is
// recorded even while shutting down, each try on a context of its own. A try that the state
// database fails transiently (a broken connection, a database restarting, a deadlock that
// outlasted the store's own retries) is made again, with backoff, for as long as the lease
// may still hold: one lease from now, since the heartbeat has renewed it within the last
// one. So an outcome is not lost to one transient error, to be found again only by running
// the work once more after the lease. It stops on success; on a lost lease (fencing: the
// operation is another worker's now); on an error a new try cannot cure; once the lease is
// over, when the rescuer returns the operation to the queue; and, between tries, once workCtx
// is done, so that a shutdown does not wait for a database that is gone. It reports whether
// the outcome was recorded.
func (p *Pool) record(workCtx context.Context, logger lager.Logger, outcome store.OperationState, write func(ctx context.Context) error) bool {
	until := time.Now().Add(p.cfg.Lease)
	wait := recordBackoff
	for try := 1; ; try++ {
		tryCtx, cancel := context.WithTimeout(context.WithoutCancel(workCtx), recordTry)
		err := write(tryCtx)
		timedOut := errors.Is(tryCtx.Err(), context.DeadlineExceeded)
		cancel()
		data := lager.Data{"outcome": outcome, "try": try}
		switch {
		case err == nil:
			if try > 1 {
				logger.Info("outcome-recorded", data)
			}
			return true
		case errors.Is(err, store.ErrLeaseLost):
			p.b.metrics.leasesLost.WithLabelValues(lostRecording).Inc()
			logger.Info("lease-lost-before-recording", data)
			return false
		case !store.Transient(err) && !timedOut:
			logger.Error("record-outcome-failed", err, data)
			return false
		case time.Now().Add(wait).After(until):
			// The lease will expire and the rescuer requeue the operation.
			logger.Error("record-outcome-failed", err, data)
			return false
		}
		logger.Error("record-outcome-failed-will-retry", err, data)
		select {
		case <-workCtx.Done():
			logger.Info("record-outcome-given-up-at-shutdown", data)
			return false
		case <-time.After(p.retry.jitter(wait)):
		}
		wait = min(2*wait, recordBackoffMax)
	}
}
