package broker_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/catalog"
)

var _ = Describe("Catalog", func() {
	It("serves the catalog without the backend settings", func() {
		resp := call("GET", "/v2/catalog", nil)
		Expect(resp.status).To(Equal(200))
		Expect(resp.header.Get("Content-Type")).To(Equal("application/json"))
		plans := resp.body["services"].([]any)[0].(map[string]any)["plans"].([]any)
		Expect(plans).To(HaveLen(5))
		for _, p := range plans {
			Expect(p).NotTo(HaveKey("backend"))
			Expect(p).NotTo(HaveKey("binding_lifetime"))
			Expect(p).NotTo(HaveKey("wait_budget"))
			Expect(p).NotTo(HaveKey("async_only"))
		}
	})

	It("lists every configured service with its OSB flags and plans, and no empty schemas", func() {
		cat, err := catalog.Parse([]byte(testCatalog))
		Expect(err).NotTo(HaveOccurred())
		services := call("GET", "/v2/catalog", nil).body["services"].([]any)
		Expect(services).To(HaveLen(len(cat.Services())))
		for i, want := range cat.Services() {
			got := services[i].(map[string]any)
			Expect(got).To(HaveKeyWithValue("id", want.ID))
			Expect(got).To(HaveKeyWithValue("name", want.Name))
			Expect(got).To(HaveKeyWithValue("bindable", want.Bindable))
			Expect(got).To(HaveKeyWithValue("plan_updateable", want.PlanUpdateable))
			Expect(got["bindings_retrievable"] == true).To(Equal(want.BindingsRetrievable))
			Expect(got["instances_retrievable"] == true).To(Equal(want.InstancesRetrievable))
			plans := got["plans"].([]any)
			Expect(plans).To(HaveLen(len(want.Plans)))
			for j, p := range want.Plans {
				Expect(plans[j]).To(HaveKeyWithValue("id", p.ID))
				Expect(plans[j]).To(HaveKeyWithValue("name", p.Name))
				Expect(plans[j]).NotTo(HaveKey("schemas"))
			}
		}
	})

	// version sets the request's X-Broker-API-Version.
	version := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Broker-API-Version", v) }
	}
	downPlanOf := func(resp response) map[string]any {
		for _, p := range resp.body["services"].([]any)[0].(map[string]any)["plans"].([]any) {
			if p.(map[string]any)["id"] == downPlan {
				return p.(map[string]any)
			}
		}
		Fail("the catalog has no down plan")
		return nil
	}

	DescribeTable("leaves out the fields newer than the request's X-Broker-API-Version",
		func(v string, service, plan []string, absent []string) {
			resp := call("GET", "/v2/catalog", nil, version(v))
			Expect(resp.status).To(Equal(200))
			for _, s := range resp.body["services"].([]any) {
				Expect(s).To(HaveKey(BeElementOf(service)))
				for k := range s.(map[string]any) {
					Expect(append(service, "id", "name", "description", "bindable", "plan_updateable", "tags", "requires", "metadata", "plans")).
						To(ContainElement(k), "service field %s in %s", k, v)
				}
				for _, p := range s.(map[string]any)["plans"].([]any) {
					for k := range p.(map[string]any) {
						// The OSB checker's 2.13 suite validates each plan against a closed schema of these.
						Expect(append(plan, "id", "name", "description", "metadata", "free", "bindable", "schemas")).
							To(ContainElement(k), "plan field %s in %s", k, v)
					}
				}
			}
			for _, k := range absent {
				Expect(downPlanOf(resp)).NotTo(HaveKey(k))
			}
		},
		Entry("2.13, as the OSB checker's mocha suite", "2.13", []string{"id"}, nil,
			[]string{"plan_updateable", "maximum_polling_duration", "binding_rotatable"}),
		Entry("2.14, as the Kubernetes service catalog", "2.14", []string{"instances_retrievable", "bindings_retrievable"}, nil,
			[]string{"plan_updateable", "maximum_polling_duration", "binding_rotatable"}),
		Entry("2.16, on the plan as on the service", "2.16", []string{"instances_retrievable", "bindings_retrievable"},
			[]string{"plan_updateable", "maximum_polling_duration", "maintenance_info"}, []string{"binding_rotatable"}),
	)

	DescribeTable("sends binding_rotatable on the plans that set it from 2.17 on, and on no service",
		func(v string) {
			resp := call("GET", "/v2/catalog", nil, version(v))
			Expect(downPlanOf(resp)).To(HaveKeyWithValue("binding_rotatable", true))
			for _, s := range resp.body["services"].([]any) {
				Expect(s).NotTo(HaveKey("binding_rotatable"))
				for _, p := range s.(map[string]any)["plans"].([]any) {
					if id := p.(map[string]any)["id"]; id != downPlan && id != expiringPlan {
						Expect(p).NotTo(HaveKey("binding_rotatable"), "a plan that does not set it")
					}
				}
			}
		},
		Entry("2.17", "2.17"),
		Entry("a minor newer than the broker knows", "2.99"),
	)

	DescribeTable("sends the plan-level fields from 2.15 on",
		func(v string) {
			plan := downPlanOf(call("GET", "/v2/catalog", nil, version(v)))
			Expect(plan).To(HaveKeyWithValue("plan_updateable", true))
			Expect(plan).To(HaveKeyWithValue("maximum_polling_duration", BeNumerically("==", 600)))
		},
		Entry("2.15, as Cloud Foundry", "2.15"),
		Entry("2.17", "2.17"),
		Entry("a minor newer than the broker knows", "2.99"),
	)

	Describe("the ETag", func() {
		It("is sent with the catalog, and an If-None-Match that names it is answered 304 without a body", func() {
			first := call("GET", "/v2/catalog", nil)
			tag := first.header.Get("ETag")
			Expect(tag).To(MatchRegexp(`^"[0-9a-f]{32}"$`))
			for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
				resp := call("GET", "/v2/catalog", nil, func(r *http.Request) { r.Header.Set("If-None-Match", inm) })
				Expect(resp.status).To(Equal(304), "If-None-Match: %s", inm)
				Expect(resp.body).To(BeNil())
				Expect(resp.header.Get("ETag")).To(Equal(tag))
			}
			again := call("GET", "/v2/catalog", nil, func(r *http.Request) { r.Header.Set("If-None-Match", `"other"`) })
			Expect(again.status).To(Equal(200))
			Expect(again.body).To(Equal(first.body))
			Expect(again.header.Get("ETag")).To(Equal(tag))
		})

		It("differs between versions whose catalogs differ, and not between those whose do not", func() {
			tag := func(v string) string { return call("GET", "/v2/catalog", nil, version(v)).header.Get("ETag") }
			Expect(tag("2.13")).NotTo(Equal(tag("2.15")))
			Expect(tag("2.16")).NotTo(Equal(tag("2.17")), "2.17 adds binding_rotatable")
			Expect(tag("2.17")).To(Equal(tag("2.42")))
			Expect(call("GET", "/v2/catalog", nil, version("2.13"), func(r *http.Request) { r.Header.Set("If-None-Match", tag("2.15")) }).status).
				To(Equal(200))
		})
	})
})
