package broker

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/omnibroker/omnibroker/store"
)

// The hand-off. A request that queues an operation while a worker of its own replica is idle
// reserves that worker and has the operation inserted claimed by it (store.ClaimedBy), in the
// transaction that queues it; once that commits, it hands the operation over, and the worker
// runs it as it runs what it claims from the queue. So the operation costs no claim of its
// own, no wake-up and no round trip before its backend call: the queue is still its one
// execution path (leased, tied to the pool's session, fenced, rescued like any other), it only
// skips the wait in it.

// The states of a worker, as reserve and the worker itself move it.
const (
	workerBusy     int32 = iota // claiming from the queue or running an operation
	workerIdle                  // waiting for a wake-up, a poll or a hand-off
	workerReserved              // taken by a request, which hands it an operation or nothing
)

// worker is one of the pool's workers as a request sees it.
type worker struct {
	owner  string // its lease owner
	state  atomic.Int32
	handed chan handedOp // buffered: the one hand-off of a reservation
}

// handedOp is what a reservation hands its worker: the operation as it was inserted claimed,
// with the channel closed when the session it is tied to is lost; an empty op when the request
// queued nothing.
type handedOp struct {
	op    store.Operation
	lost  <-chan struct{}
	known known
}

// known is what a request has of the rows its operation acts on, where that is the row as the
// operation needs it until it ends: a new instance for its provision and a new binding for its
// bind, as the request's transaction wrote them; an existing instance as that transaction
// locked it (store.ClaimedBy); a binding for its unbind, whose id, password, parameters and
// login name never change. The worker need not read them.
type known struct {
	instance *store.Instance
	binding  *store.Binding
	// claimed says that instance is as the worker's claim read it from the queue: a node it
	// has may come from a placement that is not on disk yet (store.AssignNodes).
	claimed bool
}

// reservation is a worker a request has reserved for the operation it is queuing.
type reservation struct {
	w       *worker
	claimBy store.ClaimedBy
	lost    <-chan struct{}
	done    bool
}

// reserve takes an idle worker of the pool for an operation a request is about to queue, or
// returns nil when there is none (no pool, no worker idle, no session to tie the claim to).
func (p *Pool) reserve() *reservation {
	if p == nil {
		return nil
	}
	session, lost := p.tie.current()
	if session == nil {
		return nil
	}
	for _, w := range p.workers {
		if w.state.CompareAndSwap(workerIdle, workerReserved) {
			return &reservation{w: w, claimBy: session.Claimant(w.owner, p.cfg.Lease), lost: lost}
		}
	}
	return nil
}

// claim has op queued claimed by the reserved worker; without a reservation op is queued as
// it is.
func (r *reservation) claim(op store.Operation) store.Operation {
	if r != nil {
		op.ClaimedBy = &r.claimBy
	}
	return op
}

// hand gives the worker op, which the request's transaction has committed claimed by it, and
// what that transaction wrote of the rows it acts on.
func (r *reservation) hand(op store.Operation, rows known) {
	if r == nil || r.done {
		return
	}
	r.done = true
	if rows.instance == nil {
		rows.instance = r.claimBy.Instance // read under the enqueue's lock, if it took one
	}
	r.w.handed <- handedOp{op: r.claimBy.Claimed(op), lost: r.lost, known: rows}
}

// release frees the worker when nothing was handed to it (the request queued nothing, or
// failed to); after hand it does nothing.
func (r *reservation) release() {
	if r == nil || r.done {
		return
	}
	r.done = true
	r.w.handed <- handedOp{}
}

// waitIdle has w wait, idle, until ctx ends, the pool's wake-up (wake), poll has passed, or a
// request hands it an operation; it returns the operation handed to it, if any, and leaves w
// busy.
func (w *worker) waitIdle(ctx context.Context, wake <-chan struct{}, poll time.Duration) handedOp {
	w.state.Store(workerIdle)
	timer := time.NewTimer(poll)
	defer timer.Stop()
	select {
	case h := <-w.handed:
		w.state.Store(workerBusy)
		return h
	case <-ctx.Done():
	case <-wake:
	case <-timer.C:
	}
	if w.state.CompareAndSwap(workerIdle, workerBusy) {
		return handedOp{}
	}
	// A request reserved w meanwhile: it hands over an operation or nothing, soon.
	h := <-w.handed
	w.state.Store(workerBusy)
	return h
}

// queue runs start, the store call that queues op in one transaction, with op claimed by an
// idle worker of this replica when there is one, and hands the operation to that worker once
// start has committed it, with what start wrote of the rows it acts on.
// The operation is watched from before its enqueue commits, so the request's waitFor need not
// read it before it waits: no completion can come unwatched.
func (b *Broker) queue(op store.Operation, start func(op store.Operation) (known, error)) error {
	woken, stop := b.store.Watch(op.ID)
	r := b.pool.Load().reserve()
	defer r.release()
	rows, err := start(r.claim(op))
	if err != nil {
		stop()
		return err
	}
	b.watches.Store(op.ID, watch{woken: woken, stop: stop})
	r.hand(op, rows)
	return nil
}

// watch is a store.Watch of an operation.
type watch struct {
	woken <-chan store.Outcome
	stop  func()
}

// watchOf is the watch of operation opID: the one queue took before the operation was queued
// (fresh), or a new one.
func (b *Broker) watchOf(opID string) (w watch, fresh bool) {
	if taken, ok := b.watches.LoadAndDelete(opID); ok {
		return taken.(watch), true
	}
	woken, stop := b.store.Watch(opID)
	return watch{woken: woken, stop: stop}, false
}
