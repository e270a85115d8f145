package broker_test

import (
	"strconv"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Workers", func() {
	When("the node of a plan refuses connections", func() {
		It("retries with backoff, then fails the operation with a sentence naming the node", func() {
			id := uuid.NewString()
			By("accepting the provision and answering 202 once the short budget has passed")
			resp := call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", provisionBody(downPlan))
			Expect(resp.status).To(Equal(202))
			opID := resp.body["operation"].(string)
			poll := "/v2/service_instances/" + id + "/last_operation?operation=" + opID

			By("showing the retry on last_operation while in progress, with Retry-After in whole seconds")
			Eventually(func() string {
				r := call("GET", poll, nil)
				if r.body["state"] == "in progress" {
					_, err := strconv.Atoi(r.header.Get("Retry-After"))
					Expect(err).NotTo(HaveOccurred())
				}
				d, _ := r.body["description"].(string)
				return d
			}, 20*time.Second, 50*time.Millisecond).Should(And(ContainSubstring("pg-down"), ContainSubstring("attempt")))

			By("failing after the last attempt")
			Eventually(func() any { return call("GET", poll, nil).body["state"] }, 60*time.Second, 200*time.Millisecond).Should(Equal("failed"))
			last := call("GET", poll, nil)
			Expect(last.body["description"]).To(ContainSubstring("pg-down"))
			Expect(last.body["description"]).To(ContainSubstring("refused"))
			Expect(last.body["description"]).NotTo(ContainSubstring("postgres://"))

			By("keeping the instance, which GET reports as not there and an identical PUT tries again")
			Expect(call("GET", "/v2/service_instances/"+id, nil).status).To(Equal(404))
			again := call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", provisionBody(downPlan))
			Expect(again.status).To(Equal(202))
			Expect(again.body["operation"]).NotTo(Equal(opID))
		})
	})

	When("an operation finishes inside the budget", func() {
		It("answers 201 at once, and a repeated PUT answers 200", func() {
			id := uuid.NewString()
			Expect(call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", provisionBody(quickPlan)).status).To(Equal(201))
			Expect(call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", provisionBody(quickPlan)).status).To(Equal(200))
			del := call("DELETE", "/v2/service_instances/"+id+"?service_id="+serviceID+"&plan_id="+quickPlan, nil)
			Expect(del.status).To(Equal(200))
			Expect(call("GET", "/v2/service_instances/"+id+"/last_operation", nil).status).To(Equal(410))
		})
	})
})
