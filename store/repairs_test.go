package store_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

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
