package acceptance_test

import (
	"net/http"

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

	When("the platform does not accept incomplete", func() {
		It("waits the long budget and answers 201", func() {
			cf := shared.client()
			id := newID()
			r := cf.provision(id, provisionBody(quickPlan, nil), false)
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			Expect(r.Status).To(Equal(http.StatusCreated), r.String())
			Expect(databaseExists(backendDatabase(id))).To(BeTrue())
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
