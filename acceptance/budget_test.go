package acceptance_test

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Waiting for the operation within the plan's budget", func() {
	When("the operation finishes within the budget and the platform accepts incomplete", func() {
		It("answers 201 to provision and 200 to deprovision, with no polling", func() {
			cf := shared.client()
			id := newID()

			By("provisioning the quick plan")
			r := cf.provision(id, provisionBody(quickPlan, nil), true)
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			Expect(r.Status).To(Equal(http.StatusCreated), r.String())
			Expect(databaseExists(backendDatabase(id))).To(BeTrue())
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())

			By("deprovisioning it")
			r = cf.deprovision(id, quickPlan, true)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())
		})
	})

	When("the operation outlives the plan's wait_budget and the platform accepts incomplete", func() {
		It("answers 202 once the wait_budget has passed, and the operation then succeeds", func() {
			cf := shared.client()
			id := newID()
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			lock := holdPlacementLock(shared.state)

			By("provisioning the quick plan while no provision can place its instance")
			start := time.Now()
			r := cf.provision(id, provisionBody(quickPlan, nil), true)
			elapsed := time.Since(start)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			op := operationOf(r)
			Expect(elapsed).To(BeNumerically(">=", quickWaitBudget), "the broker waits the plan's wait_budget before it answers 202")
			Expect(operationStates(sharedState, id, "provision")).To(Equal([]string{"running"}))

			By("letting it place the instance")
			lock.release()
			expectSucceeded(cf.awaitInstance(id, quickPlan, op))
			Expect(databaseExists(backendDatabase(id))).To(BeTrue())
		})
	})

	When("the platform does not accept incomplete", func() {
		It("waits past the plan's wait_budget, up to the long budget, and answers 201", func() {
			cf := shared.client()
			id := newID()
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			hold := quickWaitBudget + 2*time.Second
			holdPlacementLock(shared.state).releaseAfter(hold)

			start := time.Now()
			r := cf.provision(id, provisionBody(quickPlan, nil), false)
			elapsed := time.Since(start)
			Expect(r.Status).To(Equal(http.StatusCreated), r.String())
			Expect(elapsed).To(BeNumerically(">=", hold-500*time.Millisecond),
				"the answer waited for the operation, not the plan's %s wait_budget", quickWaitBudget)
			Expect(databaseExists(backendDatabase(id))).To(BeTrue())
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
		})

		It("answers 500 when the operation outlives the long budget, and the operation goes on", func() {
			state := newStateDB()
			id := newID()
			dropLeftoverDatabase(id)
			b := startBroker(state, map[string]string{"OMNIBROKER_SYNC_BUDGET": "1s"})
			cf := b.client()
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			lock := holdPlacementLock(state)

			By("provisioning without accepts_incomplete while no provision can place its instance")
			start := time.Now()
			r := cf.provision(id, provisionBody(quickPlan, nil), false)
			elapsed := time.Since(start)
			// A 4xx would tell the platform that nothing was created; a 5xx makes it clean up.
			expectOSBError(r, http.StatusInternalServerError)
			Expect(r.str("description")).To(ContainSubstring("accepts_incomplete"))
			Expect(elapsed).To(And(BeNumerically(">=", time.Second), BeNumerically("<", 10*time.Second)), "the answer came at the 1s budget")
			Expect(operationStates(state.open(), id, "provision")).To(ConsistOf(BeElementOf("queued", "running")),
				"the provision is still under way")
			lock.release()

			By("letting it place the instance: it becomes ready")
			Eventually(func(g Gomega) {
				r := cf.getInstance(id)
				g.Expect(r.Status).To(Equal(http.StatusOK), r.String())
			}).Should(Succeed())
			Expect(databaseExists(backendDatabase(id))).To(BeTrue())

			By("deprovisioning it")
			cf.deprovisionGone(id, quickPlan)
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())
		})
	})
})

var _ = Describe("Async-only plans", func() {
	When("the platform does not accept incomplete", func() {
		It("answers 422 AsyncRequired to provision and creates nothing", func() {
			cf := shared.client()
			id := newID()
			r := cf.provision(id, provisionBody(asyncPlan, nil), false)
			DeferCleanup(cf.deprovisionGone, id, asyncPlan)
			expectOSBErrorCode(r, http.StatusUnprocessableEntity, "AsyncRequired")
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
			expectNoInstanceStored(sharedState, id)
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())
		})

		It("answers 422 AsyncRequired to deprovision and keeps the instance", func() {
			cf := shared.client()
			id := newID()
			cf.provisionReady(id, asyncPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, asyncPlan)
			expectOSBErrorCode(cf.deprovision(id, asyncPlan, false), http.StatusUnprocessableEntity, "AsyncRequired")
			r := cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(databaseExists(backendDatabase(id))).To(BeTrue())
		})
	})
})
