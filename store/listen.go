package store

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Listen keeps a LISTEN on the operations channel until ctx ends, sending on wake (without
// blocking) for every notification and every time the listener (re)connects. It returns nil
// when ctx ends; the listener reconnects by itself while the database is away.
func (s *Store) Listen(ctx context.Context, wake chan<- struct{}) error {
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	// The wake for the first connection is sent once Listen has returned, when the LISTEN is in
	// place, so that a caller that polls on that wake misses nothing after it. A reconnection
	// re-issues the LISTEN before the event is emitted.
	listener := pq.NewListener(s.url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, _ error) {
		if ev == pq.ListenerEventReconnected {
			poke()
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
	if err := listener.Listen(s.notify); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listen on %s: %w", s.notify, err)
	}
	poke()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-listener.Notify:
			if !ok {
				return nil
			}
			poke() // a nil notification follows a reconnect: wake as well
		}
	}
}
