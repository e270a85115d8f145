package store

import (
	"context"
	"sync"
	"time"

	"github.com/lib/pq"
)

// announcer tells the other replicas, just after a commit of this process, what it committed:
// on the operations channel that operations were queued, which wakes their workers, and on
// FinishedChannel the id of each operation that finished, which wakes their requests that
// wait for it. It sends the NOTIFYs in a transaction of their own that commits without waiting
// for the disk: inside the committing transaction a NOTIFY would hold PostgreSQL's notification
// lock, which every notifying commit in the database takes in turn, across that commit's
// flush, so that a burst of enqueues and completions would flush one at a time. What is
// committed while a send is under way goes in the next one, so a burst costs a few sends.
//
// An announcement this process does not send (it dies between the commit and the send, or the
// database does not take it) costs the other replicas' workers their poll interval and their
// waiting requests their fallback poll; the operations themselves are committed.
type announcer struct {
	st      *statements
	channel string // the operations channel (Store.notify)
	mu      sync.Mutex
	queued  bool
	done    []string // finished operations not sent yet
	sending bool
}

// announce sends one NOTIFY per (channel, payload) pair; set_config makes its commit skip the flush.
const announce = `
SELECT set_config('synchronous_commit', 'off', true), pg_notify(n.channel, n.payload)
FROM unnest($1::text[], $2::text[]) AS n (channel, payload)`

// announceTimeout bounds one send.
const announceTimeout = 5 * time.Second

// add announces that a commit queued operations (queued) and finished those of finished.
func (a *announcer) add(queued bool, finished []string) {
	if !queued && len(finished) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queued = a.queued || queued
	a.done = append(a.done, finished...)
	if !a.sending {
		a.sending = true
		go a.send()
	}
}

// send sends what was added until nothing is left to send.
func (a *announcer) send() {
	for {
		a.mu.Lock()
		queued, done := a.queued, a.done
		a.queued, a.done = false, nil
		if !queued && len(done) == 0 {
			a.sending = false
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		channels := make(pq.StringArray, 0, len(done)+1)
		payloads := make(pq.StringArray, 0, len(done)+1)
		if queued {
			channels, payloads = append(channels, a.channel), append(payloads, "")
		}
		for _, id := range done {
			channels, payloads = append(channels, FinishedChannel), append(payloads, id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
		_, _ = a.st.on(nil).ExecContext(ctx, announce, channels, payloads)
		cancel()
	}
}
