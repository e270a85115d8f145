package store_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// placedInstance creates an instance of backend on node and runs its provision to success.
func placedInstance(ctx context.Context, backend, node string) store.Instance {
	inst := newInstance()
	inst.Backend, inst.Node = backend, node
	op := newOperation(store.OpProvision, inst.ID, "")
	Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())
	Expect(st.Succeed(ctx, claim(ctx, "setup", op.ID), nil)).To(Succeed())
	return inst
}

// firstCredentials are those of every binding boundOn makes here.
const firstCredentials = `{"password":"first"}`

// setInstanceState puts an idle instance in state, as an operation would have left it.
func setInstanceState(ctx context.Context, inst store.Instance, state store.InstanceState) {
	_, err := st.DB().ExecContext(ctx, "UPDATE instances SET state = $2 WHERE id = $1", inst.ID, state)
	Expect(err).NotTo(HaveOccurred())
}

func startRestore(ctx context.Context, inst store.Instance, b store.Binding) (store.Operation, error) {
	op := newOperation(store.OpRestore, inst.ID, b.ID)
	return op, st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingBound, op)
}

var _ = Describe("BoundBindings", func() {
	It("lists the bound bindings of the backend's ready and updating instances, and nothing else", func(ctx SpecContext) {
		ready := placedInstance(ctx, "redis", "redis-1")
		live := boundOn(ctx, ready, firstCredentials)
		updating := placedInstance(ctx, "redis", "redis-2")
		duringUpdate := boundOn(ctx, updating, firstCredentials)
		setInstanceState(ctx, updating, store.InstanceUpdating)

		By("leaving out the bindings of instances of other backends, failed or being deleted")
		boundOn(ctx, placedInstance(ctx, "postgresql", "pg-1"), firstCredentials)
		for _, state := range []store.InstanceState{store.InstanceDeprovisioning, store.InstanceDeleteFailed, store.InstanceFailed, store.InstanceProvisioning} {
			inst := placedInstance(ctx, "redis", "redis-1")
			boundOn(ctx, inst, firstCredentials)
			setInstanceState(ctx, inst, state)
		}

		By("leaving out bindings that failed, or are being deleted or created")
		failed := newBinding(ready.ID)
		failedOp := newOperation(store.OpBind, ready.ID, failed.ID)
		Expect(st.CreateBinding(ctx, failed, failedOp)).To(Succeed())
		Expect(st.Fail(ctx, claim(ctx, "w", failedOp.ID), "node redis-1 refused the connection")).To(Succeed())
		other := placedInstance(ctx, "redis", "redis-1")
		deleting := boundOn(ctx, ready, firstCredentials)
		Expect(st.StartBindingOperation(ctx, ready.ID, deleting.ID, store.BindingDeleting, newOperation(store.OpUnbind, ready.ID, deleting.ID))).To(Succeed())
		creating := newBinding(other.ID)
		Expect(st.CreateBinding(ctx, creating, newOperation(store.OpBind, other.ID, creating.ID))).To(Succeed())

		refs, err := st.BoundBindings(ctx, "redis", time.Minute)
		Expect(err).NotTo(HaveOccurred())
		Expect(refs).To(ConsistOf(
			store.BindingRef{InstanceID: ready.ID, BindingID: live.ID},
			store.BindingRef{InstanceID: updating.ID, BindingID: duringUpdate.ID},
		))
	})

	It("leaves out the bindings of an instance without a node", func(ctx SpecContext) {
		inst := placedInstance(ctx, "redis", "redis-1")
		boundOn(ctx, inst, firstCredentials)
		_, err := st.DB().ExecContext(ctx, "UPDATE instances SET node = NULL WHERE id = $1", inst.ID)
		Expect(err).NotTo(HaveOccurred())

		Expect(st.BoundBindings(ctx, "redis", time.Minute)).To(BeEmpty())
	})

	It("leaves out a binding whose restore failed within the quiet period, and lists it again after", func(ctx SpecContext) {
		inst := placedInstance(ctx, "redis", "redis-quiet")
		b := boundOn(ctx, inst, firstCredentials)
		op, err := startRestore(ctx, inst, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Fail(ctx, claim(ctx, "w", op.ID), "node redis-quiet refused the connection")).To(Succeed())

		mine := func(refs []store.BindingRef) []store.BindingRef {
			var out []store.BindingRef
			for _, r := range refs {
				if r.InstanceID == inst.ID {
					out = append(out, r)
				}
			}
			return out
		}
		refs, err := st.BoundBindings(ctx, "redis", time.Hour)
		Expect(err).NotTo(HaveOccurred())
		Expect(mine(refs)).To(BeEmpty())
		_, err = st.DB().ExecContext(ctx, "UPDATE operations SET finished_at = now() - interval '2 hours' WHERE id = $1", op.ID)
		Expect(err).NotTo(HaveOccurred())
		refs, err = st.BoundBindings(ctx, "redis", time.Hour)
		Expect(err).NotTo(HaveOccurred())
		Expect(mine(refs)).To(ConsistOf(store.BindingRef{InstanceID: inst.ID, BindingID: b.ID}))
	})

	It("returns none for a backend without bindings", func(ctx SpecContext) {
		Expect(st.BoundBindings(ctx, "rabbitmq", time.Minute)).To(BeEmpty())
	})
})

var _ = Describe("Restore operations", func() {
	var (
		inst store.Instance
		b    store.Binding
	)
	BeforeEach(func(ctx SpecContext) {
		inst = placedInstance(ctx, "redis", "redis-1")
		b = boundOn(ctx, inst, firstCredentials)
	})

	It("are queued for a bound binding, which stays bound and keeps its password and credentials", func(ctx SpecContext) {
		op, err := startRestore(ctx, inst, b)
		Expect(err).NotTo(HaveOccurred())

		stored, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(stored.Kind).To(Equal(store.OpRestore))
		Expect(stored.State).To(Equal(store.OpQueued))
		Expect(stored.BindingID).To(Equal(b.ID))
		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.State).To(Equal(store.BindingBound))
		Expect(got.Password == b.Password).To(BeTrue(), "the stored password is the one generated")
		Expect(got.Credentials).To(MatchJSON(`{"password":"first"}`))
	})

	It("keep every other operation of the instance out while queued, and a second restore too", func(ctx SpecContext) {
		_, err := startRestore(ctx, inst, b)
		Expect(err).NotTo(HaveOccurred())

		_, err = startRestore(ctx, inst, b)
		Expect(err).To(MatchError(store.ErrBusy))
		unbind := newOperation(store.OpUnbind, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, unbind)).To(MatchError(store.ErrBusy))
		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.State).To(Equal(store.BindingBound), "the refused unbind leaves the binding bound")
	})

	It("are not queued while another operation of the instance is", func(ctx SpecContext) {
		Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, newOperation(store.OpUpdate, inst.ID, ""))).To(Succeed())
		_, err := startRestore(ctx, inst, b)
		Expect(err).To(MatchError(store.ErrBusy))
	})

	DescribeTable("are not queued for a binding that is no longer bound, or whose instance is no longer in use",
		func(ctx SpecContext, change func(ctx context.Context), want error) {
			change(ctx)
			op, err := startRestore(ctx, inst, b)
			Expect(err).To(MatchError(want))
			_, err = st.GetOperation(ctx, op.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		},
		Entry("a failed binding", func(ctx context.Context) {
			_, err := st.DB().ExecContext(ctx, "UPDATE bindings SET state = 'failed' WHERE id = $1", b.ID)
			Expect(err).NotTo(HaveOccurred())
		}, store.ErrNotBound),
		Entry("a binding that is gone", func(ctx context.Context) {
			_, err := st.DB().ExecContext(ctx, "DELETE FROM bindings WHERE id = $1", b.ID)
			Expect(err).NotTo(HaveOccurred())
		}, store.ErrNotFound),
		Entry("an instance whose deprovision failed", func(ctx context.Context) {
			setInstanceState(ctx, inst, store.InstanceDeleteFailed)
		}, store.ErrNotBound),
	)

	It("must leave the binding bound", func(ctx SpecContext) {
		op := newOperation(store.OpRestore, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingCreating, op)).NotTo(Succeed())
		_, err := st.GetOperation(ctx, op.ID)
		Expect(err).To(MatchError(store.ErrNotFound))
	})

	It("on success seal the credentials again, and the binding stays bound", func(ctx SpecContext) {
		op, err := startRestore(ctx, inst, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), []byte(`{"password":"again"}`))).To(Succeed())

		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.State).To(Equal(store.BindingBound))
		Expect(got.Credentials).To(MatchJSON(`{"password":"again"}`))
		stored, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(stored.State).To(Equal(store.OpSucceeded))
	})

	It("on success without credentials (nothing to restore) keep the stored ones", func(ctx SpecContext) {
		op, err := startRestore(ctx, inst, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), nil)).To(Succeed())

		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.State).To(Equal(store.BindingBound))
		Expect(got.Credentials).To(MatchJSON(`{"password":"first"}`))
	})

	It("on failure leave the binding bound with its credentials, and a later restore may start", func(ctx SpecContext) {
		op, err := startRestore(ctx, inst, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Fail(ctx, claim(ctx, "w", op.ID), "node redis-1 refused the connection")).To(Succeed())

		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.State).To(Equal(store.BindingBound))
		Expect(got.Credentials).To(MatchJSON(`{"password":"first"}`))
		stored, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(stored.State).To(Equal(store.OpFailed))
		Expect(stored.Description).To(Equal("node redis-1 refused the connection"))

		_, err = startRestore(ctx, inst, b)
		Expect(err).NotTo(HaveOccurred())
	})

	It("never show as the binding's latest operation, which stays the platform's bind", func(ctx SpecContext) {
		bind, err := st.LatestOperation(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(bind.Kind).To(Equal(store.OpBind))

		op, err := startRestore(ctx, inst, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Fail(ctx, claim(ctx, "w", op.ID), "node redis-1 refused the connection")).To(Succeed())

		latest, err := st.LatestOperation(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(latest.ID).To(Equal(bind.ID))
		Expect(latest.State).To(Equal(store.OpSucceeded))

		unbind := newOperation(store.OpUnbind, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, unbind)).To(Succeed())
		latest, err = st.LatestOperation(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(latest.ID).To(Equal(unbind.ID))
	})

	It("are a kind the database accepts, where an unknown kind is refused", func(ctx SpecContext) {
		_, err := st.DB().ExecContext(ctx, "UPDATE operations SET kind = 'restore' WHERE instance_id = $1 AND binding_id = $2", inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		_, err = st.DB().ExecContext(ctx, "UPDATE operations SET kind = 'rebind' WHERE instance_id = $1 AND binding_id = $2", inst.ID, b.ID)
		Expect(err).To(MatchError(ContainSubstring("operations_kind_check")))
	})
})
