package broker_test

import (
	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Bind", func() {
	describeUnusable("an instance left unusable answers 422 InstanceNotReady and writes no binding", func(id string) response {
		return bind(id, uuid.NewString(), bindBody(downPlan, uuid.NewString()), true)
	})

	DescribeTable("while another operation on the instance is queued or running it answers 422 ConcurrencyError and writes no binding",
		func(busy func() (string, string)) {
			id, plan := busy()
			before := rowsOf(id)
			expectRefusal(bind(id, uuid.NewString(), bindBody(plan, uuid.NewString()), true), 422, "ConcurrencyError")
			Expect(rowsOf(id)).To(Equal(before))
		},
		Entry("its provision", func() (string, string) { id, _ := heldProvision(); return id, downPlan }),
		Entry("its deprovision", func() (string, string) {
			id := readyInstance(cachePlan)
			waiting(store.OpDeprovision, id, "", nil)
			return id, cachePlan
		}),
		Entry("its update", func() (string, string) {
			id := readyInstance(cachePlan)
			waiting(store.OpUpdate, id, "", nil)
			return id, cachePlan
		}),
	)

	When("an operation on another binding of the instance is queued", func() {
		It("binds all the same, without waiting for it", func() {
			id := readyInstance(cachePlan)
			waitingBind(id, cachePlan)
			waiting(store.OpUnbind, id, boundBinding(id, cachePlan).id, nil)
			b := boundBinding(id, cachePlan)
			Expect(b.creds).To(HaveKey("password"))
		})
	})

	Describe("a binding that is bound", Ordered, func() {
		f := boundBeforeAll(quickPlan)

		It("hands out credentials an application logs in with", func() {
			Expect(loginWorks(f.b.creds)).To(BeTrue(), "the binding's login works")
			got := call("GET", bindingPath(f.id, f.b.id), nil)
			Expect(sameSecrets(got.body["credentials"], f.b.creds)).To(BeTrue(), "GET binding shows the bind's credentials")
		})

		It("answers the same PUT with 200 and the same credentials", func() {
			again := bind(f.id, f.b.id, bindBody(quickPlan, f.b.app), true)
			Expect(again.status).To(Equal(200))
			Expect(sameSecrets(again.body["credentials"], f.b.creds)).To(BeTrue(), "the same credentials again")
			Expect(rowsOf(f.id)).To(Equal(rows{instances: 1, bindings: 1, operations: 2}))
		})

		DescribeTable("answers a PUT with other attributes with 409 and keeps the binding as it was",
			func(change func(body map[string]any)) {
				body := bindBody(quickPlan, f.b.app)
				change(body)
				expectRefusal(bind(f.id, f.b.id, body, true), 409, "")
				got := call("GET", bindingPath(f.id, f.b.id), nil)
				Expect(sameSecrets(got.body["credentials"], f.b.creds)).To(BeTrue(), "the credentials are unchanged")
				Expect(rowsOf(f.id)).To(Equal(rows{instances: 1, bindings: 1, operations: 2}))
			},
			Entry("another app", func(b map[string]any) { b["app_guid"] = uuid.NewString() }),
			Entry("other parameters", func(b map[string]any) { b["parameters"] = map[string]any{"read_only": true} }),
			Entry("a bind_resource it did not have", func(b map[string]any) { b["bind_resource"] = map[string]any{"route": "r.example.com"} }),
			// Conflicts come first: each of these would otherwise be a 400 or a 422.
			Entry("another plan of the service", func(b map[string]any) { b["plan_id"] = asyncPlan }),
			Entry("a plan not in the catalog", func(b map[string]any) { b["plan_id"] = uuid.NewString() }),
			Entry("a service not in the catalog", func(b map[string]any) { b["service_id"] = uuid.NewString() }),
			Entry("parameters and no accepts_incomplete on an async-only plan", func(b map[string]any) {
				b["plan_id"], b["parameters"] = asyncPlan, map[string]any{"x": 1}
			}),
		)

		It("answers 409 to the same binding id on another instance", func() {
			other := readyInstance(cachePlan)
			expectRefusal(bind(other, f.b.id, bindBody(cachePlan, f.b.app), true), 409, "")
			Expect(rowsOf(other).bindings).To(BeZero())
		})
	})

	Describe("a bind it refuses writes nothing", Ordered, func() {
		f := readyBeforeAll(quickPlan)

		DescribeTable("answering 400",
			func(change func(body map[string]any), mention string) {
				body := bindBody(quickPlan, uuid.NewString())
				change(body)
				resp := bind(f.id, uuid.NewString(), body, true)
				expectRefusal(resp, 400, "BadRequest")
				Expect(resp.body["description"]).To(ContainSubstring(mention))
				Expect(rowsOf(f.id)).To(Equal(rows{instances: 1, operations: 1}))
			},
			Entry("no service_id", func(b map[string]any) { delete(b, "service_id") }, "service_id is required"),
			Entry("no plan_id", func(b map[string]any) { delete(b, "plan_id") }, "plan_id is required"),
			Entry("a service_id not in the catalog", func(b map[string]any) { b["service_id"] = uuid.NewString() }, "not in this broker's catalog"),
			Entry("a plan_id not in the catalog", func(b map[string]any) { b["plan_id"] = uuid.NewString() }, "not in this broker's catalog"),
			Entry("a plan's name as plan_id", func(b map[string]any) { b["plan_id"] = "quick" }, `plan_id "quick" is a plan name; its id is "`+quickPlan+`"`),
			Entry("a plan of another service", func(b map[string]any) { b["plan_id"] = cachePlan }, "belongs to service"),
			Entry("another plan of the instance's service", func(b map[string]any) { b["plan_id"] = asyncPlan }, "must be those of service instance"),
		)
	})

	When("a bind waits in the queue", Ordered, func() {
		var id string
		var b binding
		var op store.Operation
		BeforeAll(func() {
			id = readyInstance(asyncPlan)
			b, op = waitingBind(id, asyncPlan)
		})

		It("answers the same PUT with 202 and that operation", func() {
			Expect(operationID(bind(id, b.id, bindBody(asyncPlan, b.app), true))).To(Equal(op.ID))
			Expect(rowsOf(id)).To(Equal(rows{instances: 1, bindings: 1, operations: 2}))
		})

		It("answers a PUT of that binding for another app with 409", func() {
			expectRefusal(bind(id, b.id, bindBody(asyncPlan, uuid.NewString()), true), 409, "")
			Expect(rowsOf(id)).To(Equal(rows{instances: 1, bindings: 1, operations: 2}))
		})
	})

	When("the plan runs its operations asynchronously only", func() {
		It("answers 422 AsyncRequired without accepts_incomplete, and binds with it, after which GET shows the credentials", func() {
			id := readyInstance(asyncPlan)
			bindingID, app := uuid.NewString(), uuid.NewString()
			expectRefusal(bind(id, bindingID, bindBody(asyncPlan, app), false), 422, "AsyncRequired")
			Expect(rowsOf(id).bindings).To(BeZero())

			opID := startedOperation(bind(id, bindingID, bindBody(asyncPlan, app), true), id, bindingID)
			DeferCleanup(func() { Expect(unbind(id, bindingID, asyncPlan, true).status).To(BeElementOf(202, 410)) })
			done := finished(id, bindingID, opID)
			Expect(done.body).To(HaveKeyWithValue("state", "succeeded"))
			Expect(done.body).To(HaveKeyWithValue("description", "the binding is ready"))

			got := call("GET", bindingPath(id, bindingID), nil)
			Expect(got.status).To(Equal(200))
			Expect(loginWorks(got.body["credentials"].(map[string]any))).To(BeTrue(), "the binding's login works")
			again := bind(id, bindingID, bindBody(asyncPlan, app), true)
			Expect(again.status).To(Equal(200))
			Expect(sameSecrets(again.body["credentials"], got.body["credentials"])).To(BeTrue(), "the same credentials again")
		})
	})

	When("the plan runs only its instance operations asynchronously (async_only without bindings_async_only)", func() {
		It("binds and unbinds within the budget, with and without accepts_incomplete", func() {
			id := readyInstance(asyncInstancesPlan)
			for _, async := range []bool{false, true} {
				bindingID := uuid.NewString()
				resp := bind(id, bindingID, bindBody(asyncInstancesPlan, uuid.NewString()), async)
				Expect(resp.status).To(Equal(201), "body %v", redacted(resp.body))
				Expect(loginWorks(resp.body["credentials"].(map[string]any))).To(BeTrue(), "the binding's login works")
				Expect(unbind(id, bindingID, asyncInstancesPlan, async).status).To(Equal(200))
			}
			expectRefusal(deprovision(id, asyncInstancesPlan, false), 422, "AsyncRequired")
		})
	})

	When("the instance does not exist", func() {
		It("answers 404 and writes nothing", func() {
			id := uuid.NewString()
			expectRefusal(bind(id, uuid.NewString(), bindBody(quickPlan, uuid.NewString()), true), 404, "")
			Expect(rowsOf(id)).To(Equal(rows{}))
		})
	})
})
