package store_test

import (
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("The operator's instances", func() {
	It("lists the instances a filter matches, with their bindings counted and their latest operation", func(ctx SpecContext) {
		ready, _ := boundBinding(ctx, `{}`)
		pending, provision := createInstance(ctx)
		Expect(st.Fail(ctx, claim(ctx, "w", provision.ID), "node pg-2 refused the connection")).To(Succeed())

		all, err := st.ListInstances(ctx, store.InstanceFilter{})
		Expect(err).NotTo(HaveOccurred())
		Expect(all).To(HaveExactElements(
			SatisfyAll(HaveField("ID", ready.ID), HaveField("Bindings", 1), HaveField("LastKind", store.OpProvision), HaveField("LastState", store.OpSucceeded)),
			SatisfyAll(HaveField("ID", pending.ID), HaveField("State", store.InstanceFailed), HaveField("LastState", store.OpFailed)),
		))
		Expect(st.ListInstances(ctx, store.InstanceFilter{State: store.InstanceFailed})).To(ConsistOf(HaveField("ID", pending.ID)))
		Expect(st.ListInstances(ctx, store.InstanceFilter{PlanIDs: []string{"large", "small"}, Limit: 1})).To(ConsistOf(HaveField("ID", ready.ID)))
		Expect(st.ListInstances(ctx, store.InstanceFilter{PlanIDs: []string{"large"}})).To(BeEmpty())
		Expect(st.ListInstances(ctx, store.InstanceFilter{Node: "pg-2"})).To(BeEmpty(), "neither was placed")
	})

	It("forgets an instance and its bindings in any state, refusing while an operation of it is queued", func(ctx SpecContext) {
		inst, b := boundBinding(ctx, `{}`)
		unbind := newOperation(store.OpUnbind, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingDeleting, unbind)).To(Succeed())
		_, _, err := st.ForgetInstance(ctx, inst.ID)
		Expect(errors.Is(err, store.ErrBusy)).To(BeTrue(), "%v", err)
		Expect(st.Fail(ctx, claim(ctx, "w", unbind.ID), "node refused")).To(Succeed())

		forgotten, names, err := st.ForgetInstance(ctx, inst.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(forgotten.ID).To(Equal(inst.ID))
		Expect(names).To(ConsistOf(HaveField("ID", b.ID)))
		_, err = st.GetInstance(ctx, inst.ID)
		Expect(errors.Is(err, store.ErrNotFound)).To(BeTrue())
		Expect(st.BindingsOf(ctx, inst.ID)).To(BeEmpty())
		Expect(st.GetOperation(ctx, unbind.ID)).To(HaveField("State", store.OpFailed), "its operations stay")
		_, _, err = st.ForgetInstance(ctx, inst.ID)
		Expect(errors.Is(err, store.ErrNotFound)).To(BeTrue())
	})
})
