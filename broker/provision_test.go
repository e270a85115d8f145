package broker_test

import (
	"encoding/base64"
	"net/http"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Provision", func() {
	// A refused field is named as OSB spells it, under the error BadRequest, and a name hears its id.
	DescribeTable("a request the catalog or OSB refuses answers 400 BadRequest and writes nothing",
		func(change func(body map[string]any), mention string) {
			id := uuid.NewString()
			body := provisionBody(quickPlan)
			change(body)
			resp := call("PUT", instancePath(id)+query(true), body)
			expectRefusal(resp, 400, "BadRequest")
			Expect(resp.body["description"]).To(ContainSubstring(mention))
			Expect(rowsOf(id)).To(Equal(rows{}))
		},
		Entry("no service_id", func(b map[string]any) { delete(b, "service_id") }, "service_id is required"),
		Entry("no plan_id", func(b map[string]any) { delete(b, "plan_id") }, "plan_id is required"),
		Entry("an unknown service_id", func(b map[string]any) { b["service_id"] = "nope" },
			`service_id "nope" is not in this broker's catalog`),
		Entry("an unknown plan_id", func(b map[string]any) { b["plan_id"] = "nope" },
			`plan_id "nope" is not in this broker's catalog`),
		Entry("a service's name as service_id", func(b map[string]any) { b["service_id"] = "pg" },
			`service_id "pg" is not in this broker's catalog; service_id "pg" is a service name; its id is "`+serviceID+`"`),
		Entry("a plan's name as plan_id", func(b map[string]any) { b["plan_id"] = "quick" },
			`plan_id "quick" is not in this broker's catalog; plan_id "quick" is a plan name; its id is "`+quickPlan+`"`),
		Entry("another service's plan name as plan_id", func(b map[string]any) { b["plan_id"] = "shared" },
			`plan_id "shared" is not in this broker's catalog; plan_id "shared" is a plan name; its id is "`+cachePlan+`"`),
		Entry("no organization_guid", func(b map[string]any) { delete(b, "organization_guid") }, "organization_guid is required"),
		Entry("no space_guid", func(b map[string]any) { delete(b, "space_guid") }, "space_guid is required"),
		Entry("a plan of another service", func(b map[string]any) { b["plan_id"] = cachePlan }, "belongs to service"),
		Entry("a version on a plan that offers no choice", func(b map[string]any) { b["parameters"] = map[string]any{"version": "16"} }, "does not offer a choice of version"),
		Entry("a version that is not a string", func(b map[string]any) { b["parameters"] = map[string]any{"version": 16} }, "non-empty string"),
	)

	When("the plan runs its operations asynchronously only", func() {
		It("answers 422 AsyncRequired without accepts_incomplete and writes nothing", func() {
			id := uuid.NewString()
			expectRefusal(provision(id, asyncPlan, false), 422, "AsyncRequired")
			Expect(rowsOf(id)).To(Equal(rows{}))
		})

		It("answers 202 at once with accepts_incomplete, names an operation that succeeds, and a repeated PUT then answers 200", func() {
			id := uuid.NewString()
			deleteAtEnd(id)
			opID := operationID(provision(id, asyncPlan, true))
			done := finished(id, "", opID)
			Expect(done.body).To(HaveKeyWithValue("state", "succeeded"))
			Expect(done.body).To(HaveKeyWithValue("description", "the service instance is ready"))

			again := provision(id, asyncPlan, true)
			Expect(again.status).To(Equal(200))
			Expect(again.body).NotTo(HaveKey("operation"))
		})
	})

	DescribeTable("an operation that finishes inside the budget answers 201, and a repeated PUT answers 200",
		func(async bool) {
			id := uuid.NewString()
			deleteAtEnd(id)
			first := provision(id, quickPlan, async)
			Expect(first.status).To(Equal(201))
			Expect(first.body).NotTo(HaveKey("operation"))
			Expect(provision(id, quickPlan, async).status).To(Equal(200))
			Expect(call("GET", instancePath(id), nil).status).To(Equal(200))
			Expect(rowsOf(id).operations).To(Equal(1))
		},
		Entry("with accepts_incomplete, inside the plan's short budget", true),
		Entry("without accepts_incomplete, inside the broker's long budget", false),
	)

	When("the same PUT arrives while the provision runs", func() {
		It("answers 202 with the same operation and queues no other", func() {
			id, opID := heldProvision()
			again := provision(id, downPlan, true)
			Expect(operationID(again)).To(Equal(opID))
			Expect(rowsOf(id).operations).To(Equal(1))
		})
	})

	Describe("a PUT for an existing id with other attributes", Ordered, func() {
		f := readyBeforeAll(quickPlan)

		DescribeTable("answers 409 and leaves the instance as it was",
			func(change func(body map[string]any)) {
				body := provisionBody(quickPlan)
				change(body)
				expectRefusal(call("PUT", instancePath(f.id)+query(true), body), 409, "")

				got := call("GET", instancePath(f.id), nil)
				Expect(got.status).To(Equal(200))
				Expect(got.body).To(HaveKeyWithValue("plan_id", quickPlan))
				Expect(got.body).To(HaveKeyWithValue("parameters", BeEmpty()))
				Expect(rowsOf(f.id).operations).To(Equal(1))
			},
			Entry("another plan", func(b map[string]any) { b["plan_id"] = asyncPlan }),
			Entry("another service", func(b map[string]any) { b["service_id"], b["plan_id"] = cacheServiceID, cachePlan }),
			Entry("another organization", func(b map[string]any) { b["organization_guid"] = "other-org" }),
			Entry("another space", func(b map[string]any) { b["space_guid"] = "other-space" }),
			Entry("other parameters", func(b map[string]any) { b["parameters"] = map[string]any{"extensions": []string{"citext"}} }),
			// Conflicts come first: each of these would otherwise be a 400 or a 422.
			Entry("a plan not in the catalog", func(b map[string]any) { b["plan_id"] = uuid.NewString() }),
			Entry("a service not in the catalog", func(b map[string]any) { b["service_id"] = uuid.NewString() }),
			Entry("a plan of another service", func(b map[string]any) { b["plan_id"] = cachePlan }),
			Entry("no organization_guid", func(b map[string]any) { delete(b, "organization_guid") }),
			Entry("a version the plan does not offer", func(b map[string]any) { b["parameters"] = map[string]any{"version": "16"} }),
		)

		It("answers 409 to an async-only plan without accepts_incomplete, not 422", func() {
			expectRefusal(call("PUT", instancePath(f.id)+query(false), provisionBody(asyncPlan)), 409, "")
		})
	})

	When("a repeated PUT writes the same parameters in another order and spacing", func() {
		It("answers 200, as for the same PUT", func() {
			id := uuid.NewString()
			deleteAtEnd(id)
			body := provisionBody(quickPlan)
			body["parameters"] = map[string]any{"a": 1, "b": []any{"x", map[string]any{"c": true}}}
			Expect(call("PUT", instancePath(id)+query(true), body).status).To(Equal(201))

			again := `{"space_guid":"space","organization_guid":"org","plan_id":"` + quickPlan + `","service_id":"` + serviceID + `",
				"parameters": { "b" : [ "x", {"c":true} ], "a": 1.0 }}`
			Expect(call("PUT", instancePath(id)+query(true), again).status).To(Equal(200))
		})
	})

	When("the provision fails on its node", func() {
		It("answers a request without accepts_incomplete with 500 and the worker's sentence, and an identical PUT tries again", func() {
			id := uuid.NewString()
			resp := provision(id, downPlan, false)
			expectRefusal(resp, 500, "")
			Expect(resp.body["description"]).To(And(ContainSubstring("pg-down"), ContainSubstring("refused")))
			Expect(resp.body["description"]).NotTo(ContainSubstring("postgres://"))
			Expect(rowsOf(id)).To(Equal(rows{instances: 1, operations: 1}))

			again := provision(id, downPlan, true)
			Expect(again.status).To(Equal(202))
			Expect(rowsOf(id).operations).To(Equal(2))
			Expect(finished(id, "", operationID(again)).body).To(HaveKeyWithValue("state", "failed"))
		})
	})

	When("deleting the instance failed", func() {
		It("answers 409 to an identical PUT, as Cloud Controller takes no 422 InstanceNotReady from a provision, and queues nothing", func() {
			id, _ := deleteFailedInstance()
			before := rowsOf(id)
			resp := provision(id, downPlan, true)
			expectRefusal(resp, 409, "")
			Expect(resp.body["description"]).To(ContainSubstring("send DELETE again"))
			Expect(rowsOf(id)).To(Equal(before))
		})
	})

	When("the instance is being deleted", func() {
		It("answers 422 ConcurrencyError to an identical PUT", func() {
			id := readyInstance(cachePlan)
			waiting(store.OpDeprovision, id, "", nil)
			expectRefusal(provision(id, cachePlan, true), 422, "ConcurrencyError")
			Expect(rowsOf(id).operations).To(Equal(2))
		})
	})
})

var _ = Describe("The originating identity of a provision", func() {
	DescribeTable("is recorded with its operation, decoded (one that cannot be read is a 400: the HTTP API's hostile table)",
		func(header, want string) {
			id := uuid.NewString()
			deleteAtEnd(id)
			resp := call("PUT", instancePath(id)+query(true), instanceBody(cachePlan), func(r *http.Request) {
				r.Header.Set("X-Broker-API-Originating-Identity", header)
			})
			Expect(resp.status).To(Equal(201))
			var recorded string
			Expect(st.DB().Get(&recorded, "SELECT COALESCE(originating_identity, 'null'::jsonb) FROM operations WHERE instance_id = $1", id)).To(Succeed())
			Expect(recorded).To(MatchJSON(want))
		},
		Entry("Cloud Foundry's", "cloudfoundry "+base64.StdEncoding.EncodeToString([]byte(`{"user_id":"u-2"}`)),
			`{"platform": "cloudfoundry", "value": {"user_id": "u-2"}}`),
		Entry("Kubernetes'", "kubernetes "+base64.StdEncoding.EncodeToString([]byte(`{"username":"u","groups":["g"]}`)),
			`{"platform": "kubernetes", "value": {"username": "u", "groups": ["g"]}}`),
	)
})
