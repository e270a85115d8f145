package acceptance_test

// What Cloud Foundry's Cloud Controller and Korifi send, as they send it.

import (
	"net/http"
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// ccContext is the context Cloud Controller (OSB 2.15) sends with a provision, update or bind:
// the ids and names of the organization, space and instance, and their annotations.
func ccContext(org, space, instanceName string) map[string]any {
	return map[string]any{
		"platform":                 "cloudfoundry",
		"organization_guid":        org,
		"organization_name":        "acceptance-org",
		"organization_annotations": map[string]any{"company.example/cost-center": "42"},
		"space_guid":               space,
		"space_name":               "acceptance-space",
		"space_annotations":        map[string]any{},
		"instance_name":            instanceName,
		"instance_annotations":     map[string]any{"company.example/owner": "team-db"},
	}
}

// ccProvisionBody is Cloud Controller's provision of an instance of p: its context, and the
// plan's maintenance_info as the catalog showed it.
func ccProvisionBody(p plan, maintenanceVersion string, params map[string]any) map[string]any {
	org, space := newID(), newID()
	body := map[string]any{
		"service_id": p.serviceID, "plan_id": p.planID,
		"organization_guid": org, "space_guid": space,
		"context": ccContext(org, space, "my-db"),
	}
	if maintenanceVersion != "" {
		body["maintenance_info"] = map[string]any{"version": maintenanceVersion}
	}
	if params != nil {
		body["parameters"] = params
	}
	return body
}

// ccProvisionKeys are the only error keys Cloud Controller expects of a 422 to a provision;
// any other makes it treat the answer as a failure it may have to clean up after.
var ccProvisionKeys = []string{"AsyncRequired", "ConcurrencyError", "MaintenanceInfoConflict"}

var _ = Describe("Cloud Foundry", func() {
	var cf *osbClient

	BeforeEach(func() {
		cf = shared.client()
		Expect(cf.version).To(Equal("2.15"), "Cloud Controller speaks OSB 2.15")
	})

	It("runs an instance's life with accepts_incomplete=true on every request, its full context and maintenance_info", func() {
		By("reading the plan's maintenance_info from the catalog")
		var version string
		for _, s := range cf.catalog().Body["services"].([]any) {
			for _, p := range s.(map[string]any)["plans"].([]any) {
				if p.(map[string]any)["id"] == cfPlanID {
					version, _ = p.(map[string]any)["maintenance_info"].(map[string]any)["version"].(string)
				}
			}
		}
		Expect(version).To(Equal(cfMaintenanceVersion))

		By("provisioning and polling")
		id, bindingID, app := newID(), newID(), newID()
		body := ccProvisionBody(cfPlan, version, map[string]any{})
		r := cf.provision(id, body, true)
		DeferCleanup(cf.deprovisionGone, id, cfPlan)
		Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), r.String())
		if r.Status == http.StatusAccepted {
			expectSucceeded(cf.awaitInstance(id, cfPlan, operationOf(r)))
		}
		Expect(cf.provision(id, body, true).Status).To(Equal(http.StatusOK), "the same PUT again")

		By("fetching the instance: its maintenance_info, and with OSB 2.17 its metadata")
		got := cf.getInstance(id)
		Expect(got.Status).To(Equal(http.StatusOK), got.String())
		Expect(got.Body).To(HaveKeyWithValue("maintenance_info", HaveKeyWithValue("version", version)))
		Expect(got.Body).NotTo(HaveKey("metadata"), "metadata came with 2.16")
		newer := shared.client()
		newer.version = "2.17"
		got = newer.getInstance(id)
		Expect(got.Body).To(HaveKeyWithValue("metadata", HaveKeyWithValue("attributes", And(
			HaveKeyWithValue("platform", "cloudfoundry"),
			HaveKeyWithValue("organization_name", "acceptance-org"),
			HaveKeyWithValue("space_name", "acceptance-space"),
			HaveKeyWithValue("instance_name", "my-db"),
		))), got.String())

		By("binding with the context, and logging in")
		bind := bindBody(cfPlan, app, nil)
		bind["context"] = body["context"]
		r = cf.bind(id, bindingID, bind, true)
		Expect(r.Status).To(Equal(http.StatusCreated), r.String())
		mustConnect(credentialsOf(r).str("uri"))

		By("updating with the plan's maintenance_info, and refusing a stale one")
		update := map[string]any{
			"service_id": cfPlan.serviceID, "plan_id": cfPlan.planID, "parameters": map[string]any{},
			"previous_values":  map[string]any{"service_id": cfPlan.serviceID, "plan_id": cfPlan.planID, "maintenance_info": map[string]any{"version": version}},
			"maintenance_info": map[string]any{"version": version},
			"context":          body["context"],
		}
		r = cf.update(id, update, true)
		Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted), r.String())
		if r.Status == http.StatusAccepted {
			expectSucceeded(cf.awaitInstance(id, cfPlan, operationOf(r)))
		}
		expectOSBErrorCode(cf.update(id, with(update, "maintenance_info", map[string]any{"version": "2.0.0"}), true),
			http.StatusUnprocessableEntity, "MaintenanceInfoConflict")

		By("unbinding and deprovisioning")
		cf.unbindGone(id, bindingID, cfPlan)
		cf.deprovisionGone(id, cfPlan)
	})

	DescribeTable("a provision with input the broker can tell is bad answers a 4xx, a 422 only with a key Cloud Controller knows, and creates nothing",
		func(change func(body map[string]any) any) {
			id := newID()
			body := change(ccProvisionBody(quickPlan, "", nil))
			r := cf.provision(id, body, true)
			Expect(r.Status).To(And(BeNumerically(">=", 400), BeNumerically("<", 500)), r.String())
			if r.Status == http.StatusUnprocessableEntity {
				Expect(r.Body).To(HaveKeyWithValue("error", BeElementOf(ccProvisionKeys)), r.String())
			}
			Expect(cf.getInstance(id).Status).To(Equal(http.StatusNotFound))
		},
		Entry("a plan not in the catalog", func(b map[string]any) any { b["plan_id"] = newID(); return b }),
		Entry("a service not in the catalog", func(b map[string]any) any { b["service_id"] = newID(); return b }),
		Entry("a plan's name for its id", func(b map[string]any) any { b["plan_id"] = "quick"; return b }),
		Entry("a plan of another service", func(b map[string]any) any { b["plan_id"] = otherPlanID; return b }),
		Entry("parameters the plan's schema refuses", func(b map[string]any) any {
			b["parameters"] = map[string]any{"extensions": []any{"plv8"}}
			return b
		}),
		Entry("parameters that are not an object", func(b map[string]any) any { b["parameters"] = "citext"; return b }),
		Entry("a context that is not an object", func(b map[string]any) any { b["context"] = []any{"cloudfoundry"}; return b }),
		Entry("a maintenance_info on a plan that has none", func(b map[string]any) any {
			b["maintenance_info"] = map[string]any{"version": "1.0.0"}
			return b
		}),
		Entry("another maintenance_info than the plan's", func(b map[string]any) any {
			b["plan_id"], b["service_id"], b["maintenance_info"] = cfPlanID, otherServiceID, map[string]any{"version": "9.9.9"}
			return b
		}),
		Entry("a maintenance_info that is not an object", func(b map[string]any) any { b["maintenance_info"] = "2.1.0"; return b }),
		Entry("no organization_guid", func(b map[string]any) any { delete(b, "organization_guid"); return b }),
		Entry("a version of the server the plan does not offer", func(b map[string]any) any {
			b["plan_id"], b["parameters"] = asyncPlanID, map[string]any{"version": "1"}
			return b
		}),
		Entry("a body that is not JSON", func(map[string]any) any { return `{"service_id": ` }),
	)
})

var _ = Describe("Korifi", func() {
	var korifi *osbClient

	BeforeEach(func() {
		korifi = shared.client()
		korifi.version = "2.17"
	})

	// resend sends a request until it answers done, as Korifi does, and expects every answer
	// before to be in progress (202) or done already (200, 201), each 202 naming one operation.
	resend := func(send func() response, done int, progress ...int) {
		GinkgoHelper()
		ops := map[string]bool{}
		Eventually(func(g Gomega) int {
			r := send()
			g.Expect(r.Status).To(BeElementOf(append(progress, done, http.StatusAccepted)), r.String())
			if r.Status == http.StatusAccepted {
				ops[operationOf(r)] = true
			}
			return r.Status
		}).Should(Equal(done), "the same request answers %d once it is done", done)
		Expect(len(ops)).To(BeNumerically("<=", 1), "every 202 named the one operation")
	}

	It("provisions from a body with parameters null and no context, re-sending the same PUT until it is done, then DELETE until it is gone", func() {
		id := newID()
		body := map[string]any{
			"service_id": asyncPlan.serviceID, "plan_id": asyncPlan.planID,
			"organization_guid": newID(), "space_guid": newID(), "parameters": nil,
		}
		resend(func() response { return korifi.provision(id, body, true) }, http.StatusOK, http.StatusCreated)

		got := korifi.getInstance(id)
		Expect(got.Status).To(Equal(http.StatusOK), got.String())
		Expect(got.Body).NotTo(HaveKey("metadata"), "no context, nothing to say of the instance")

		query := planQuery(asyncPlan, url.Values{"accepts_incomplete": {"true"}})
		resend(func() response { return korifi.do(http.MethodDelete, instancePath(id), query, nil) }, http.StatusGone, http.StatusOK)
	})
})
