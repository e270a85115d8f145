package store_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("InstanceUsage", func() {
	// instanceOn creates an instance of plan on node ("" for none yet) with parameters and
	// sets it in state.
	instanceOn := func(ctx context.Context, node, plan, parameters string, state store.InstanceState) store.Instance {
		inst := newInstance()
		inst.Node, inst.PlanID, inst.Parameters = node, plan, []byte(parameters)
		Expect(st.CreateInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""))).To(Succeed())
		Expect(st.DB().ExecContext(ctx, `UPDATE instances SET state = $2 WHERE id = $1`, inst.ID, state)).Error().NotTo(HaveOccurred())
		time.Sleep(time.Millisecond) // created_at orders the sample
		return inst
	}

	It("counts the instances by backend, node, plan, asked-for version and state, with the oldest ids", func(ctx SpecContext) {
		var first []string
		for range store.UsageSample + 1 {
			first = append(first, instanceOn(ctx, "pg-1", "small", `{"version":"16"}`, store.InstanceReady).ID)
		}
		failed := instanceOn(ctx, "pg-1", "small", `{"version":"16"}`, store.InstanceFailed)
		numeric := instanceOn(ctx, "pg-1", "small", `{"version":16,"size":1}`, store.InstanceReady)
		unplaced := instanceOn(ctx, "", "large", `{}`, store.InstanceProvisioning)

		usage, err := st.InstanceUsage(ctx, "version")
		Expect(err).NotTo(HaveOccurred())
		Expect(usage).To(Equal([]store.Usage{
			{Backend: "postgresql", Node: "", PlanID: "large", State: store.InstanceProvisioning, Instances: 1, InstanceIDs: []string{unplaced.ID}},
			{Backend: "postgresql", Node: "pg-1", PlanID: "small", Version: "", State: store.InstanceReady, Instances: 1, InstanceIDs: []string{numeric.ID}},
			{Backend: "postgresql", Node: "pg-1", PlanID: "small", Version: "16", State: store.InstanceFailed, Instances: 1, InstanceIDs: []string{failed.ID}},
			{Backend: "postgresql", Node: "pg-1", PlanID: "small", Version: "16", State: store.InstanceReady, Instances: store.UsageSample + 1, InstanceIDs: first[:store.UsageSample]},
		}), "a version that is not a string counts as none asked for")
	})

	It("counts nothing when there are no instances", func(ctx SpecContext) {
		Expect(st.InstanceUsage(ctx, "version")).To(BeEmpty())
	})
})
