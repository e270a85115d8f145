package broker_test

import (
	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Deprovision", func() {
	DescribeTable("a deprovision that finishes inside the budget answers 200, and the instance is gone",
		func(async bool) {
			id := readyInstance(cachePlan)
			resp := deprovision(id, cachePlan, async)
			Expect(resp.status).To(Equal(200))
			Expect(resp.body).NotTo(HaveKey("operation"))

			Expect(call("GET", instancePath(id), nil).status).To(Equal(404))
			expectRefusal(poll(id, "", ""), 410, "")
			expectRefusal(deprovision(id, cachePlan, async), 410, "")
			Expect(rowsOf(id)).To(Equal(rows{operations: 2}), "the operation rows outlive the instance")
		},
		Entry("with accepts_incomplete", true),
		Entry("without accepts_incomplete", false),
	)

	When("a bind of the instance failed after it made its login", func() {
		It("deletes the logins of every binding recorded, the failed one's too, and no other instance's", func(ctx SpecContext) {
			id, _, creds := cacheBound()
			failed := uuid.NewString()
			resp := call("PUT", "/v2/service_instances/"+id+"/service_bindings/"+failed+"?accepts_incomplete=true", map[string]any{
				"service_id": cacheServiceID, "plan_id": cachePlan, "app_guid": uuid.NewString(),
			})
			Expect(resp.status).To(Equal(201))
			failedCreds := resp.body["credentials"].(map[string]any)
			_, err := st.DB().ExecContext(ctx, "UPDATE bindings SET state = 'failed' WHERE id = $1", failed)
			Expect(err).NotTo(HaveOccurred())
			_, _, otherCreds := cacheBound()

			Expect(deprovision(id, cachePlan, true).status).To(Equal(200))

			for _, c := range []map[string]any{creds, failedCreds} {
				_, err := tryLogin(ctx, c)
				Expect(goredis.IsAuthError(err)).To(BeTrue(), "the login is gone: %v", err)
			}
			_, err = tryLogin(ctx, otherCreds)
			Expect(err).NotTo(HaveOccurred(), "another instance's login still works")
		})
	})

	When("the instance does not exist", func() {
		It("answers 410 Gone and writes nothing", func() {
			id := uuid.NewString()
			expectRefusal(deprovision(id, quickPlan, true), 410, "")
			Expect(rowsOf(id)).To(Equal(rows{}))
		})
	})

	Describe("a DELETE it refuses leaves the instance as it was", Ordered, func() {
		f := readyBeforeAll(quickPlan)

		DescribeTable("answering 400",
			func(query, mention string) {
				resp := call("DELETE", instancePath(f.id)+"?accepts_incomplete=true&"+query, nil)
				expectRefusal(resp, 400, "BadRequest")
				Expect(resp.body["description"]).To(ContainSubstring(mention))
				Expect(call("GET", instancePath(f.id), nil).status).To(Equal(200))
				Expect(rowsOf(f.id).operations).To(Equal(1))
			},
			wrongDeleteQueries,
		)
	})

	When("the plan runs its operations asynchronously only", func() {
		It("answers 422 AsyncRequired without accepts_incomplete, and carries it out with it", func() {
			id := readyInstance(asyncPlan)
			expectRefusal(deprovision(id, asyncPlan, false), 422, "AsyncRequired")
			Expect(call("GET", instancePath(id), nil).status).To(Equal(200))

			opID := startedOperation(deprovision(id, asyncPlan, true), id, "")
			done := finished(id, "", opID)
			Expect(done.body).To(HaveKeyWithValue("state", "succeeded"))
			Expect(done.body).To(HaveKeyWithValue("description", "the service instance was deleted"))
			expectRefusal(deprovision(id, asyncPlan, true), 410, "")
		})
	})

	When("a deprovision waits in the queue", func() {
		It("answers a repeated DELETE with 202 and that operation, and queues no other", func() {
			id := readyInstance(asyncPlan)
			op := waiting(store.OpDeprovision, id, "", nil)
			Expect(operationID(deprovision(id, asyncPlan, true))).To(Equal(op.ID))
			Expect(rowsOf(id).operations).To(Equal(2))
		})
	})

	When("the provision of the instance still runs", func() {
		It("answers 422 ConcurrencyError and queues nothing", func() {
			id, _ := heldProvision()
			expectRefusal(deprovision(id, downPlan, true), 422, "ConcurrencyError")
			Expect(rowsOf(id).operations).To(Equal(1))
		})
	})

	When("deleting fails on the instance's node", func() {
		It("keeps the instance, and a DELETE without accepts_incomplete tries again and answers 500 with the worker's sentence", func() {
			id, _ := deleteFailedInstance()
			Expect(rowsOf(id).instances).To(Equal(1))
			before := rowsOf(id).operations

			resp := deprovision(id, downPlan, false)
			expectRefusal(resp, 500, "")
			Expect(resp.body["description"]).To(And(ContainSubstring("pg-down"), Not(ContainSubstring("postgres://"))))
			Expect(rowsOf(id)).To(Equal(rows{instances: 1, operations: before + 1}))
		})
	})
})
