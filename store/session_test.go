package store_test

import (
	"context"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// openSession opens a session of the suite's store, closed when the spec ends.
func openSession(ctx context.Context) *store.Session {
	se, err := st.OpenSession(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(se.Close)
	return se
}

// claimTied claims the next operation through se with a lease of ten minutes, expecting it
// to be want: only its tie can free it within a spec.
func claimTied(ctx context.Context, se *store.Session, owner, want string) store.Operation {
	op, err := se.Claim(ctx, owner, 10*time.Minute)
	Expect(err).NotTo(HaveOccurred())
	Expect(op.ID).To(Equal(want))
	return op
}

// sessionOf is the server process of the session that op's running attempt is tied to, found
// as another client would: by the advisory lock on the operation's tie.
func sessionOf(ctx context.Context, opID string) int {
	var pid int
	Expect(st.DB().GetContext(ctx, &pid, `SELECT l.pid FROM pg_locks l JOIN operations o
		ON (l.classid::bigint << 32 | l.objid::bigint) = o.tie
		WHERE o.id = $1 AND l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted`, opID)).To(Succeed())
	return pid
}

var _ = Describe("Session", func() {
	It("ties what it claims to itself, and leaves it tied while it lives, however long", func(ctx SpecContext) {
		se := openSession(ctx)
		_, op := createInstance(ctx)
		claimTied(ctx, se, "worker-1", op.ID)

		Expect(se.Check(ctx)).To(Succeed())
		Expect(st.RescueOrphaned(ctx, noBackoff)).To(Equal(0))
		Expect(st.RescueOrphaned(ctx, noBackoff)).To(Equal(0), "a probe leaves no lock behind that a second one would take for the session's")
		Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpRunning))
	})

	When("it is closed with an operation running", func() {
		It("has the operation requeued on the next probe, after the delay for its attempt, and fences out the old claim", func(ctx SpecContext) {
			se := openSession(ctx)
			_, op := createInstance(ctx)
			stale := claimTied(ctx, se, "worker-1", op.ID)
			se.Close()

			var attempts []int
			after := func(attempt int) time.Duration {
				attempts = append(attempts, attempt)
				return 0
			}
			Expect(st.RescueOrphaned(ctx, after)).To(Equal(1))
			Expect(attempts).To(Equal([]int{1}))
			stored := storedOperation(ctx, op.ID)
			Expect(stored.State).To(Equal(store.OpQueued))
			Expect(stored.LeaseOwner).To(BeEmpty())
			Expect(stored.Description).To(ContainSubstring("stopped without finishing"))
			Expect(st.RenewLease(ctx, stale, time.Minute)).To(MatchError(store.ErrLeaseLost))
			Expect(st.Succeed(ctx, stale, nil)).To(MatchError(store.ErrLeaseLost))

			By("running it again through another session, as attempt 2, tied to that one")
			next := openSession(ctx)
			again := claimTied(ctx, next, "worker-2", op.ID)
			Expect(again.Attempt).To(Equal(2))
			Expect(st.RescueOrphaned(ctx, noBackoff)).To(Equal(0))
			Expect(st.Succeed(ctx, again, nil)).To(Succeed())
		})

		It("fails an operation on its last attempt with the effects of Fail", func(ctx SpecContext) {
			se := openSession(ctx)
			inst := newInstance()
			op := lastAttempt(store.OpProvision, inst.ID, "")
			Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())
			claimTied(ctx, se, "worker-1", op.ID)
			se.Close()

			Expect(st.RescueOrphaned(ctx, noBackoff)).To(Equal(1))
			Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpFailed))
			Expect(instanceState(ctx, inst.ID)).To(Equal(store.InstanceFailed))
		})
	})

	When("the state database ends its connection", func() {
		It("reports itself lost, claims nothing more, and its operation is requeued", func(ctx SpecContext) {
			se := openSession(ctx)
			_, op := createInstance(ctx)
			claimTied(ctx, se, "worker-1", op.ID)
			_, other := createInstance(ctx)

			Expect(st.DB().ExecContext(ctx, `SELECT pg_terminate_backend($1)`, sessionOf(ctx, op.ID))).Error().NotTo(HaveOccurred())
			Eventually(ctx, func() (int, error) { return st.RescueOrphaned(ctx, noBackoff) }).
				WithPolling(10 * time.Millisecond).Should(Equal(1))

			Expect(se.Check(ctx)).To(MatchError(store.ErrSessionLost))
			_, err := se.Claim(ctx, "worker-1", time.Minute)
			Expect(err).To(MatchError(store.ErrSessionLost))
			Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpQueued))
			Expect(storedOperation(ctx, other.ID).State).To(Equal(store.OpQueued), "the lost session claimed nothing")
		})
	})

	When("an operation was claimed without a session, by an older broker", func() {
		It("is left to its lease", func(ctx SpecContext) {
			_, op := createInstance(ctx)
			stale, err := st.Claim(ctx, "old-worker", time.Millisecond)
			Expect(err).NotTo(HaveOccurred())
			Expect(stale.ID).To(Equal(op.ID))

			Expect(st.RescueOrphaned(ctx, noBackoff)).To(Equal(0))
			Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpRunning))
			Eventually(ctx, func() (int, error) { return st.RescueExpired(ctx, noBackoff) }).
				WithPolling(5 * time.Millisecond).Should(Equal(1))
			Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpQueued))
		})
	})
})

var _ = Describe("A claim through a session", func() {
	It("reads the operation's instance in the same round trip, and none for an operation without one", func(ctx SpecContext) {
		se := openSession(ctx)
		inst, op := createInstance(ctx)
		claimed, got, err := se.ClaimWithInstance(ctx, "worker-1", time.Minute)
		Expect(err).NotTo(HaveOccurred())
		Expect(claimed.ID).To(Equal(op.ID))
		Expect(got).NotTo(BeNil())
		Expect(got.ID).To(Equal(inst.ID))
		Expect(got.PlanID).To(Equal(inst.PlanID))
		Expect(got.Backend).To(Equal(inst.Backend))
		Expect(got.State).To(Equal(store.InstanceProvisioning))
		Expect(got.Parameters).To(MatchJSON(inst.Parameters))

		purge, err := store.NewPurge(store.PurgeRequest{Backend: "redis", Node: "redis-1", ObjectKind: "user", ObjectName: "ob_" + uuid.NewString()[:8]}, 3)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.EnqueuePurge(ctx, purge)).To(Succeed())
		claimed, got, err = se.ClaimWithInstance(ctx, "worker-1", time.Minute)
		Expect(err).NotTo(HaveOccurred())
		Expect(claimed.ID).To(Equal(purge.ID))
		Expect(got).To(BeNil(), "a purge's instance id is an address, of no instance")
	})
})
