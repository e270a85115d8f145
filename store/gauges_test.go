package store_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// counted reads the gauges: queued provisions, and the instances of plan in state.
func counted(ctx context.Context, plan string, state store.InstanceState) (queued, instances int) {
	g, err := st.ReadGauges(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, q := range g.Queue {
		if q.State == store.OpQueued && q.Kind == store.OpProvision {
			queued += q.Count
		}
	}
	for _, i := range g.Instances {
		if i.PlanID == plan && i.State == state {
			instances += i.Count
		}
	}
	return queued, instances
}

var _ = Describe("Gauges", func() {
	It("are led by one session at a time, which keeps the lock until it ends", func(ctx SpecContext) {
		first, second := openSession(ctx), openSession(ctx)
		Expect(first.LeadsGauges(ctx)).To(BeTrue())
		Expect(first.LeadsGauges(ctx)).To(BeTrue(), "it keeps the lock")
		Expect(second.LeadsGauges(ctx)).To(BeFalse())
		first.Close()
		// The server lets go of a closed session's locks once it has seen the connection end.
		Eventually(func() (bool, error) { return second.LeadsGauges(ctx) }).Should(BeTrue(), "the next session asked takes it over")
		_, err := first.LeadsGauges(ctx)
		Expect(err).To(MatchError(store.ErrSessionLost))
	})

	It("count the queue, its oldest operation and the instances by plan and state", func(ctx SpecContext) {
		inst, op := createInstance(ctx)
		queued, provisioning := counted(ctx, inst.PlanID, store.InstanceProvisioning)
		Expect(queued).To(BeNumerically(">=", 1))
		g, err := st.ReadGauges(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(g.OldestQueued()).To(BeNumerically(">", 0))

		Expect(st.Succeed(ctx, claim(ctx, "worker", op.ID), nil)).To(Succeed())
		queuedAfter, provisioningAfter := counted(ctx, inst.PlanID, store.InstanceProvisioning)
		Expect(queuedAfter).To(Equal(queued - 1))
		Expect(provisioningAfter).To(Equal(provisioning - 1))
		_, ready := counted(ctx, inst.PlanID, store.InstanceReady)
		Expect(ready).To(BeNumerically(">=", 1))
	})
})
