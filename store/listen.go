package store

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Listen keeps a LISTEN on the operations channel and FinishedChannel until ctx ends. It sends
// on wake (without blocking) for every enqueue, those this process commits at once and those
// of other replicas as notified, and every time the listener (re)connects; it hands each
// completion another replica notified to the Watch of its operation in this process, and
// wakes every Watch once connected and on each reconnection, when a notification may have
// been lost. It returns nil
// when ctx ends; the listener reconnects by itself while the database is away.
func (s *Store) Listen(ctx context.Context, wake chan<- struct{}) error {
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	reconnected := func() {
		poke()
		s.wake.finished("", Outcome{})
	}
	unsubscribe := s.wake.subscribe(wake)
	defer unsubscribe()
	// The wake for the first connection is sent once Listen has returned, when the LISTEN is in
	// place, so that a caller that polls on that wake misses nothing after it. A reconnection
	// re-issues the LISTEN before the event is emitted.
	listener := pq.NewListener(s.url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, _ error) {
		if ev == pq.ListenerEventReconnected {
			reconnected()
		}
	})
	stop := context.AfterFunc(ctx, func() { _ = listener.Close() })
	defer func() {
		if stop() {
			_ = listener.Close()
		}
		// Draining until the listener's goroutine closes Notify means no event callback runs
		// after we return, so the caller may close wake.
		for range listener.Notify {
		}
	}()
	// Listen blocks until the first connection; Close (on ctx end) unblocks it.
	for _, channel := range []string{s.notify, FinishedChannel} {
		if err := listener.Listen(channel); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("listen on %s: %w", channel, err)
		}
	}
	// What was notified before the LISTEN was in place is lost: its watchers read again.
	reconnected()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-listener.Notify:
			switch {
			case !ok:
				return nil
			case n == nil:
				reconnected() // a nil notification follows a reconnect
			case n.Channel == FinishedChannel:
				s.wake.notified(n.Extra)
			default:
				poke()
			}
		}
	}
}
