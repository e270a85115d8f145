package broker_test

import (
	"net/http"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("GetInstance", func() {
	DescribeTable("an instance a platform cannot use answers 404 with the reason",
		func(instance func() string, mention string) {
			resp := call("GET", instancePath(instance()), nil)
			expectRefusal(resp, 404, "")
			Expect(resp.body["description"]).To(ContainSubstring(mention))
		},
		Entry("one that does not exist", uuid.NewString, "does not exist"),
		Entry("one whose provision still runs", func() string { id, _ := heldProvision(); return id }, "still being provisioned"),
		Entry("one whose provision failed", failedInstance, "not usable after a failed operation"),
		Entry("one whose deprovision failed", func() string { id, _ := deleteFailedInstance(); return id }, "send DELETE again"),
	)

	Describe("a ready instance", Ordered, func() {
		var id string
		BeforeAll(func() {
			id = uuid.NewString()
			deleteAtEnd(id)
			body := provisionBody(quickPlan)
			body["parameters"] = map[string]any{"extensions": []any{"citext"}, "note": "kept"}
			Expect(call("PUT", instancePath(id)+query(true), body).status).To(Equal(201))
		})

		It("answers 200 with its service, plan and parameters", func() {
			resp := call("GET", instancePath(id), nil)
			Expect(resp.status).To(Equal(200))
			Expect(resp.body).To(Equal(map[string]any{
				"service_id": serviceID,
				"plan_id":    quickPlan,
				"parameters": map[string]any{"extensions": []any{"citext"}, "note": "kept"},
			}))
		})

		It("answers 412 to a platform older than OSB 2.14, which has no such endpoint", func() {
			resp := call("GET", instancePath(id), nil, func(r *http.Request) { r.Header.Set("X-Broker-API-Version", "2.13") })
			expectRefusal(resp, 412, "PreconditionFailed")
		})
	})

	Describe("an instance provisioned with a context", Ordered, func() {
		var id string
		BeforeAll(func() {
			id = uuid.NewString()
			deleteAtEnd(id)
			body := provisionBody(quickPlan)
			body["context"] = map[string]any{
				"platform": "cloudfoundry", "organization_name": "org-name", "space_name": "space-name",
				"instance_name": "my-db", "instance_annotations": map[string]any{"a": "b"},
			}
			Expect(call("PUT", instancePath(id)+query(true), body).status).To(Equal(201))
		})

		It("answers OSB 2.16 and later with metadata whose attributes are the context's strings", func() {
			for _, v := range []string{"2.16", "2.17"} {
				resp := call("GET", instancePath(id), nil, func(r *http.Request) { r.Header.Set("X-Broker-API-Version", v) })
				Expect(resp.body).To(HaveKeyWithValue("metadata", map[string]any{
					"labels": map[string]any{},
					"attributes": map[string]any{
						"platform": "cloudfoundry", "organization_name": "org-name", "space_name": "space-name", "instance_name": "my-db",
					},
				}), "in %s", v)
			}
		})

		It("answers OSB 2.15 without metadata, which came with 2.16", func() {
			resp := call("GET", instancePath(id), nil, func(r *http.Request) { r.Header.Set("X-Broker-API-Version", "2.15") })
			Expect(resp.status).To(Equal(200))
			Expect(resp.body).NotTo(HaveKey("metadata"))
		})
	})

	When("an update of the instance waits in the queue", func() {
		It("answers 422 ConcurrencyError", func() {
			id := readyInstance(cachePlan)
			waiting(store.OpUpdate, id, "", store.UpdateRequest{PlanID: cachePlan, PreviousPlanID: cachePlan})
			expectRefusal(call("GET", instancePath(id), nil), 422, "ConcurrencyError")
		})
	})

	When("a deprovision of the instance waits in the queue", func() {
		It("still answers 200 with the instance", func() {
			id := readyInstance(cachePlan)
			waiting(store.OpDeprovision, id, "", nil)
			resp := call("GET", instancePath(id), nil)
			Expect(resp.status).To(Equal(200))
			Expect(resp.body).To(HaveKeyWithValue("plan_id", cachePlan))
		})
	})
})
