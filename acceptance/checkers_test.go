package acceptance_test

// What third-party OSB clients do that the broker must take: the OSB working group's checker
// (its Go suite polls a literal operation), the Kubernetes service catalog and CLI clients
// that bind synchronously, and clients that re-use an id with other attributes.

import (
	"io"
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

	Describe("binding synchronously, as the Kubernetes service catalog and the mocha checker do", func() {
		It("binds and unbinds within the budget on an async_only plan, without accepts_incomplete", func() {
			id, bindingID := newID(), newID()
			r := cf.provision(id, provisionBody(asyncPlan, nil), true)
			DeferCleanup(cf.deprovisionGone, id, asyncPlan)
			expectSucceeded(cf.awaitInstance(id, asyncPlan, operationOf(r)))

			r = cf.bind(id, bindingID, bindBody(asyncPlan, newID(), nil), false)
			Expect(r.Status).To(Equal(http.StatusCreated), r.String())
			mustConnect(credentialsOf(r).str("uri"))
			r = cf.unbind(id, bindingID, asyncPlan, false)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			expectOSBErrorCode(cf.deprovision(id, asyncPlan, false), http.StatusUnprocessableEntity, "AsyncRequired")
		})

		It("needs accepts_incomplete on a bindings_async_only plan, answers 202, and GET binding then shows the credentials", func() {
			id, bindingID, app := newID(), newID(), newID()
			r := cf.provision(id, provisionBody(asyncBindsPlan, nil), true)
			DeferCleanup(cf.deprovisionGone, id, asyncBindsPlan)
			expectSucceeded(cf.awaitInstance(id, asyncBindsPlan, operationOf(r)))

			expectOSBErrorCode(cf.bind(id, bindingID, bindBody(asyncBindsPlan, app, nil), false), http.StatusUnprocessableEntity, "AsyncRequired")
			r = cf.bind(id, bindingID, bindBody(asyncBindsPlan, app, nil), true)
			DeferCleanup(cf.unbindGone, id, bindingID, asyncBindsPlan)
			if r.Status == http.StatusAccepted {
				expectSucceeded(cf.awaitBinding(id, bindingID, asyncBindsPlan, operationOf(r)))
			} else {
				// The worker may finish before the broker's one look; it never waits.
				Expect(r.Status).To(Equal(http.StatusCreated), r.String())
			}
			got := cf.getBinding(id, bindingID)
			Expect(got.Status).To(Equal(http.StatusOK), got.String())
			mustConnect(credentialsOf(got).str("uri"))
			expectOSBErrorCode(cf.unbind(id, bindingID, asyncBindsPlan, false), http.StatusUnprocessableEntity, "AsyncRequired")
		})
	})

	Describe("re-using an id with other attributes", Ordered, func() {
		var id, bindingID, app string

		BeforeAll(func() {
			cf = shared.client()
			id, bindingID, app = newID(), newID(), newID()
			cf.provisionReady(id, quickPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			cf.bindReady(id, bindingID, quickPlan, app)
			DeferCleanup(cf.unbindGone, id, bindingID, quickPlan)
		})

		It("answers a bind of the binding id with another plan 409, as the mocha checker expects, before any other check", func() {
			same := bindBody(quickPlan, app, nil)
			for _, body := range []map[string]any{
				with(same, "plan_id", quick2PlanID),
				with(same, "plan_id", newID()),
				with(with(same, "service_id", otherServiceID), "plan_id", otherPlanID),
				with(same, "parameters", map[string]any{"role": "reader"}),
			} {
				expectOSBError(cf.bind(id, bindingID, body, true), http.StatusConflict)
			}
			other := newID()
			cf.provisionReady(other, quickPlan, nil)
			DeferCleanup(cf.deprovisionGone, other, quickPlan)
			expectOSBError(cf.bind(other, bindingID, same, true), http.StatusConflict)
		})

		It("answers a provision of the instance id with other attributes 409, before any other check", func() {
			same := provisionBody(quickPlan, nil)
			for _, body := range []map[string]any{
				with(same, "plan_id", newID()),
				with(same, "service_id", newID()),
				with(same, "plan_id", asyncPlanID),
				with(same, "organization_guid", nil),
				with(same, "parameters", map[string]any{"extensions": []any{"plv8"}}),
			} {
				expectOSBError(cf.provision(id, body, false), http.StatusConflict)
			}
			r := cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body).To(HaveKeyWithValue("plan_id", quickPlanID))
		})
	})

	Describe("the catalog, in the version each client speaks", func() {
		catalogIn := func(version string, header ...string) response {
			c := shared.client()
			c.version = version
			if len(header) == 0 {
				return c.catalog()
			}
			req, err := http.NewRequest(http.MethodGet, c.baseURL+"/v2/catalog", nil)
			Expect(err).NotTo(HaveOccurred())
			req.SetBasicAuth(c.username, c.password)
			req.Header.Set("X-Broker-API-Version", version)
			req.Header.Set(header[0], header[1])
			res, err := c.http.Do(req)
			Expect(err).NotTo(HaveOccurred())
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			Expect(err).NotTo(HaveOccurred())
			return response{Status: res.StatusCode, Header: res.Header, Raw: raw}
		}
		plansOf := func(r response) map[string]map[string]any {
			out := map[string]map[string]any{}
			for _, s := range r.Body["services"].([]any) {
				for _, p := range s.(map[string]any)["plans"].([]any) {
					out[p.(map[string]any)["id"].(string)] = p.(map[string]any)
				}
			}
			return out
		}

		It("gives the mocha checker's 2.13 suite plans with only the fields its closed schema knows", func() {
			r := catalogIn("2.13")
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			for id, p := range plansOf(r) {
				for k := range p {
					Expect([]string{"id", "name", "description", "metadata", "free", "bindable", "schemas"}).To(ContainElement(k), "plan %s has %s", id, k)
				}
			}
			for _, s := range r.Body["services"].([]any) {
				Expect(s).NotTo(HaveKey("instances_retrievable"), "came with 2.14")
			}
		})

		It("gives Cloud Foundry's 2.15 the plan-level fields", func() {
			plans := plansOf(catalogIn("2.15"))
			Expect(plans[asyncPlanID]).To(HaveKeyWithValue("maximum_polling_duration", BeNumerically("==", 3600)))
			Expect(plans[fixedPlanID]).To(HaveKeyWithValue("plan_updateable", false))
			Expect(plansOf(catalogIn("2.14"))[fixedPlanID]).NotTo(HaveKey("plan_updateable"))
		})

		It("sends an ETag and answers If-None-Match with 304 Not Modified", func() {
			first := catalogIn("2.16")
			tag := first.Header.Get("ETag")
			Expect(tag).NotTo(BeEmpty(), first.String())
			again := catalogIn("2.16", "If-None-Match", tag)
			Expect(again.Status).To(Equal(http.StatusNotModified))
			Expect(again.Raw).To(BeEmpty())
			Expect(catalogIn("2.16", "If-None-Match", `"stale"`).Status).To(Equal(http.StatusOK))
			Expect(catalogIn("2.13", "If-None-Match", tag).Status).To(Equal(http.StatusOK), "2.13's catalog is another")
		})
	})
})
