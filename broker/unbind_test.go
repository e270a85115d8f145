package broker_test

import (
	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Unbind", func() {
	DescribeTable("a binding that does not exist answers 410 Gone and writes nothing",
		func(instance func() string) {
			id := instance()
			before := rowsOf(id)
			expectRefusal(unbind(id, uuid.NewString(), quickPlan, true), 410, "")
			Expect(rowsOf(id)).To(Equal(before))
		},
		Entry("on an instance that does not exist", uuid.NewString),
		Entry("on an instance that does", func() string { return readyInstance(cachePlan) }),
	)

	Describe("an unbind it refuses leaves the binding as it was", Ordered, func() {
		f := boundBeforeAll(quickPlan)

		DescribeTable("answering 400",
			func(query, mention string) {
				resp := call("DELETE", bindingPath(f.id, f.b.id)+"?accepts_incomplete=true&"+query, nil)
				expectRefusal(resp, 400, "BadRequest")
				Expect(resp.body["description"]).To(ContainSubstring(mention))
				Expect(call("GET", bindingPath(f.id, f.b.id), nil).status).To(Equal(200))
				Expect(rowsOf(f.id)).To(Equal(rows{instances: 1, bindings: 1, operations: 2}))
			},
			wrongDeleteQueries,
		)

		It("still lets the application log in", func() {
			Expect(loginWorks(f.b.creds)).To(BeTrue(), "the binding's login works")
		})
	})

	DescribeTable("an unbind that finishes inside the budget answers 200 and the application's login is gone",
		func(async bool) {
			id := readyInstance(quickPlan)
			b := boundBinding(id, quickPlan)
			resp := unbind(id, b.id, quickPlan, async)
			Expect(resp.status).To(Equal(200))
			Expect(resp.body).NotTo(HaveKey("operation"))

			Expect(loginWorks(b.creds)).To(BeFalse(), "the binding's login is refused")
			expectRefusal(call("GET", bindingPath(id, b.id), nil), 404, "")
			expectRefusal(unbind(id, b.id, quickPlan, async), 410, "")
			Expect(rowsOf(id)).To(Equal(rows{instances: 1, operations: 3}), "the operation rows outlive the binding")
		},
		Entry("with accepts_incomplete", true),
		Entry("without accepts_incomplete", false),
	)

	When("the plan runs its operations asynchronously only", func() {
		It("answers 422 AsyncRequired without accepts_incomplete, and carries it out with it", func() {
			id := readyInstance(asyncPlan)
			b := boundBinding(id, asyncPlan)
			expectRefusal(unbind(id, b.id, asyncPlan, false), 422, "AsyncRequired")
			Expect(loginWorks(b.creds)).To(BeTrue(), "the binding's login still works")

			opID := startedOperation(unbind(id, b.id, asyncPlan, true), id, b.id)
			done := finished(id, b.id, opID)
			Expect(done.body).To(HaveKeyWithValue("state", "succeeded"))
			Expect(done.body).To(HaveKeyWithValue("description", "the binding was deleted"))
			Expect(loginWorks(b.creds)).To(BeFalse(), "the binding's login is refused")
		})
	})

	When("an unbind waits in the queue", func() {
		It("answers a repeated DELETE with 202 and that operation, and a bind of that id with 422 ConcurrencyError", func() {
			id := readyInstance(asyncPlan)
			b := boundBinding(id, asyncPlan)
			op := waiting(store.OpUnbind, id, b.id, nil)
			Expect(operationID(unbind(id, b.id, asyncPlan, true))).To(Equal(op.ID))
			expectRefusal(bind(id, b.id, bindBody(asyncPlan, b.app), true), 422, "ConcurrencyError")
			Expect(rowsOf(id).operations).To(Equal(3))
		})
	})

	When("the plan of the instance changed after the bind", func() {
		It("takes the binding's plan or the instance's new one", func() {
			id := readyInstance(quickPlan)
			bindings := []binding{boundBinding(id, quickPlan), boundBinding(id, quickPlan)}
			Expect(finished(id, "", startedOperation(update(id, updateBody(asyncPlan, nil), true), id, "")).body).To(HaveKeyWithValue("state", "succeeded"))

			for i, plan := range []string{quickPlan, asyncPlan} {
				b := bindings[i]
				Expect(finished(id, b.id, startedOperation(unbind(id, b.id, plan, true), id, b.id)).body).To(HaveKeyWithValue("state", "succeeded"))
				Expect(loginWorks(b.creds)).To(BeFalse(), "the binding's login is refused")
			}
		})
	})
})
