package store_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// claimedProvision is the provision of inst, to be queued claimed by worker-1 of se, and the
// claimant it is queued under.
func claimedProvision(se *store.Session, inst store.Instance) (store.Operation, store.ClaimedBy) {
	op := newOperation(store.OpProvision, inst.ID, "")
	by := se.Claimant("worker-1", 10*time.Minute)
	op.ClaimedBy = &by
	return op, by
}

var _ = Describe("An operation claimed as it is queued", func() {
	It("is running for its worker at attempt 1, tied to the worker's session, and no one else can claim it", func(ctx SpecContext) {
		se := openSession(ctx)
		wake := listening(st)

		inst := newInstance()
		op, by := claimedProvision(se, inst)
		Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())

		stored := storedOperation(ctx, op.ID)
		Expect(stored.State).To(Equal(store.OpRunning))
		Expect(stored.Attempt).To(Equal(1))
		Expect(stored.LeaseOwner).To(Equal("worker-1"))
		Expect(stored.LeaseExpiresAt).NotTo(BeNil())
		Expect(sessionOf(ctx, op.ID)).NotTo(BeZero(), "tied to the session that holds its worker")
		Expect(wake).NotTo(Receive(), "no worker is woken for it")
		_, err := st.Claim(ctx, "worker-2", time.Minute)
		Expect(err).To(MatchError(store.ErrNothingToClaim))

		attempts, err := st.Attempts(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(attempts).To(HaveLen(1))
		Expect(attempts[0].Attempt).To(Equal(1))
		Expect(attempts[0].Worker).To(Equal("worker-1"))

		By("finishing as its worker, with the operation as it was inserted")
		Expect(st.Succeed(ctx, by.Claimed(op), nil)).To(Succeed())
		Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceReady))
		attempts, err = st.Attempts(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(attempts[0].Outcome).To(Equal("succeeded"))
	})

	It("is requeued by the rescuer once its worker's session ends", func(ctx SpecContext) {
		se := openSession(ctx)
		inst := newInstance()
		op, by := claimedProvision(se, inst)
		Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())
		se.Close()

		Expect(st.RescueOrphaned(ctx, noBackoff)).To(Equal(1))
		Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpQueued))
		Expect(st.Succeed(ctx, by.Claimed(op), nil)).To(MatchError(store.ErrLeaseLost))
		again := claim(ctx, "worker-2", op.ID)
		Expect(again.Attempt).To(Equal(2))
	})

	It("on an existing instance or binding, hands its worker the instance row as the enqueue locked it", func(ctx SpecContext) {
		se := openSession(ctx)
		inst := readyInstance(ctx)
		b := newBinding(inst.ID)
		bind := newOperation(store.OpBind, inst.ID, b.ID)
		by := se.Claimant("worker-1", 10*time.Minute)
		bind.ClaimedBy = &by
		Expect(st.CreateBinding(ctx, b, bind)).To(Succeed())
		Expect(by.Instance).NotTo(BeNil())
		Expect(by.Instance.ID).To(Equal(inst.ID))
		Expect(by.Instance.PlanID).To(Equal(inst.PlanID))
		Expect(st.Succeed(ctx, by.Claimed(bind), []byte(`{}`))).To(Succeed())

		unbind := newOperation(store.OpUnbind, inst.ID, b.ID)
		by = se.Claimant("worker-1", 10*time.Minute)
		unbind.ClaimedBy = &by
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, unbind)).To(Succeed())
		Expect(by.Instance).NotTo(BeNil())
		Expect(by.Instance.Backend).To(Equal(inst.Backend))
		Expect(st.Succeed(ctx, by.Claimed(unbind), nil)).To(Succeed())

		deprovision := newOperation(store.OpDeprovision, inst.ID, "")
		by = se.Claimant("worker-1", 10*time.Minute)
		deprovision.ClaimedBy = &by
		Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceDeprovisioning, deprovision)).To(Succeed())
		Expect(by.Instance).NotTo(BeNil())
		Expect(by.Instance.Parameters).To(MatchJSON(inst.Parameters))
		Expect(st.Succeed(ctx, by.Claimed(deprovision), nil)).To(Succeed())
		_, err := st.GetInstance(ctx, inst.ID)
		Expect(err).To(MatchError(store.ErrNotFound))
	})

	It("leaves no operation behind when its transaction fails", func(ctx SpecContext) {
		se := openSession(ctx)
		inst, _ := createInstance(ctx)
		op, _ := claimedProvision(se, inst)
		Expect(st.CreateInstance(ctx, inst, op)).To(MatchError(store.ErrConflict), "the instance exists")
		_, err := st.GetOperation(ctx, op.ID)
		Expect(err).To(MatchError(store.ErrNotFound))
	})
})
