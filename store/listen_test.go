package store_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Listen", func() {
	var (
		wake   chan struct{}
		done   chan error
		cancel context.CancelFunc
	)

	BeforeEach(func() {
		wake = make(chan struct{}, 1)
		done = make(chan error, 1)
		var ctx context.Context
		ctx, cancel = context.WithCancel(context.Background())
		go func() {
			defer GinkgoRecover()
			done <- st.Listen(ctx, wake)
		}()
		DeferCleanup(func() {
			cancel()
			Eventually(done).WithTimeout(5 * time.Second).Should(Receive(BeNil()))
		})

		Eventually(wake).WithTimeout(5*time.Second).Should(Receive(), "a wake once the listener is connected")
	})

	It("wakes the workers within a second of an enqueue", func(ctx SpecContext) {
		Consistently(wake).WithTimeout(100 * time.Millisecond).ShouldNot(Receive())
		createInstance(ctx)
		Eventually(wake).WithTimeout(time.Second).Should(Receive())
	})

	It("wakes them again when its connection is lost and comes back", func(ctx SpecContext) {
		var terminated int
		Expect(st.DB().GetContext(ctx, &terminated, `
SELECT count(*)
FROM (
    SELECT pg_terminate_backend(pid) AS terminated
    FROM pg_stat_activity
    WHERE datname = current_database()
        AND query ILIKE 'LISTEN%'
) t
WHERE terminated`)).To(Succeed())
		Expect(terminated).To(Equal(1))

		Eventually(wake).WithTimeout(5*time.Second).Should(Receive(), "a wake on reconnecting")
		time.Sleep(100 * time.Millisecond)
		select {
		case <-wake: // the reconnect may wake twice
		default:
		}
		createInstance(ctx)
		Eventually(wake).WithTimeout(time.Second).Should(Receive(), "notifications arrive after the reconnect")
	})

	It("returns nil soon after its context ends", func() {
		cancel()
		Eventually(done).WithTimeout(2 * time.Second).Should(Receive(BeNil()))
		done <- nil // for the cleanup
	})
})
