package store

import (
	"encoding/json"
	"sync"

	"github.com/jmoiron/sqlx"
)

// FinishedChannel is the PostgreSQL channel on which the process that committed a completion
// (Succeed, Fail, a cancel, the rescuer's giving up) sends the operation id, just after the
// commit (announcer).
const FinishedChannel = "omnibroker_finished"

// wakeups tells this process what the store committed, without a round trip: an enqueue wakes
// the channels Listen was given here, a completion wakes the Watch of its operation here.
// Listen adds what other replicas committed (NOTIFY) to the same wakes. What a transaction
// would wake is held until it commits, and dropped when it rolls back.
type wakeups struct {
	mu      sync.Mutex
	queued  map[chan<- struct{}]struct{}
	waiters map[string]map[chan Outcome]struct{}
	pending map[*sqlx.Tx]*pendingWake
	// here are the operations a worker of this process runs (RunsHere), each true once its
	// completion has woken its watchers.
	here map[string]bool
	// announce tells the other replicas what this process committed.
	announce *announcer
}

// pendingWake is what one open transaction wakes once it commits.
type pendingWake struct {
	queued   bool
	finished []string
}

// Outcome is what a wake from Watch knows of how its operation ended: its state and description
// when this process committed the completion in one statement (Succeed, Fail); nothing (State
// "") when another replica committed it, or Listen reconnected, or a transaction of this process
// that may have finished it committed: then the caller reads the operation.
type Outcome struct {
	State       OperationState
	Description string
	// Credentials are what a bind's success sealed onto its binding, for the request that
	// waits for it in this process to answer with; never logged.
	Credentials json.RawMessage
}

func newWakeups(announce *announcer) *wakeups {
	return &wakeups{
		announce: announce,
		queued:   map[chan<- struct{}]struct{}{},
		waiters:  map[string]map[chan Outcome]struct{}{},
		pending:  map[*sqlx.Tx]*pendingWake{},
		here:     map[string]bool{},
	}
}

// Watch returns a channel that receives (without blocking the sender; one wake is kept) when
// operation opID may have finished: when this process committed its completion, when the
// Listen of this process received the completion from another replica, or when that Listen
// reconnected, since a notification may have been missed meanwhile. A wake that carries the
// Outcome is the operation's end; on one without, the caller re-reads the operation. The
// caller calls stop once it no longer waits. Watch before the first read, so that a completion
// between that read and the wait is not missed.
func (s *Store) Watch(opID string) (woken <-chan Outcome, stop func()) {
	w := s.wake
	ch := make(chan Outcome, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiters[opID] == nil {
		w.waiters[opID] = map[chan Outcome]struct{}{}
	}
	w.waiters[opID][ch] = struct{}{}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.waiters[opID], ch)
		if len(w.waiters[opID]) == 0 {
			delete(w.waiters, opID)
		}
	}
}

func poke[T any](ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// subscribe makes enqueues committed in this process wake ch, until the returned func is called.
func (w *wakeups) subscribe(ch chan<- struct{}) (unsubscribe func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queued[ch] = struct{}{}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.queued, ch)
	}
}

// enqueued wakes the local subscribers of the queue.
func (w *wakeups) enqueued() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.queued {
		poke(ch, struct{}{})
	}
}

// RunsHere says that a worker of this process runs operation opID, until the returned func is
// called. Meanwhile the completion's own NOTIFY, which Listen receives too, wakes no watcher of
// it: the worker's completion wakes them with the outcome, so they need not read it (and would,
// if the NOTIFY came first). When the run ends without this process committing a completion
// (the lease was lost, and another replica may finish it), done wakes them to read it.
func (s *Store) RunsHere(opID string) (done func()) {
	w := s.wake
	w.mu.Lock()
	w.here[opID] = false
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		woken := w.here[opID]
		delete(w.here, opID)
		w.mu.Unlock()
		if !woken {
			w.finished(opID, Outcome{})
		}
	}
}

// notified wakes the local watchers of operation opID, whose completion another process (or
// this one's) notified, unless a worker of this process runs it (RunsHere).
func (w *wakeups) notified(opID string) {
	w.mu.Lock()
	_, here := w.here[opID]
	w.mu.Unlock()
	if !here {
		w.finished(opID, Outcome{})
	}
}

// finished wakes the local watchers of operation opID with what is known of its outcome, or
// every watcher when opID is "".
func (w *wakeups) finished(opID string, known Outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, here := w.here[opID]; here && known.State != "" {
		w.here[opID] = true
	}
	if opID != "" {
		for ch := range w.waiters[opID] {
			if known.State != "" {
				// The outcome replaces a wake without one (this completion's own NOTIFY, which
				// Listen may have handed on first), so the waiter need not read it.
				select {
				case <-ch:
				default:
				}
			}
			poke(ch, known)
		}
		return
	}
	for _, chs := range w.waiters {
		for ch := range chs {
			poke(ch, Outcome{})
		}
	}
}

// onCommit notes what tx wakes once it commits: the queue's subscribers when queued, the
// watchers of finished ("" for none).
func (w *wakeups) onCommit(tx *sqlx.Tx, queued bool, finished string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending[tx]
	if p == nil {
		p = &pendingWake{}
		w.pending[tx] = p
	}
	p.queued = p.queued || queued
	if finished != "" {
		p.finished = append(p.finished, finished)
	}
}

// ended wakes what tx noted, when it committed, and forgets it either way.
func (w *wakeups) ended(tx *sqlx.Tx, committed bool) {
	w.mu.Lock()
	p := w.pending[tx]
	delete(w.pending, tx)
	w.mu.Unlock()
	if p == nil || !committed {
		return
	}
	if p.queued {
		w.enqueued()
	}
	for _, id := range p.finished {
		w.finished(id, Outcome{})
	}
	w.announce.add(p.queued, p.finished)
}

// committed is ended for a statement of this process that committed on its own: it queued
// operations (queued), or finished operation finished, with the known outcome.
func (w *wakeups) committed(queued bool, finished string, known Outcome) {
	if queued {
		w.enqueued()
	}
	var ids []string
	if finished != "" {
		w.finished(finished, known)
		ids = []string{finished}
	}
	w.announce.add(queued, ids)
}
