package store

import (
	"context"
	"sync"
	"time"
)

// flushes are the placements that AssignNodes of this process made for other instances than
// its own, by instance id, each with the flush that makes it durable: a worker that claims one
// of those instances and finds it placed waits for that flush (FlushPlacements) rather than
// flushing again, which under a burst of provisions saves each of them a commit.
type flushes struct {
	mu         sync.Mutex
	byInstance map[string]*flush
}

// flush is one AssignNodes' flush, which the instances it placed for others share.
type flush struct {
	done  chan struct{} // closed once the flush has ended
	ok    bool          // the flush succeeded; set before done is closed
	ended time.Time
}

// flushKept bounds how long a flush that ended is kept for an instance whose worker never asked
// (another replica's worker claimed it).
const flushKept = time.Minute

func newFlushes() *flushes { return &flushes{byInstance: map[string]*flush{}} }

// start records the flush that will make the placements of ids durable; the caller ends it.
// It is called before the placements commit, so that a worker that reads one finds its flush.
func (fs *flushes) start(ids []string) *flush {
	f := &flush{done: make(chan struct{})}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for id, old := range fs.byInstance {
		if !old.ended.IsZero() && time.Since(old.ended) > flushKept {
			delete(fs.byInstance, id)
		}
	}
	for _, id := range ids {
		fs.byInstance[id] = f
	}
	return f
}

// end records how f ended: ok when the placements are on disk.
func (fs *flushes) end(f *flush, ok bool) {
	fs.mu.Lock()
	f.ok, f.ended = ok, time.Now()
	fs.mu.Unlock()
	close(f.done)
}

// take returns, and forgets, the flush of the placement of instanceID that this process made
// for it; nil when there is none.
func (fs *flushes) take(instanceID string) *flush {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.byInstance[instanceID]
	delete(fs.byInstance, instanceID)
	return f
}

// wait returns true once f has made its placements durable, false when it failed; ctx's error
// when ctx ends first.
func (f *flush) wait(ctx context.Context) (bool, error) {
	select {
	case <-f.done:
		return f.ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
