package acceptance_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const unknownID = "00000000-0000-4000-8000-000000000000"

const malformedJSON = `{"service_id": "` + pgServiceID + `", "plan_id": `

// expectNoInstance checks that a provision the shared broker refused left nothing behind:
// not in its answers, not in its state database, not on the backend.
func expectNoInstance(cf *osbClient, id string) {
	GinkgoHelper()
	r := cf.getInstance(id)
	Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
	expectNoInstanceStored(sharedState, id)
	Expect(databaseExists(backendDatabase(id))).To(BeFalse(), "no database was created")
}

var _ = Describe("Validation", func() {
	var cf *osbClient

	BeforeEach(func() {
		cf = shared.client()
	})

	Describe("provision", func() {
		var id string

		BeforeEach(func() {
			id = newID()
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
		})

		It("answers 400 to a malformed JSON body and creates nothing", func() {
			expectOSBError(cf.provision(id, malformedJSON, true), http.StatusBadRequest)
			expectNoInstance(cf, id)
		})

		DescribeTable("answers 400 BadRequest naming a missing required field as OSB spells it, and creates nothing",
			func(field string) {
				r := cf.provision(id, with(provisionBody(quickPlan, nil), field, nil), true)
				expectOSBErrorCode(r, http.StatusBadRequest, "BadRequest")
				Expect(r.str("description")).To(Equal(field + " is required"))
				expectNoInstance(cf, id)
			},
			Entry("service_id", "service_id"),
			Entry("plan_id", "plan_id"),
			Entry("organization_guid", "organization_guid"),
			Entry("space_guid", "space_guid"),
		)

		DescribeTable("answers 400 BadRequest to ids that are not in the catalog, naming the id to send for a name, and creates nothing",
			func(p plan, description string) {
				r := cf.provision(id, provisionBody(p, nil), true)
				expectOSBErrorCode(r, http.StatusBadRequest, "BadRequest")
				Expect(r.str("description")).To(ContainSubstring(description))
				expectNoInstance(cf, id)
			},
			Entry("an unknown service", plan{unknownID, quickPlanID}, `service_id "`+unknownID+`" is not in this broker's catalog`),
			Entry("an unknown plan", plan{pgServiceID, unknownID}, `plan_id "`+unknownID+`" is not in this broker's catalog`),
			Entry("a plan of another service", plan{pgServiceID, otherPlanID}, `plan_id "`+otherPlanID+`" belongs to service`),
			Entry("a service's name", plan{"pg-test", quickPlanID}, `service_id "pg-test" is a service name; its id is "`+pgServiceID+`"`),
			Entry("a plan's name", plan{pgServiceID, "quick"}, `plan_id "quick" is a plan name; its id is "`+quickPlanID+`"`),
		)

		DescribeTable("answers 400 naming the field when parameters break the plan's schema, and creates nothing",
			func(params map[string]any, field string) {
				r := cf.provision(id, provisionBody(quickPlan, params), true)
				expectOSBError(r, http.StatusBadRequest)
				Expect(r.str("description")).To(ContainSubstring(field))
				expectNoInstance(cf, id)
			},
			Entry("an extension not in the enum", map[string]any{"extensions": []any{"nope"}}, "extensions"),
			Entry("extensions that are not an array", map[string]any{"extensions": "citext"}, "extensions"),
			Entry("a property the schema does not allow", map[string]any{"colour": "blue"}, "colour"),
		)
	})

	Describe("update", func() {
		var id string

		BeforeEach(func() {
			id = newID()
			r := cf.provision(id, provisionBody(quickPlan, map[string]any{"extensions": []any{"citext"}}), true)
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			Expect(r.Status).To(Equal(http.StatusCreated), r.String())
		})

		expectUnchanged := func() {
			GinkgoHelper()
			r := cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body).To(HaveKeyWithValue("plan_id", quickPlanID))
			Expect(asJSON(r.Body["parameters"])).To(MatchJSON(`{"extensions": ["citext"]}`))
		}

		It("answers 400 to a malformed JSON body", func() {
			expectOSBError(cf.update(id, malformedJSON, true), http.StatusBadRequest)
			expectUnchanged()
		})

		DescribeTable("answers 400 to ids that are not in the catalog",
			func(p plan) {
				expectOSBError(cf.update(id, updateBody(quickPlan, p, nil), true), http.StatusBadRequest)
				expectUnchanged()
			},
			Entry("an unknown service", plan{unknownID, quickPlanID}),
			Entry("an unknown plan", plan{pgServiceID, unknownID}),
			Entry("a plan of another service", plan{pgServiceID, otherPlanID}),
		)

		It("answers 400 naming the field when parameters break the plan's schema", func() {
			r := cf.update(id, updateBody(quickPlan, quickPlan, map[string]any{"extensions": []any{"nope"}}), true)
			expectOSBError(r, http.StatusBadRequest)
			Expect(r.str("description")).To(ContainSubstring("extensions"))
			expectUnchanged()
		})
	})

	Describe("update away from a plan that cannot change", func() {
		It("answers 422 PlanChangeNotSupported and keeps the plan", func() {
			id := newID()
			cf.provisionReady(id, fixedPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, fixedPlan)

			r := cf.update(id, updateBody(fixedPlan, quickPlan, nil), true)
			expectOSBError(r, http.StatusUnprocessableEntity)
			Expect(r.Body).To(HaveKeyWithValue("error", "PlanChangeNotSupported"))
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body).To(HaveKeyWithValue("plan_id", fixedPlanID))
		})
	})

	Describe("bind", func() {
		var id, bindingID string

		BeforeEach(func() {
			id, bindingID = newID(), newID()
			r := cf.provision(id, provisionBody(quickPlan, nil), true)
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			Expect(r.Status).To(Equal(http.StatusCreated), r.String())
			DeferCleanup(cf.unbindGone, id, bindingID, quickPlan)
		})

		expectNoBinding := func() {
			GinkgoHelper()
			r := cf.getBinding(id, bindingID)
			Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
			expectNoBindingStored(sharedState, bindingID)
		}

		It("answers 400 to a malformed JSON body", func() {
			expectOSBError(cf.bind(id, bindingID, malformedJSON, true), http.StatusBadRequest)
			expectNoBinding()
		})

		DescribeTable("answers 400 to ids that are not in the catalog",
			func(p plan) {
				expectOSBError(cf.bind(id, bindingID, bindBody(p, newID(), nil), true), http.StatusBadRequest)
				expectNoBinding()
			},
			Entry("an unknown service", plan{unknownID, quickPlanID}),
			Entry("an unknown plan", plan{pgServiceID, unknownID}),
			Entry("a plan of another service", plan{pgServiceID, otherPlanID}),
		)
	})
})
