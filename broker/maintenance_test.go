package broker_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// withMaintenance is body with maintenance_info.version set to version.
func withMaintenance(body map[string]any, version string) map[string]any {
	body["maintenance_info"] = map[string]any{"version": version}
	return body
}

// upgradeBody is a PATCH of an instance of the cache plan, whose version is 2.0.0, with params.
func upgradeBody(version string, params map[string]any) map[string]any {
	body := withMaintenance(updateBody(cachePlan, params), version)
	body["service_id"] = cacheServiceID
	return body
}

var _ = Describe("Maintenance info", func() {
	It("records the plan's version on provision and returns it on GET instance to OSB 2.15 and later", func() {
		id := readyInstance(cachePlan)
		Expect(call("GET", instancePath(id), nil).body).To(HaveKeyWithValue("maintenance_info", map[string]any{"version": "2.0.0"}))
		older := call("GET", instancePath(id), nil, func(r *http.Request) { r.Header.Set("X-Broker-API-Version", "2.14") })
		Expect(older.status).To(Equal(200))
		Expect(older.body).NotTo(HaveKey("maintenance_info"))
	})

	It("answers a maintenance_info sent for a plan that has none with 422 MaintenanceInfoConflict", func() {
		id := readyInstance(quickPlan)
		expectRefusal(update(id, withMaintenance(updateBody(quickPlan, nil), "1.0.0"), true), 422, "MaintenanceInfoConflict")
		Expect(rowsOf(id).operations).To(Equal(1))
	})

	When("an upgrade waits in the queue", func() {
		It("answers the same PATCH again with its operation, and one with another version with 422", func() {
			id := readyInstance(cachePlan)
			op := waiting(store.OpUpdate, id, "", store.UpdateRequest{
				PlanID: cachePlan, PreviousPlanID: cachePlan, Parameters: []byte(`{}`), MaintenanceVersion: "2.0.0",
			})

			again := update(id, upgradeBody("2.0.0", nil), true)
			Expect(again.status).To(Equal(202))
			Expect(again.body).To(HaveKeyWithValue("operation", op.ID))
			expectRefusal(update(id, upgradeBody("1.9.0", nil), true), 422, "MaintenanceInfoConflict")
		})
	})

	When("an instance records a version older than its plan's", func() {
		var id string
		BeforeEach(func() {
			id = readyInstance(cachePlan)
			_, err := st.DB().Exec(`UPDATE instances SET maintenance_version = '1.0.0' WHERE id = $1`, id)
			Expect(err).NotTo(HaveOccurred())
		})

		It("answers the replay of an update accepted at that version with 200, queueing nothing", func() {
			resp := update(id, upgradeBody("1.0.0", nil), true)
			Expect(resp.status).To(Equal(200))
			Expect(rowsOf(id).operations).To(Equal(1))
		})

		It("refuses that version with anything else to change, and upgrades with the plan's", func() {
			expectRefusal(update(id, upgradeBody("1.0.0", map[string]any{"a": 1}), true), 422, "MaintenanceInfoConflict")
			Expect(update(id, upgradeBody("2.0.0", nil), true).status).To(Equal(200))
			Expect(call("GET", instancePath(id), nil).body).To(HaveKeyWithValue("maintenance_info", map[string]any{"version": "2.0.0"}))
		})
	})
})
