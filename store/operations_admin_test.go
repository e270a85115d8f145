package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// failedDeprovision makes a ready instance whose deprovision then failed: the instance is
// delete_failed. It returns the instance and the deprovision, as it failed.
func failedDeprovision(ctx context.Context) (store.Instance, store.Operation) {
	inst := readyInstance(ctx)
	op := newOperation(store.OpDeprovision, inst.ID, "")
	Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceDeprovisioning, op)).To(Succeed())
	Expect(st.Fail(ctx, claim(ctx, "worker-a", op.ID), "node mysql-local refused the connection")).To(Succeed())
	Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceDeleteFailed))
	return inst, storedOperation(ctx, op.ID)
}

// refusal is the reason of err, a RefusedError.
func refusal(err error) string {
	GinkgoHelper()
	r, ok := errors.AsType[*store.RefusedError](err)
	Expect(ok).To(BeTrue(), "a RefusedError: %v", err)
	return r.Reason
}

var _ = Describe("ListOperations", func() {
	list := func(ctx context.Context, filter store.OperationFilter) []store.ListedOperation {
		GinkgoHelper()
		if filter.Limit == 0 {
			filter.Limit = 100
		}
		ops, _, err := st.ListOperations(ctx, filter)
		Expect(err).NotTo(HaveOccurred())
		return ops
	}
	ids := func(ops []store.ListedOperation) []string {
		out := make([]string, len(ops))
		for i, op := range ops {
			out[i] = op.ID
		}
		return out
	}

	It("lists the queued, running and failed operations newest first, with their node, age and whether each is the latest of its instance", func(ctx SpecContext) {
		done := readyInstance(ctx)
		failedInst, failed := failedDeprovision(ctx)
		placed := newInstance()
		placed.Node = "pg-2"
		provision := newOperation(store.OpProvision, placed.ID, "")
		Expect(st.CreateInstance(ctx, placed, provision)).To(Succeed())
		running := claim(ctx, "worker-r", provision.ID)
		_, queued := createInstance(ctx)

		ops := list(ctx, store.OperationFilter{})
		Expect(ids(ops)).To(Equal([]string{queued.ID, running.ID, failed.ID}), "the succeeded provisions are not listed")
		Expect(ops[1]).To(SatisfyAll(HaveField("State", store.OpRunning), HaveField("Node", "pg-2"),
			HaveField("Worker", "worker-r"), HaveField("Attempt", 1), HaveField("MaxAttempts", 3),
			HaveField("Age()", BeNumerically(">", 0)), HaveField("Latest", true)))
		Expect(ops[2]).To(SatisfyAll(HaveField("Kind", store.OpDeprovision), HaveField("InstanceID", failedInst.ID),
			HaveField("Description", "node mysql-local refused the connection"), HaveField("Worker", ""),
			HaveField("FinishedAt", Not(BeNil())), HaveField("Latest", true), HaveField("SubjectState", "delete_failed"),
			HaveField("Retryable()", true)))
		Expect(ops[0]).To(SatisfyAll(HaveField("SubjectState", "provisioning"), HaveField("Retryable()", false)))

		Expect(ids(list(ctx, store.OperationFilter{States: []store.OperationState{store.OpSucceeded}, InstanceID: done.ID}))).To(HaveLen(1))
		Expect(ids(list(ctx, store.OperationFilter{States: []store.OperationState{store.OpFailed}}))).To(Equal([]string{failed.ID}))
		Expect(ids(list(ctx, store.OperationFilter{InstanceID: placed.ID}))).To(Equal([]string{running.ID}))
		Expect(list(ctx, store.OperationFilter{OlderThan: time.Hour})).To(BeEmpty())

		latestProvision, more, err := st.ListOperations(ctx, store.OperationFilter{States: []store.OperationState{store.OpSucceeded}, InstanceID: failedInst.ID, Limit: 1})
		Expect(err).NotTo(HaveOccurred())
		Expect(more).To(BeFalse())
		Expect(latestProvision).To(ConsistOf(SatisfyAll(HaveField("Latest", false), HaveField("Retryable()", false))), "its deprovision came after it")
		_, more, err = st.ListOperations(ctx, store.OperationFilter{Limit: 2})
		Expect(err).NotTo(HaveOccurred())
		Expect(more).To(BeTrue())
	})

	It("lists an instance's binding operations with it, each the latest of its binding or not", func(ctx SpecContext) {
		inst, b := boundBinding(ctx, `{"password":"x"}`)
		unbind := newOperation(store.OpUnbind, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, unbind)).To(Succeed())
		other := pendingBinding(ctx, inst)

		ops := list(ctx, store.OperationFilter{InstanceID: inst.ID, States: []store.OperationState{store.OpQueued, store.OpSucceeded}})
		Expect(ops).To(HaveLen(4))
		Expect(ops[0]).To(SatisfyAll(HaveField("BindingID", other.ID), HaveField("Kind", store.OpBind), HaveField("Latest", true)))
		Expect(ops[1]).To(SatisfyAll(HaveField("ID", unbind.ID), HaveField("Latest", true), HaveField("SubjectState", "deleting")))
		Expect(ops[2]).To(SatisfyAll(HaveField("BindingID", b.ID), HaveField("Kind", store.OpBind), HaveField("Latest", false)))
		Expect(ops[3]).To(SatisfyAll(HaveField("Kind", store.OpProvision), HaveField("Latest", true)),
			"binding operations do not supersede the instance's own")
	})
})

var _ = Describe("Attempts", func() {
	It("lists each attempt of an operation with its worker, outcome and sentence, the first first", func(ctx SpecContext) {
		_, op := createInstance(ctx)
		Expect(st.Retry(ctx, claim(ctx, "worker-a", op.ID), 0, "node pg-1 refused the connection; will retry")).To(Succeed())
		claim(ctx, "worker-b", op.ID)

		attempts, err := st.Attempts(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(attempts).To(HaveLen(2))
		Expect(attempts[0]).To(SatisfyAll(HaveField("Attempt", 1), HaveField("Worker", "worker-a"), HaveField("Outcome", "retried"),
			HaveField("Description", "node pg-1 refused the connection; will retry"), HaveField("EndedAt", Not(BeNil()))))
		Expect(attempts[1]).To(SatisfyAll(HaveField("Attempt", 2), HaveField("Worker", "worker-b"), HaveField("Outcome", ""),
			HaveField("EndedAt", BeNil())))
		Expect(st.Attempts(ctx, "no-such-operation")).To(BeEmpty())
	})
})

var _ = Describe("RetryOperation", func() {
	It("queues a failed deprovision again under its id, the instance deprovisioning, its attempts counted on", func(ctx SpecContext) {
		inst, failed := failedDeprovision(ctx)

		op, err := st.RetryOperation(ctx, failed.ID, 3, "queued again at an operator's asking")
		Expect(err).NotTo(HaveOccurred())
		Expect(op.ID).To(Equal(failed.ID))
		stored := storedOperation(ctx, failed.ID)
		Expect(stored.State).To(Equal(store.OpQueued))
		Expect(stored.Attempt).To(Equal(1))
		Expect(stored.MaxAttempts).To(Equal(4))
		Expect(stored.FinishedAt).To(BeNil())
		Expect(stored.Description).To(Equal("queued again at an operator's asking"))
		Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceDeprovisioning))

		again := claim(ctx, "worker-b", failed.ID)
		Expect(again.Attempt).To(Equal(2))
		Expect(st.Succeed(ctx, again, nil)).To(Succeed())
		_, err = st.GetInstance(ctx, inst.ID)
		Expect(err).To(MatchError(store.ErrNotFound), "the retried deprovision removed it")
		attempts, err := st.Attempts(ctx, failed.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(attempts).To(HaveExactElements(
			SatisfyAll(HaveField("Attempt", 1), HaveField("Outcome", "failed")),
			SatisfyAll(HaveField("Attempt", 2), HaveField("Outcome", "succeeded")),
		))
	})

	It("queues a failed unbind again, the binding deleting", func(ctx SpecContext) {
		inst, b := boundBinding(ctx, `{"password":"x"}`)
		unbind := newOperation(store.OpUnbind, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, unbind)).To(Succeed())
		Expect(st.Fail(ctx, claim(ctx, "worker-a", unbind.ID), "node redis-1 refused the connection")).To(Succeed())
		Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(store.BindingFailed))

		Expect(st.RetryOperation(ctx, unbind.ID, 3, "again")).Error().NotTo(HaveOccurred())
		Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(store.BindingDeleting))
		Expect(storedOperation(ctx, unbind.ID).State).To(Equal(store.OpQueued))
	})

	It("queues a failed provision again, the instance provisioning", func(ctx SpecContext) {
		inst, op := createInstance(ctx)
		Expect(st.Fail(ctx, claim(ctx, "worker-a", op.ID), "node pg-1 is full")).To(Succeed())
		Expect(st.RetryOperation(ctx, op.ID, 3, "again")).Error().NotTo(HaveOccurred())
		Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceProvisioning))
	})

	It("refuses an operation that is not the latest of its instance, one that did not fail, and one of a kind it does not take", func(ctx SpecContext) {
		inst, failed := failedDeprovision(ctx)
		provision, _, err := st.ListOperations(ctx, store.OperationFilter{States: []store.OperationState{store.OpSucceeded}, InstanceID: inst.ID, Limit: 1})
		Expect(err).NotTo(HaveOccurred())

		_, err = st.RetryOperation(ctx, provision[0].ID, 3, "again")
		Expect(refusal(err)).To(ContainSubstring("has succeeded; retry takes a failed one"))

		_, queued := createInstance(ctx)
		_, err = st.RetryOperation(ctx, queued.ID, 3, "again")
		Expect(refusal(err)).To(ContainSubstring("is queued"))

		Expect(st.Fail(ctx, claim(ctx, "worker-a", queued.ID), "full")).To(Succeed())

		bound, b := boundBinding(ctx, `{}`)
		restore := newOperation(store.OpRestore, bound.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, bound.ID, b.ID, store.BindingBound, restore)).To(Succeed())
		Expect(st.Fail(ctx, claim(ctx, "worker-a", restore.ID), "gone")).To(Succeed())
		_, err = st.RetryOperation(ctx, restore.ID, 3, "again")
		Expect(refusal(err)).To(ContainSubstring("is a restore"))

		// A failed provision that a new PUT has since followed.
		again, first := createInstance(ctx)
		Expect(st.Fail(ctx, claim(ctx, "worker-a", first.ID), "full")).To(Succeed())
		Expect(st.StartInstanceOperation(ctx, again.ID, store.InstanceProvisioning, newOperation(store.OpProvision, again.ID, ""))).To(Succeed())
		_, err = st.RetryOperation(ctx, first.ID, 3, "again")
		Expect(refusal(err)).To(ContainSubstring("not the latest operation of its instance " + again.ID))

		_, err = st.RetryOperation(ctx, "no-such-operation", 3, "again")
		Expect(err).To(MatchError(store.ErrNotFound))
		Expect(storedOperation(ctx, failed.ID).State).To(Equal(store.OpFailed), "refusals change nothing")
		Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceDeleteFailed))
	})

	It("refuses a failed bind while an operation on its instance runs (ErrBusy)", func(ctx SpecContext) {
		inst := readyInstance(ctx)
		b := pendingBinding(ctx, inst)
		bind, err := st.LatestOperation(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Fail(ctx, claim(ctx, "worker-a", bind.ID), "node pg-1 refused the connection")).To(Succeed())
		request, err := json.Marshal(store.UpdateRequest{PlanID: "large", PreviousPlanID: "small"})
		Expect(err).NotTo(HaveOccurred())
		update := store.NewOperation(store.OpUpdate, inst.ID, "", 3, request, nil)
		Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, update)).To(Succeed())

		_, err = st.RetryOperation(ctx, bind.ID, 3, "again")
		Expect(err).To(MatchError(store.ErrBusy))
		Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(store.BindingFailed))
	})
})

var _ = Describe("CancelOperation", func() {
	It("fails a queued provision with the reason, the instance failed, and no worker claims it", func(ctx SpecContext) {
		inst, op := createInstance(ctx)
		woken, stop := st.Watch(op.ID)
		defer stop()

		cancelled, err := st.CancelOperation(ctx, op.ID, "cancelled by an operator: node pg-1 is being replaced")
		Expect(err).NotTo(HaveOccurred())
		Expect(cancelled.State).To(Equal(store.OpFailed))
		stored := storedOperation(ctx, op.ID)
		Expect(stored.State).To(Equal(store.OpFailed))
		Expect(stored.Description).To(Equal("cancelled by an operator: node pg-1 is being replaced"))
		Expect(stored.FinishedAt).NotTo(BeNil())
		Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceFailed))
		Eventually(woken).Should(Receive(), "a request waiting for it is told")
		_, err = st.Claim(ctx, "worker-a", time.Minute)
		Expect(err).To(MatchError(store.ErrNothingToClaim))
	})

	It("leaves an instance ready on its old plan for a cancelled update, delete_failed for a deprovision, a binding failed for a bind or an unbind", func(ctx SpecContext) {
		updated := readyInstance(ctx)
		request, err := json.Marshal(store.UpdateRequest{PlanID: "large", PreviousPlanID: "small"})
		Expect(err).NotTo(HaveOccurred())
		update := store.NewOperation(store.OpUpdate, updated.ID, "", 3, request, nil)
		Expect(st.StartInstanceOperation(ctx, updated.ID, store.InstanceUpdating, update)).To(Succeed())
		Expect(st.CancelOperation(ctx, update.ID, "no")).Error().NotTo(HaveOccurred())
		after, err := st.GetInstance(ctx, updated.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(after.State).To(Equal(store.InstanceReady))
		Expect(after.PlanID).To(Equal("small"))

		deleted := readyInstance(ctx)
		deprovision := newOperation(store.OpDeprovision, deleted.ID, "")
		Expect(st.StartInstanceOperation(ctx, deleted.ID, store.InstanceDeprovisioning, deprovision)).To(Succeed())
		Expect(st.CancelOperation(ctx, deprovision.ID, "no")).Error().NotTo(HaveOccurred())
		Expect(instanceState(ctx, deleted.ID)).To(Equal(store.InstanceDeleteFailed))

		inst, bound := boundBinding(ctx, `{}`)
		unbind := newOperation(store.OpUnbind, inst.ID, bound.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, bound.ID, store.BindingDeleting, unbind)).To(Succeed())
		Expect(st.CancelOperation(ctx, unbind.ID, "no")).Error().NotTo(HaveOccurred())
		Expect(bindingState(ctx, inst.ID, bound.ID)).To(Equal(store.BindingFailed))

		pending := pendingBinding(ctx, inst)
		bind, err := st.LatestOperation(ctx, inst.ID, pending.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.CancelOperation(ctx, bind.ID, "no")).Error().NotTo(HaveOccurred())
		Expect(bindingState(ctx, inst.ID, pending.ID)).To(Equal(store.BindingFailed))
	})

	It("refuses a running operation, which is its worker's, and a finished one", func(ctx SpecContext) {
		inst, op := createInstance(ctx)
		running := claim(ctx, "worker-a", op.ID)
		_, err := st.CancelOperation(ctx, op.ID, "no")
		Expect(refusal(err)).To(ContainSubstring("is running"))
		Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceProvisioning))
		Expect(st.Succeed(ctx, running, nil)).To(Succeed(), "its worker still finishes it")
		_, err = st.CancelOperation(ctx, op.ID, "no")
		Expect(refusal(err)).To(ContainSubstring("has succeeded already"))
		_, err = st.CancelOperation(ctx, "no-such-operation", "no")
		Expect(err).To(MatchError(store.ErrNotFound))
	})

	It("either cancels an operation or lets a worker claim it, never both, when both come at once", func(ctx SpecContext) {
		for range 20 {
			inst, op := createInstance(ctx)
			var wg sync.WaitGroup
			var claimErr, cancelErr error
			var claimed store.Operation
			wg.Go(func() { claimed, claimErr = st.Claim(ctx, "worker-a", time.Minute) })
			wg.Go(func() { _, cancelErr = st.CancelOperation(ctx, op.ID, "no") })
			wg.Wait()
			if cancelErr == nil {
				Expect(claimErr).To(MatchError(store.ErrNothingToClaim))
				Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceFailed))
				continue
			}
			Expect(refusal(cancelErr)).To(ContainSubstring("is running"))
			Expect(claimErr).NotTo(HaveOccurred())
			Expect(claimed.ID).To(Equal(op.ID))
			Expect(st.Succeed(ctx, claimed, nil)).To(Succeed())
			Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceReady))
		}
	})
})

var _ = Describe("Repairs", func() {
	It("records who asked for what before it is made, then how it went, with its operation's state", func(ctx SpecContext) {
		_, op := createInstance(ctx)
		asked, err := st.StartRepair(ctx, "alice", "cli", "operations retry", op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(asked.Outcome).To(Equal(store.RepairRequested))
		crashed, err := st.StartRepair(ctx, "bob", "api", "nodes drain", "pg-2")
		Expect(err).NotTo(HaveOccurred())
		Expect(st.FinishRepair(ctx, asked.ID, store.RepairQueued, op.ID, "")).To(Succeed())

		repairs, err := st.Repairs(ctx, time.Now().Add(-time.Hour), 10)
		Expect(err).NotTo(HaveOccurred())
		Expect(repairs).To(ConsistOf(
			SatisfyAll(HaveField("ID", asked.ID), HaveField("RequestedBy", "alice"), HaveField("Via", "cli"),
				HaveField("Outcome", store.RepairQueued), HaveField("OperationID", op.ID),
				HaveField("OperationState", store.OpQueued), HaveField("FinishedAt", Not(BeNil()))),
			SatisfyAll(HaveField("ID", crashed.ID), HaveField("Outcome", store.RepairRequested),
				HaveField("OperationID", ""), HaveField("FinishedAt", BeNil())),
		))
		Expect(st.Repairs(ctx, time.Now().Add(time.Minute), 10)).To(BeEmpty(), "none asked for since")
	})
})
