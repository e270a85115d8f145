package broker_test

import (
	"encoding/json"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Update", func() {
	Describe("a PATCH it refuses leaves the instance on its plan and parameters, with no operation queued", Ordered, func() {
		f := readyBeforeAll(quickPlan)

		DescribeTable("with the status and error the request earns",
			func(body map[string]any, async bool, status int, key, mention string) {
				resp := update(f.id, body, async)
				expectRefusal(resp, status, key)
				Expect(resp.body["description"]).To(ContainSubstring(mention))

				got := call("GET", instancePath(f.id), nil)
				Expect(got.body).To(HaveKeyWithValue("plan_id", quickPlan))
				Expect(got.body).To(HaveKeyWithValue("parameters", BeEmpty()))
				Expect(rowsOf(f.id).operations).To(Equal(1))
			},
			Entry("no service_id", map[string]any{"plan_id": asyncPlan}, true, 400, "BadRequest", "service_id is required"),
			Entry("a service's name as service_id", map[string]any{"service_id": "pg"}, true, 400, "BadRequest", `service_id "pg" is a service name; its id is "`+serviceID+`"`),
			Entry("a plan's name as plan_id", updateBody("async", nil), true, 400, "BadRequest", `plan_id "async" is a plan name; its id is "`+asyncPlan+`"`),
			Entry("another service", map[string]any{"service_id": cacheServiceID, "plan_id": cachePlan}, true, 400, "BadRequest", "is not the service of instance"),
			Entry("a plan_id not in the catalog", updateBody(uuid.NewString(), nil), true, 400, "BadRequest", "not in this broker's catalog"),
			Entry("a plan of another service", updateBody(cachePlan, nil), false, 400, "BadRequest", "belongs to service"),
			Entry("a version, which only a new instance may choose", updateBody("", map[string]any{"version": "16"}), true, 400, "BadRequest", "only be chosen when the service instance is created"),
			Entry("a plan on another backend", updateBody(downPlan, nil), true, 422, "PlanChangeNotSupported", "does not serve plan \"down\""),
			Entry("an async-only plan without accepts_incomplete", updateBody(asyncPlan, nil), false, 422, "AsyncRequired", "asynchronously"),
		)
	})

	When("the plan changes to an async-only one", func() {
		It("takes it with accepts_incomplete, and the instance has the new plan once the operation succeeded", func() {
			id := readyInstance(quickPlan)
			opID := startedOperation(update(id, updateBody(asyncPlan, nil), true), id, "")

			done := finished(id, "", opID)
			Expect(done.body).To(HaveKeyWithValue("state", "succeeded"))
			Expect(done.body).To(HaveKeyWithValue("description", "the service instance was updated"))
			Expect(call("GET", instancePath(id), nil).body).To(HaveKeyWithValue("plan_id", asyncPlan))
		})
	})

	When("the update finishes inside the budget", func() {
		It("answers 200, and keeps the parameters a PATCH leaves out", func() {
			id := readyInstance(quickPlan)
			Expect(update(id, updateBody("", map[string]any{"a": 1}), false).status).To(Equal(200))
			resp := update(id, updateBody(quickPlan, map[string]any{"b": "two"}), true)
			Expect(resp.status).To(Equal(200))
			Expect(resp.body).NotTo(HaveKey("operation"))

			got := call("GET", instancePath(id), nil)
			Expect(got.body).To(HaveKeyWithValue("plan_id", quickPlan))
			Expect(got.body).To(HaveKeyWithValue("parameters", Equal(map[string]any{"a": 1.0, "b": "two"})))
		})
	})

	When("the provision of the instance still runs", func() {
		DescribeTable("answers 422 ConcurrencyError and queues nothing",
			func(body map[string]any) {
				id, _ := heldProvision()
				expectRefusal(update(id, body, true), 422, "ConcurrencyError")
				Expect(rowsOf(id).operations).To(Equal(1))
			},
			Entry("new parameters", updateBody("", map[string]any{"a": 1})),
			// The instance has no node yet, so whether a node serves the new plan is not asked.
			Entry("a plan change", updateBody(quickPlan, nil)),
		)
	})

	When("an update waits in the queue", Ordered, func() {
		var id string
		var op store.Operation
		BeforeAll(func() {
			id = readyInstance(quickPlan)
			op = waiting(store.OpUpdate, id, "", store.UpdateRequest{PlanID: asyncPlan, PreviousPlanID: quickPlan, Parameters: json.RawMessage(`{"a": 1}`)})
		})

		It("answers the same PATCH with 202 and that operation", func() {
			Expect(operationID(update(id, updateBody(asyncPlan, map[string]any{"a": 1}), true))).To(Equal(op.ID))
			Expect(rowsOf(id).operations).To(Equal(2))
		})

		DescribeTable("answers another PATCH with 422 ConcurrencyError",
			func(body map[string]any) {
				expectRefusal(update(id, body, true), 422, "ConcurrencyError")
				Expect(rowsOf(id).operations).To(Equal(2))
			},
			Entry("another plan", updateBody(quickPlan, map[string]any{"a": 1})),
			Entry("other parameters", updateBody(asyncPlan, map[string]any{"a": 2})),
		)
	})

	describeUnusable("an instance left unusable answers 422 InstanceNotReady and queues nothing", func(id string) response {
		return update(id, updateBody("", map[string]any{"a": 1}), true)
	})

	When("the instance does not exist", func() {
		It("answers 404 and creates nothing", func() {
			id := uuid.NewString()
			expectRefusal(update(id, updateBody(asyncPlan, nil), true), 404, "")
			Expect(rowsOf(id)).To(Equal(rows{}))
		})
	})
})
