package store_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// A replica of an older release knows fewer kinds of operation than one of the newer release
// beside it on the same state database; here, a release from before binding expiry.
var _ = Describe("Operation kinds during a rolling deploy", func() {
	var older *store.Store
	BeforeEach(func(ctx SpecContext) {
		older = openWithKeys(ctx, currentKey)
		older.KnowOnly(store.OpProvision, store.OpUpdate, store.OpDeprovision, store.OpBind, store.OpUnbind, store.OpRestore)
	})

	// queuedExpire queues an expire operation on a bound binding, as the newer release's
	// expiry sweep does.
	queuedExpire := func(ctx context.Context) store.Operation {
		inst, b := boundBinding(ctx, `{}`)
		op := newOperation(store.OpExpire, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingBound, op)).To(Succeed())
		return op
	}

	It("knows every kind the store defines", func() {
		Expect(store.KnownKinds()).To(ConsistOf(store.OpProvision, store.OpUpdate, store.OpDeprovision,
			store.OpBind, store.OpUnbind, store.OpRestore, store.OpExpire, store.OpPurge))
	})

	It("claims only kinds the replica knows, directly or through a session, and leaves the others to one that does", func(ctx SpecContext) {
		expire := queuedExpire(ctx)
		_, provision := createInstance(ctx)

		session, err := older.OpenSession(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(session.Close)
		op, err := session.Claim(ctx, "older", time.Minute)
		Expect(err).NotTo(HaveOccurred())
		Expect(op.ID).To(Equal(provision.ID), "the expire was queued first, and passed over")
		Expect(older.Claim(ctx, "older", time.Minute)).Error().To(MatchError(store.ErrNothingToClaim))
		Expect(session.Claim(ctx, "older", time.Minute)).Error().To(MatchError(store.ErrNothingToClaim))
		Expect(storedOperation(ctx, expire.ID).State).To(Equal(store.OpQueued))
		Expect(storedOperation(ctx, expire.ID).Attempt).To(Equal(0))

		Expect(claim(ctx, "newer", expire.ID).Kind).To(Equal(store.OpExpire))
	})

	It("requeues an abandoned operation of a kind it does not know, but leaves giving up on it to a replica that knows it", func(ctx SpecContext) {
		expire := queuedExpire(ctx)
		Expect(st.DB().ExecContext(ctx, `UPDATE operations SET max_attempts = 2 WHERE id = $1`, expire.ID)).Error().NotTo(HaveOccurred())

		By("the first attempt's worker dies; the older replica's rescuer requeues it")
		Expect(st.Claim(ctx, "newer", time.Millisecond)).Error().NotTo(HaveOccurred())
		Eventually(ctx, func() (int, error) { return older.RescueExpired(ctx, noBackoff) }).
			WithPolling(5 * time.Millisecond).Should(Equal(1))
		Expect(storedOperation(ctx, expire.ID).State).To(Equal(store.OpQueued))

		By("the last attempt's worker dies too: the older rescuer leaves it, the newer one gives up on it")
		Expect(st.Claim(ctx, "newer", time.Millisecond)).Error().NotTo(HaveOccurred())
		Consistently(ctx, func() (int, error) { return older.RescueExpired(ctx, noBackoff) }).
			WithTimeout(200 * time.Millisecond).Should(Equal(0))
		Expect(storedOperation(ctx, expire.ID).State).To(Equal(store.OpRunning))
		Eventually(ctx, func() (int, error) { return st.RescueExpired(ctx, noBackoff) }).
			WithPolling(5 * time.Millisecond).Should(Equal(1))
		Expect(storedOperation(ctx, expire.ID).State).To(Equal(store.OpFailed))
		Expect(bindingState(ctx, expire.InstanceID, expire.BindingID)).To(Equal(store.BindingBound))
	})

	It("leaves an orphaned operation on its last attempt of a kind it does not know to a replica that knows it", func(ctx SpecContext) {
		expire := queuedExpire(ctx)
		Expect(st.DB().ExecContext(ctx, `UPDATE operations SET max_attempts = 1 WHERE id = $1`, expire.ID)).Error().NotTo(HaveOccurred())
		session, err := st.OpenSession(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(session.Claim(ctx, "newer", time.Hour)).Error().NotTo(HaveOccurred())
		session.Close()

		Expect(older.RescueOrphaned(ctx, noBackoff)).To(Equal(0))
		Expect(storedOperation(ctx, expire.ID).State).To(Equal(store.OpRunning))
		Expect(st.RescueOrphaned(ctx, noBackoff)).To(Equal(1))
		Expect(storedOperation(ctx, expire.ID).State).To(Equal(store.OpFailed))
	})
})
