package store_test

import (
	"context"
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Maintenance versions", func() {
	update := func(ctx context.Context, inst store.Instance, version string) {
		GinkgoHelper()
		request, err := json.Marshal(store.UpdateRequest{PlanID: inst.PlanID, PreviousPlanID: inst.PlanID, MaintenanceVersion: version})
		Expect(err).NotTo(HaveOccurred())
		op := store.NewOperation(store.OpUpdate, inst.ID, "", 3, request, []byte(`{}`))
		Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, op)).To(Succeed())
		Expect(st.Succeed(ctx, claim(ctx, "worker", op.ID), nil)).To(Succeed())
	}
	versionOf := func(ctx context.Context, id string) string {
		GinkgoHelper()
		inst, err := st.GetInstance(ctx, id)
		Expect(err).NotTo(HaveOccurred())
		return inst.MaintenanceVersion
	}

	It("keeps the version an instance was created at, and none as none", func(ctx SpecContext) {
		inst := newInstance()
		inst.MaintenanceVersion = "1.2.0"
		Expect(st.CreateInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""))).To(Succeed())
		Expect(versionOf(ctx, inst.ID)).To(Equal("1.2.0"))

		var stored *string
		none, _ := createInstance(ctx)
		Expect(st.DB().GetContext(ctx, &stored, `SELECT maintenance_version FROM instances WHERE id = $1`, none.ID)).To(Succeed())
		Expect(stored).To(BeNil(), "an instance without a version stores NULL, older than any")
		Expect(versionOf(ctx, none.ID)).To(BeEmpty())
	})

	It("records the version of a succeeded update, and keeps the old one while it runs or when it fails", func(ctx SpecContext) {
		inst := readyInstance(ctx)
		update(ctx, inst, "2.0.0")
		Expect(versionOf(ctx, inst.ID)).To(Equal("2.0.0"))

		request, err := json.Marshal(store.UpdateRequest{PlanID: inst.PlanID, MaintenanceVersion: "3.0.0"})
		Expect(err).NotTo(HaveOccurred())
		op := store.NewOperation(store.OpUpdate, inst.ID, "", 3, request, []byte(`{}`))
		Expect(st.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, op)).To(Succeed())
		Expect(versionOf(ctx, inst.ID)).To(Equal("2.0.0"))
		Expect(st.Fail(ctx, claim(ctx, "worker", op.ID), "the node refused")).To(Succeed())
		Expect(versionOf(ctx, inst.ID)).To(Equal("2.0.0"))

		update(ctx, inst, "")
		Expect(versionOf(ctx, inst.ID)).To(BeEmpty(), "an update to a plan without a version records none")
	})

	It("lists an instance's bound bindings with their passwords, and no pending one", func(ctx SpecContext) {
		inst, bound := boundBinding(ctx, `{"username":"u"}`)
		other := boundOn(ctx, inst, `{"username":"v"}`)
		pendingBinding(ctx, inst)

		list, err := st.InstanceBindings(ctx, inst.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(HaveLen(2))
		byID := map[string]store.Binding{list[0].ID: list[0], list[1].ID: list[1]}
		Expect(byID).To(HaveKey(bound.ID))
		Expect(byID).To(HaveKey(other.ID))
		Expect(byID[bound.ID].Password).To(Equal(bound.Password))
	})
})
