package store_test

import (
	"context"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// listening runs s.Listen until the spec ends and returns its wake channel once the listener
// is connected (its first wake taken).
func listening(s *store.Store) chan struct{} {
	GinkgoHelper()
	wake := make(chan struct{}, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer GinkgoRecover()
		done <- s.Listen(ctx, wake)
	}()
	DeferCleanup(func() {
		cancel()
		Eventually(done).WithTimeout(5 * time.Second).Should(Receive(BeNil()))
	})
	Eventually(wake).WithTimeout(5*time.Second).Should(Receive(), "a wake once the listener is connected")
	return wake
}

// dropListeners ends the LISTEN connections to the suite's database, as a network fault would.
func dropListeners(ctx context.Context) {
	GinkgoHelper()
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
}

var _ = Describe("Listen", func() {
	var wake chan struct{}

	BeforeEach(func() { wake = listening(st) })

	It("wakes the workers of its own process as soon as an enqueue commits", func(ctx SpecContext) {
		Consistently(wake).WithTimeout(100 * time.Millisecond).ShouldNot(Receive())
		createInstance(ctx)
		Expect(wake).To(Receive(), "woken before CreateInstance returned, without waiting for the NOTIFY")
	})

	It("wakes the workers of another replica by NOTIFY", func(ctx SpecContext) {
		other := openWithKeys(ctx, currentKey)
		otherWake := listening(other)
		createInstance(ctx)
		Eventually(otherWake).WithTimeout(5 * time.Second).Should(Receive())
	})

	It("wakes them again when its connection is lost and comes back", func(ctx SpecContext) {
		dropListeners(ctx)
		Eventually(wake).WithTimeout(5*time.Second).Should(Receive(), "a wake on reconnecting")
		time.Sleep(100 * time.Millisecond)
		select {
		case <-wake: // the reconnect may wake twice
		default:
		}
		// Enqueued by another replica, so that only the NOTIFY can wake this one.
		other := openWithKeys(ctx, currentKey)
		inst := newInstance()
		Expect(other.CreateInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""))).To(Succeed())
		Eventually(wake).WithTimeout(5*time.Second).Should(Receive(), "notifications arrive after the reconnect")
	})
})

var _ = Describe("Watch", func() {
	It("is woken as soon as this process records the operation's success or failure, without a LISTEN", func(ctx SpecContext) {
		_, provision := createInstance(ctx)
		woken, stop := st.Watch(provision.ID)
		DeferCleanup(stop)
		claimed := claim(ctx, "w", provision.ID)
		Expect(woken).NotTo(Receive(), "a claim is no completion")
		Expect(st.Succeed(ctx, claimed, nil)).To(Succeed())
		Expect(woken).To(Receive(Equal(store.Outcome{State: store.OpSucceeded})), "with the outcome, so the waiter need not read it")

		_, failing := createInstance(ctx)
		woken, stop = st.Watch(failing.ID)
		DeferCleanup(stop)
		Expect(st.Fail(ctx, claim(ctx, "w", failing.ID), "node pg-1 is full")).To(Succeed())
		Expect(woken).To(Receive(Equal(store.Outcome{State: store.OpFailed, Description: "node pg-1 is full"})))

		inst := readyInstance(ctx)
		b := newBinding(inst.ID)
		bind := newOperation(store.OpBind, inst.ID, b.ID)
		Expect(st.CreateBinding(ctx, b, bind)).To(Succeed())
		woken, stop = st.Watch(bind.ID)
		DeferCleanup(stop)
		credentials := []byte(`{"host":"h","port":6379}`)
		Expect(st.Succeed(ctx, claim(ctx, "w", bind.ID), credentials)).To(Succeed())
		Expect(woken).To(Receive(Equal(store.Outcome{State: store.OpSucceeded, Credentials: credentials})),
			"a bind's with the credentials it sealed, for the request to answer with")
	})

	It("hears the outcome from a worker of this process, not the completion's own NOTIFY first", func(ctx SpecContext) {
		listening(st)

		_, op := createInstance(ctx)
		woken, stop := st.Watch(op.ID)
		DeferCleanup(stop)
		claimed := claim(ctx, "w", op.ID)
		done := st.RunsHere(op.ID)
		By("another process sending the completion's NOTIFY while the worker here runs it")
		_, err := st.DB().ExecContext(ctx, `SELECT pg_notify($1, $2)`, store.FinishedChannel, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Consistently(woken).WithTimeout(300 * time.Millisecond).ShouldNot(Receive())
		Expect(st.Succeed(ctx, claimed, nil)).To(Succeed())
		Expect(woken).To(Receive(Equal(store.Outcome{State: store.OpSucceeded})))
		done()
		Expect(woken).NotTo(Receive(), "its completion woke it already")

		By("a run that ends without a completion here wakes the waiters to read it")
		_, other := createInstance(ctx)
		woken, stop = st.Watch(other.ID)
		DeferCleanup(stop)
		claim(ctx, "w", other.ID)
		st.RunsHere(other.ID)()
		Expect(woken).To(Receive(Equal(store.Outcome{})))
	})

	It("is not woken by a retry, nor by a completion that did not commit", func(ctx SpecContext) {
		_, op := createInstance(ctx)
		woken, stop := st.Watch(op.ID)
		DeferCleanup(stop)
		stale := claim(ctx, "w1", op.ID)
		Expect(st.Retry(ctx, stale, 0, "node pg-1 refused the connection")).To(Succeed())
		Expect(st.Succeed(ctx, stale, nil)).To(MatchError(store.ErrLeaseLost))
		Expect(woken).NotTo(Receive())

		Expect(st.Succeed(ctx, claim(ctx, "w2", op.ID), nil)).To(Succeed())
		Expect(woken).To(Receive())
	})

	It("is woken when the rescuer gives the operation up", func(ctx SpecContext) {
		inst := newInstance()
		op := newOperation(store.OpProvision, inst.ID, "")
		op.MaxAttempts = 1
		Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())
		woken, stop := st.Watch(op.ID)
		DeferCleanup(stop)
		abandon(ctx, "w", op.ID, noBackoff)
		Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpFailed))
		Expect(woken).To(Receive())
	})

	When("another replica finishes the operation", func() {
		It("is woken by the NOTIFY its Listen receives, and only its own operation's watchers are", func(ctx SpecContext) {
			other := openWithKeys(ctx, currentKey)
			listening(other)
			_, op := createInstance(ctx)
			_, unrelated := createInstance(ctx)
			woken, stop := other.Watch(op.ID)
			DeferCleanup(stop)
			unwoken, stopUnrelated := other.Watch(unrelated.ID)
			DeferCleanup(stopUnrelated)

			Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), nil)).To(Succeed())
			Eventually(woken).WithTimeout(5 * time.Second).Should(Receive())
			Expect(unwoken).NotTo(Receive())
		})

		It("wakes the watchers of every operation of a burst that finishes at once, however its NOTIFYs were grouped", func(ctx SpecContext) {
			other := openWithKeys(ctx, currentKey)
			listening(other)
			const burst = 30
			ops := make([]store.Operation, burst)
			woken := make([]<-chan store.Outcome, burst)
			for i := range ops {
				_, ops[i] = createInstance(ctx)
				var stop func()
				woken[i], stop = other.Watch(ops[i].ID)
				DeferCleanup(stop)
			}
			claimed := make([]store.Operation, burst)
			for i, op := range ops {
				claimed[i] = claim(ctx, "w", op.ID)
			}
			var wg sync.WaitGroup
			for _, op := range claimed {
				wg.Go(func() {
					defer GinkgoRecover()
					Expect(st.Succeed(ctx, op, nil)).To(Succeed())
				})
			}
			wg.Wait()
			for i := range woken {
				Eventually(woken[i]).WithTimeout(5*time.Second).Should(Receive(), "operation %d of the burst", i)
			}
		})

		It("is woken when its Listen reconnects, since a notification may have been lost", func(ctx SpecContext) {
			other := openWithKeys(ctx, currentKey)
			listening(other)
			_, op := createInstance(ctx)
			woken, stop := other.Watch(op.ID)
			DeferCleanup(stop)
			dropListeners(ctx)
			Eventually(woken).WithTimeout(5 * time.Second).Should(Receive())
		})
	})
})
