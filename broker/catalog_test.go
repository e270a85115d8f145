package broker_test

import (
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
		Expect(plans).To(HaveLen(4))
		for _, p := range plans {
			Expect(p).NotTo(HaveKey("backend"))
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
})
