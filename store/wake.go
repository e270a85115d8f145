package store

import (
	"sync"

	"github.com/jmoiron/sqlx"
)

// FinishedChannel is the PostgreSQL channel on which every completion (Succeed, Fail, and the
// rescuer's giving up) sends the operation id, delivered when its transaction commits.
const FinishedChannel = "omnibroker_finished"

// wakeups tells this process what the store committed, without a round trip: an enqueue wakes
// the channels Listen was given here, a completion wakes the Watch of its operation here.
// Listen adds what other replicas committed (NOTIFY) to the same wakes. What a transaction
// would wake is held until it commits, and dropped when it rolls back.
type wakeups struct {
	mu      sync.Mutex
	queued  map[chan<- struct{}]struct{}
	waiters map[string]map[chan struct{}]struct{}
	pending map[*sqlx.Tx]*pendingWake
}

// pendingWake is what one open transaction wakes once it commits.
type pendingWake struct {
	queued   bool
	finished []string
}

func newWakeups() *wakeups {
	return &wakeups{
		queued:  map[chan<- struct{}]struct{}{},
		waiters: map[string]map[chan struct{}]struct{}{},
		pending: map[*sqlx.Tx]*pendingWake{},
	}
}

// Watch returns a channel that receives (without blocking the sender; one wake is kept) when
// operation opID may have finished: when this process committed its completion, when the
// Listen of this process received the completion from another replica, or when that Listen
// reconnected, since a notification may have been missed meanwhile. The caller re-reads the
// operation on a wake, and calls stop once it no longer waits. Watch before the first read,
// so that a completion between that read and the wait is not missed.
func (s *Store) Watch(opID string) (woken <-chan struct{}, stop func()) {
	w := s.wake
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiters[opID] == nil {
		w.waiters[opID] = map[chan struct{}]struct{}{}
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

func poke(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
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
		poke(ch)
	}
}

// finished wakes the local watchers of operation opID, or every watcher when opID is "".
func (w *wakeups) finished(opID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if opID != "" {
		for ch := range w.waiters[opID] {
			poke(ch)
		}
		return
	}
	for _, chs := range w.waiters {
		for ch := range chs {
			poke(ch)
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
		w.finished(id)
	}
}
