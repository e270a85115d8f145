package broker_test

import (
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// claimedAtEnqueue tells whether the first attempt of the provision of instance id was claimed
// in the transaction that queued it: it started at the operation's creation, on the clock of
// that one transaction. The second result is the operation's state.
func claimedAtEnqueue(id string) (bool, string) {
	GinkgoHelper()
	var row struct {
		Same  bool   `db:"same"`
		State string `db:"state"`
	}
	Expect(st.DB().Get(&row, `
		SELECT COALESCE(a.started_at = o.created_at, false) AS same, o.state
		FROM operations o
		LEFT JOIN operation_attempts a ON a.operation_id = o.id AND a.attempt = 1
		WHERE o.instance_id = $1 AND o.kind = 'provision'`, id)).To(Succeed())
	return row.Same, row.State
}

var _ = Describe("The hand-off to an idle worker", func() {
	It("runs a request's operation on a worker of its replica that was idle, claimed as it was queued", func() {
		id := uuid.NewString()
		Expect(provision(id, cachePlan, true).status).To(Equal(201))
		DeferCleanup(func() { Expect(deprovision(id, cachePlan, true).status).To(Equal(200)) })
		claimed, state := claimedAtEnqueue(id)
		Expect(state).To(Equal("succeeded"))
		Expect(claimed).To(BeTrue(), "no claim of its own, after the enqueue")
	})

	It("leaves the operation in the queue while every worker of the replica is busy, for the first to come free", func() {
		lock := testkit.HoldPlacementLock(GinkgoT(), st.DB().DB, "down")
		for range 2 { // the suite's two workers, each waiting for the lock to place a provision
			id := uuid.NewString()
			opID := operationID(provision(id, downPlan, true))
			DeferCleanup(func() { finished(id, "", opID) })
			Eventually(func() any { return poll(id, "", opID).body["description"] }, 10*time.Second, 20*time.Millisecond).
				Should(Equal("provision is running"))
		}

		id := uuid.NewString()
		opID := operationID(provision(id, asyncPlan, true))
		Consistently(func() string { _, state := claimedAtEnqueue(id); return state }, 500*time.Millisecond).Should(Equal("queued"))
		lock.Release()
		succeedThenDelete(id, opID)
		claimed, _ := claimedAtEnqueue(id)
		Expect(claimed).To(BeFalse(), "claimed from the queue, once a worker came free")
	})
})
