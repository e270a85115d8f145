package store_test

import (
	"encoding/json"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("CreateInstance", func() {
	It("writes the instance and its queued provision operation", func(ctx SpecContext) {
		inst := newInstance()
		op := newOperation(store.OpProvision, inst.ID, "")
		op.OriginatingIdentity = json.RawMessage(`{"user_id":"u-1"}`)
		Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())

		got, err := st.GetInstance(ctx, inst.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.ServiceID).To(Equal(inst.ServiceID))
		Expect(got.PlanID).To(Equal("small"))
		Expect(got.OrganizationGUID).To(Equal(inst.OrganizationGUID))
		Expect(got.SpaceGUID).To(Equal(inst.SpaceGUID))
		Expect(got.Parameters).To(MatchJSON(`{"size":1}`))
		Expect(got.Context).To(MatchJSON(`{"platform":"cloudfoundry"}`))
		Expect(got.Backend).To(Equal("postgresql"))
		Expect(got.Node).To(BeEmpty())
		Expect(got.State).To(Equal(store.InstanceProvisioning))
		Expect(got.CreatedAt).NotTo(BeZero())

		gotOp, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(gotOp.Kind).To(Equal(store.OpProvision))
		Expect(gotOp.InstanceID).To(Equal(inst.ID))
		Expect(gotOp.BindingID).To(BeEmpty())
		Expect(gotOp.State).To(Equal(store.OpQueued))
		Expect(gotOp.Attempt).To(Equal(0))
		Expect(gotOp.MaxAttempts).To(Equal(3))
		Expect(gotOp.LeaseOwner).To(BeEmpty())
		Expect(gotOp.LeaseExpiresAt).To(BeNil())
		Expect(gotOp.FinishedAt).To(BeNil())
		Expect(gotOp.OriginatingIdentity).To(MatchJSON(`{"user_id":"u-1"}`))

		latest, err := st.LatestOperation(ctx, inst.ID, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(latest.ID).To(Equal(op.ID))
	})

	It("fills defaults for absent JSON", func(ctx SpecContext) {
		inst := newInstance()
		inst.Parameters, inst.Context = nil, nil
		op := store.Operation{ID: uuid.NewString(), Kind: store.OpProvision, MaxAttempts: 2}
		Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())

		got, err := st.GetInstance(ctx, inst.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Parameters).To(MatchJSON(`{}`))
		Expect(got.Context).To(MatchJSON(`{}`))
		gotOp, err := st.GetOperation(ctx, op.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(gotOp.MaxAttempts).To(Equal(2))
		Expect(gotOp.Request).To(MatchJSON(`{}`))
		Expect(string(gotOp.OriginatingIdentity)).To(Equal("null"))
	})

	When("an instance with that id exists", func() {
		It("returns ErrConflict and changes nothing", func(ctx SpecContext) {
			inst, first := createInstance(ctx)

			again := inst
			again.PlanID = "large"
			second := newOperation(store.OpProvision, inst.ID, "")
			Expect(st.CreateInstance(ctx, again, second)).To(MatchError(store.ErrConflict))

			got, err := st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.PlanID).To(Equal("small"))
			_, err = st.GetOperation(ctx, second.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
			latest, err := st.LatestOperation(ctx, inst.ID, "")
			Expect(err).NotTo(HaveOccurred())
			Expect(latest.ID).To(Equal(first.ID))
		})
	})

	When("the operation id is already taken", func() {
		It("returns ErrConflict and writes no instance", func(ctx SpecContext) {
			_, op := createInstance(ctx)
			other := newInstance()
			Expect(st.CreateInstance(ctx, other, op)).To(MatchError(store.ErrConflict))
			_, err := st.GetInstance(ctx, other.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		})
	})

	DescribeTable("refuses an operation that may not run even once, and writes nothing",
		func(ctx SpecContext, maxAttempts int) {
			inst := newInstance()
			op := newOperation(store.OpProvision, inst.ID, "")
			op.MaxAttempts = maxAttempts
			Expect(st.CreateInstance(ctx, inst, op)).To(MatchError(ContainSubstring("MaxAttempts")))
			_, err := st.GetInstance(ctx, inst.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
			_, err = st.GetOperation(ctx, op.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		},
		Entry("MaxAttempts unset", 0),
		Entry("MaxAttempts negative", -1),
	)

	It("rejects an operation of another kind", func(ctx SpecContext) {
		inst := newInstance()
		Expect(st.CreateInstance(ctx, inst, newOperation(store.OpDeprovision, inst.ID, ""))).NotTo(Succeed())
		_, err := st.GetInstance(ctx, inst.ID)
		Expect(err).To(MatchError(store.ErrNotFound))
	})
})

var _ = Describe("GetInstance, GetBinding, GetOperation, LatestOperation", func() {
	It("return ErrNotFound for ids that were never written", func(ctx SpecContext) {
		_, err := st.GetInstance(ctx, uuid.NewString())
		Expect(err).To(MatchError(store.ErrNotFound))
		_, err = st.GetBinding(ctx, uuid.NewString(), uuid.NewString())
		Expect(err).To(MatchError(store.ErrNotFound))
		_, err = st.GetOperation(ctx, uuid.NewString())
		Expect(err).To(MatchError(store.ErrNotFound))
		_, err = st.LatestOperation(ctx, uuid.NewString(), "")
		Expect(err).To(MatchError(store.ErrNotFound))
	})

	It("find a binding only under its own instance", func(ctx SpecContext) {
		inst := readyInstance(ctx)
		b := newBinding(inst.ID)
		Expect(st.CreateBinding(ctx, b, newOperation(store.OpBind, inst.ID, b.ID))).To(Succeed())

		_, err := st.GetBinding(ctx, uuid.NewString(), b.ID)
		Expect(err).To(MatchError(store.ErrNotFound))
		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Password == b.Password).To(BeTrue(), "the stored password is the one generated")
		Expect(got.State).To(Equal(store.BindingCreating))
		Expect(got.AppGUID).To(Equal(b.AppGUID))
		Expect(got.Credentials).To(BeNil())
	})

	It("look a binding up by its id alone, without its secrets", func(ctx SpecContext) {
		inst := readyInstance(ctx)
		b := newBinding(inst.ID)
		Expect(st.CreateBinding(ctx, b, newOperation(store.OpBind, inst.ID, b.ID))).To(Succeed())

		got, err := st.LookupBinding(ctx, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.InstanceID).To(Equal(inst.ID))
		Expect(got.AppGUID).To(Equal(b.AppGUID))
		Expect(got.Password).To(BeEmpty())
		_, err = st.LookupBinding(ctx, uuid.NewString())
		Expect(err).To(MatchError(store.ErrNotFound))
	})

	It("keep the operations of an instance apart from those of its bindings", func(ctx SpecContext) {
		inst := readyInstance(ctx)
		provision, err := st.LatestOperation(ctx, inst.ID, "")
		Expect(err).NotTo(HaveOccurred())

		b := newBinding(inst.ID)
		bind := newOperation(store.OpBind, inst.ID, b.ID)
		Expect(st.CreateBinding(ctx, b, bind)).To(Succeed())

		latest, err := st.LatestOperation(ctx, inst.ID, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(latest.ID).To(Equal(provision.ID))
		latest, err = st.LatestOperation(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(latest.ID).To(Equal(bind.ID))
		Expect(latest.BindingID).To(Equal(b.ID))
	})
})

var _ = Describe("StartInstanceOperation", func() {
	When("the instance has an operation queued", func() {
		It("returns ErrBusy and writes nothing", func(ctx SpecContext) {
			inst, _ := createInstance(ctx)
			op := newOperation(store.OpDeprovision, inst.ID, "")
			Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceDeprovisioning, op)).To(MatchError(store.ErrBusy))

			got, err := st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.InstanceProvisioning))
			_, err = st.GetOperation(ctx, op.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		})
	})

	When("the instance does not exist", func() {
		It("returns ErrNotFound and writes no operation", func(ctx SpecContext) {
			id := uuid.NewString()
			op := newOperation(store.OpUpdate, id, "")
			Expect(st.StartInstanceOperation(ctx, id, store.InstanceUpdating, op)).To(MatchError(store.ErrNotFound))
			_, err := st.GetOperation(ctx, op.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		})
	})

	When("the instance is idle", func() {
		It("queues the operation and sets the instance's state", func(ctx SpecContext) {
			inst := readyInstance(ctx)
			op := newOperation(store.OpUpdate, inst.ID, "")
			Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, op)).To(Succeed())

			got, err := st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.InstanceUpdating))
			latest, err := st.LatestOperation(ctx, inst.ID, "")
			Expect(err).NotTo(HaveOccurred())
			Expect(latest.ID).To(Equal(op.ID))
			Expect(latest.State).To(Equal(store.OpQueued))
		})
	})
})

var _ = Describe("CreateBinding", func() {
	When("the instance does not exist", func() {
		It("returns ErrInstanceNotFound and writes nothing", func(ctx SpecContext) {
			b := newBinding(uuid.NewString())
			op := newOperation(store.OpBind, b.InstanceID, b.ID)
			Expect(st.CreateBinding(ctx, b, op)).To(MatchError(store.ErrInstanceNotFound))
			_, err := st.GetOperation(ctx, op.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		})
	})

	When("a binding with that id exists", func() {
		It("returns ErrConflict and keeps the first binding", func(ctx SpecContext) {
			inst := readyInstance(ctx)
			b := newBinding(inst.ID)
			Expect(st.CreateBinding(ctx, b, newOperation(store.OpBind, inst.ID, b.ID))).To(Succeed())

			again := b
			again.Password = "another"
			again.AppGUID = uuid.NewString()
			Expect(st.CreateBinding(ctx, again, newOperation(store.OpBind, inst.ID, b.ID))).To(MatchError(store.ErrConflict))

			got, err := st.GetBinding(ctx, inst.ID, b.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Password == b.Password).To(BeTrue(), "the stored password is the one generated")
			Expect(got.AppGUID).To(Equal(b.AppGUID))
		})
	})

	When("the instance has an operation queued", func() {
		It("returns ErrBusy and writes no binding", func(ctx SpecContext) {
			inst, _ := createInstance(ctx)
			b := newBinding(inst.ID)
			Expect(st.CreateBinding(ctx, b, newOperation(store.OpBind, inst.ID, b.ID))).To(MatchError(store.ErrBusy))
			_, err := st.GetBinding(ctx, inst.ID, b.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		})
	})
})

var _ = Describe("StartBindingOperation", func() {
	DescribeTable("returns ErrNotFound for a binding that does not exist, and writes no operation",
		func(ctx SpecContext, kind store.OperationKind, state store.BindingState) {
			inst := readyInstance(ctx)
			id := uuid.NewString()
			op := newOperation(kind, inst.ID, id)
			Expect(st.StartBindingOperation(ctx, inst.ID, id, state, op)).To(MatchError(store.ErrNotFound))
			_, err := st.GetOperation(ctx, op.ID)
			Expect(err).To(MatchError(store.ErrNotFound))
		},
		Entry("an unbind", store.OpUnbind, store.BindingDeleting),
		Entry("a restore", store.OpRestore, store.BindingBound),
	)

	It("returns ErrBusy while the bind is still queued, leaving the binding as it was", func(ctx SpecContext) {
		inst := readyInstance(ctx)
		b := newBinding(inst.ID)
		Expect(st.CreateBinding(ctx, b, newOperation(store.OpBind, inst.ID, b.ID))).To(Succeed())

		op := newOperation(store.OpUnbind, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, op)).To(MatchError(store.ErrBusy))
		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.State).To(Equal(store.BindingCreating))
	})
})
