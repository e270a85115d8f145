package acceptance_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Idempotency", func() {
	var (
		cf     *osbClient
		id     string
		params map[string]any
		body   map[string]any
	)

	BeforeEach(func() {
		cf = shared.client()
		id = newID()
		params = map[string]any{"extensions": []any{"citext"}}
		body = provisionBody(quickPlan, params)
		r := cf.provision(id, body, true)
		DeferCleanup(cf.deprovisionGone, id, quickPlan)
		Expect(r.Status).To(Equal(http.StatusCreated), r.String())
	})

	When("the same provision arrives again after it finished", func() {
		It("answers 200", func() {
			r := cf.provision(id, body, true)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body).NotTo(BeNil(), r.String())
		})
	})

	When("a provision with the same id arrives with other attributes", func() {
		It("answers 409 to another plan and to other parameters, and leaves the instance as it was", func() {
			expectOSBError(cf.provision(id, with(body, "plan_id", fixedPlanID), true), http.StatusConflict)
			expectOSBError(cf.provision(id, with(body, "parameters", map[string]any{"extensions": []any{"hstore"}}), true), http.StatusConflict)

			r := cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body).To(HaveKeyWithValue("plan_id", quickPlanID))
			Expect(asJSON(r.Body["parameters"])).To(MatchJSON(`{"extensions": ["citext"]}`))
		})
	})

	Describe("binding", func() {
		var (
			bindingID string
			appGUID   string
			creds     credentials
		)

		BeforeEach(func() {
			bindingID, appGUID = newID(), newID()
			r := cf.bind(id, bindingID, bindBody(quickPlan, appGUID, nil), true)
			DeferCleanup(cf.unbindGone, id, bindingID, quickPlan)
			Expect(r.Status).To(Equal(http.StatusCreated), r.String())
			creds = credentialsOf(r)
		})

		When("the same bind arrives again", func() {
			It("answers 200 with the same credentials", func() {
				r := cf.bind(id, bindingID, bindBody(quickPlan, appGUID, nil), true)
				Expect(r.Status).To(Equal(http.StatusOK), r.String())
				Expect(credentialsOf(r)).To(Equal(creds))
				mustConnect(creds.str("uri"))
			})
		})

		When("a bind with the same id arrives with other parameters or another app", func() {
			It("answers 409 and keeps the first credentials", func() {
				same := bindBody(quickPlan, appGUID, nil)
				expectOSBError(cf.bind(id, bindingID, with(same, "parameters", map[string]any{"role": "reader"}), true), http.StatusConflict)
				otherApp := newID()
				expectOSBError(cf.bind(id, bindingID, with(with(same, "app_guid", otherApp), "bind_resource", map[string]any{"app_guid": otherApp}), true), http.StatusConflict)

				r := cf.getBinding(id, bindingID)
				Expect(r.Status).To(Equal(http.StatusOK), r.String())
				Expect(credentialsOf(r)).To(Equal(creds))
				mustConnect(creds.str("uri"))
			})
		})
	})
})
