package acceptance_test

// What third-party OSB clients do that the broker must take: the OSB working group's checker
// (its Go suite polls a literal operation), the Kubernetes service catalog and CLI clients
// that bind synchronously, and clients that re-use an id with other attributes.

import (
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Third-party OSB clients", func() {
	var cf *osbClient

	BeforeEach(func() { cf = shared.client() })

	Describe("polling with an operation value the broker never issued", Ordered, func() {
		var id, bindingID, provisionOp string

		BeforeAll(func() {
			cf = shared.client()
			id, bindingID = newID(), newID()
			r := cf.provision(id, provisionBody(asyncPlan, nil), true)
			DeferCleanup(cf.deprovisionGone, id, asyncPlan)
			provisionOp = operationOf(r)
			expectSucceeded(cf.awaitInstance(id, asyncPlan, provisionOp))
			cf.bindReady(id, bindingID, asyncPlan, newID())
			DeferCleanup(cf.unbindGone, id, bindingID, asyncPlan)
		})

		It("answers for the instance's latest operation, as the checker's Go suite expects of operation=provision", func() {
			for _, operation := range []string{"provision", newID(), "update"} {
				r := cf.lastOperation(id, asyncPlan, operation)
				Expect(r.Status).To(Equal(http.StatusOK), r.String())
				Expect(r.Body).To(HaveKeyWithValue("state", "succeeded"), r.String())
				Expect(r.Body).To(HaveKeyWithValue("description", "the service instance is ready"), r.String())
			}
		})

		It("answers for the binding's latest operation, the instance's own operation included", func() {
			for _, operation := range []string{"bind", newID(), provisionOp} {
				r := cf.bindingLastOperation(id, bindingID, asyncPlan, operation)
				Expect(r.Status).To(Equal(http.StatusOK), r.String())
				Expect(r.Body).To(HaveKeyWithValue("description", "the binding is ready"), r.String())
			}
		})

		It("still answers 400 BadRequest to a malformed operation value", func() {
			for _, operation := range []string{strings.Repeat("o", 256), "a\x01b"} {
				expectOSBErrorCode(cf.lastOperation(id, asyncPlan, operation), http.StatusBadRequest, "BadRequest")
				expectOSBErrorCode(cf.bindingLastOperation(id, bindingID, asyncPlan, operation), http.StatusBadRequest, "BadRequest")
			}
		})

		It("answers 410 Gone for an instance that does not exist, whatever the operation", func() {
			expectJSONObject(cf.lastOperation(newID(), asyncPlan, "provision"), http.StatusGone)
		})
	})
})
