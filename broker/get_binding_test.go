package broker_test

import (
	"fmt"
	"net/http"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("GetBinding", func() {
	DescribeTable("a binding that is not there answers 404",
		func(route func() (string, string)) {
			expectRefusal(call("GET", bindingPath(route()), nil), 404, "")
		},
		Entry("on an instance that does not exist", func() (string, string) { return uuid.NewString(), uuid.NewString() }),
		Entry("on an instance without it", func() (string, string) { return readyInstance(cachePlan), uuid.NewString() }),
		Entry("asked for under another instance", func() (string, string) {
			b := boundBinding(readyInstance(cachePlan), cachePlan)
			return readyInstance(cachePlan), b.id
		}),
	)

	When("the binding is bound", func() {
		It("answers 200 with the bind's credentials and parameters", func() {
			id := readyInstance(cachePlan)
			bindingID := uuid.NewString()
			body := bindBody(cachePlan, uuid.NewString())
			body["parameters"] = map[string]any{"purpose": "reports"}
			made := bind(id, bindingID, body, true)
			Expect(made.status).To(Equal(201))
			DeferCleanup(func() { Expect(unbind(id, bindingID, cachePlan, false).status).To(Equal(200)) })

			got := call("GET", bindingPath(id, bindingID), nil)
			Expect(got.status).To(Equal(200))
			Expect(got.body["parameters"]).To(Equal(map[string]any{"purpose": "reports"}))
			Expect(sameSecrets(got.body["credentials"], made.body["credentials"])).To(BeTrue(), "GET shows the bind's credentials")
		})
	})

	When("its unbind waits in the queue", func() {
		It("still answers 200 with the credentials", func() {
			id := readyInstance(cachePlan)
			b := boundBinding(id, cachePlan)
			waiting(store.OpUnbind, id, b.id, nil)
			got := call("GET", bindingPath(id, b.id), nil)
			Expect(got.status).To(Equal(200))
			Expect(sameSecrets(got.body["credentials"], b.creds)).To(BeTrue(), "GET shows the bind's credentials")
		})
	})

	When("its bind waits in the queue", func() {
		It("answers 404, as the binding is not ready", func() {
			id := readyInstance(cachePlan)
			b, _ := waitingBind(id, cachePlan)
			resp := call("GET", bindingPath(id, b.id), nil)
			expectRefusal(resp, 404, "")
			Expect(resp.body["description"]).To(ContainSubstring("not ready"))
		})
	})

	When("its bind failed", func() {
		It("answers 404, as the binding is not ready", func() {
			id := readyInstance(quickPlan)
			first := boundBinding(id, quickPlan)
			dropDatabase(first.creds["name"])

			bindingID := uuid.NewString()
			opID := operationID(bind(id, bindingID, bindBody(quickPlan, uuid.NewString()), true))
			DeferCleanup(func() { Expect(unbind(id, bindingID, quickPlan, false).status).To(BeElementOf(200, 410)) })
			Expect(finished(id, bindingID, opID).body).To(HaveKeyWithValue("state", "failed"))
			resp := call("GET", bindingPath(id, bindingID), nil)
			expectRefusal(resp, 404, "")
			Expect(resp.body["description"]).To(ContainSubstring("not ready"))
		})
	})
})

var _ = Describe("Binding endpoints", func() {
	version := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Broker-API-Version", v) }
	}
	endpointOf := func(creds map[string]any) []any {
		port := fmt.Sprint(creds["port"])
		return []any{map[string]any{"host": creds["host"], "ports": []any{port}, "protocol": "tcp"}}
	}

	It("answers the node's host and port as endpoints on bind and GET binding from OSB 2.15, and none to older platforms", func() {
		id := readyInstance(cachePlan)
		bindingID, body := uuid.NewString(), bindBody(cachePlan, uuid.NewString())
		made := call("PUT", bindingPath(id, bindingID)+query(true), body, version("2.15"))
		Expect(made.status).To(Equal(201))
		DeferCleanup(func() { Expect(unbind(id, bindingID, cachePlan, false).status).To(Equal(200)) })
		creds, _ := made.body["credentials"].(map[string]any)
		Expect(creds).To(HaveKeyWithValue("type", "redis"))
		Expect(made.body["endpoints"]).To(Equal(endpointOf(creds)))

		again := call("PUT", bindingPath(id, bindingID)+query(true), body, version("2.14"))
		Expect(again.status).To(Equal(200))
		Expect(again.body).NotTo(HaveKey("endpoints"))
		Expect(sameSecrets(again.body["credentials"], creds)).To(BeTrue(), "the same PUT again answers the same credentials")

		got := call("GET", bindingPath(id, bindingID), nil, version("2.17"))
		Expect(got.status).To(Equal(200))
		Expect(got.body["endpoints"]).To(Equal(endpointOf(creds)))
		Expect(sameSecrets(got.body["credentials"], creds)).To(BeTrue())

		old := call("GET", bindingPath(id, bindingID), nil, version("2.14"))
		Expect(old.status).To(Equal(200))
		Expect(old.body).NotTo(HaveKey("endpoints"))
		Expect(sameSecrets(old.body["credentials"], creds)).To(BeTrue())

		expectRefusal(call("GET", bindingPath(id, bindingID), nil, version("2.13")), 412, "")
	})
})
