package acceptance_test

import (
	"encoding/json"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// findValue reports whether the decoded JSON v holds key with value at any depth.
func findValue(v any, key string, value any) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if k == key && x == value {
				return true
			}
			if findValue(x, key, value) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if findValue(x, key, value) {
				return true
			}
		}
	}
	return false
}

var _ = Describe("Originating identity and context", func() {
	It("are stored with each operation as the platform sent them", func() {
		cf := shared.client()
		id := newID()
		body := provisionBody(quickPlan, nil)
		sent := body["context"].(map[string]any)

		By("provisioning as one Cloud Foundry user")
		r := cf.provision(id, body, true)
		DeferCleanup(cf.deprovisionGone, id, quickPlan)
		Expect(r.Status).To(Equal(http.StatusCreated), r.String())

		By("updating as another")
		updater := shared.client()
		r = updater.update(id, updateBody(quickPlan, quickPlan, map[string]any{"extensions": []any{"hstore"}}), true)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())

		By("reading the operations from the state database")
		rows, err := shared.state.open().Query(`SELECT kind, originating_identity, context FROM operations WHERE instance_id = $1`, id)
		Expect(err).NotTo(HaveOccurred())
		defer rows.Close()
		identities, contexts := map[string]any{}, map[string]map[string]any{}
		for rows.Next() {
			var kind string
			var identity, context []byte
			Expect(rows.Scan(&kind, &identity, &context)).To(Succeed())
			var decoded any
			Expect(json.Unmarshal(identity, &decoded)).To(Succeed(), "originating_identity of the %s operation is JSON: %s", kind, identity)
			identities[kind] = decoded
			var ctx map[string]any
			Expect(json.Unmarshal(context, &ctx)).To(Succeed(), "context of the %s operation is a JSON object: %s", kind, context)
			contexts[kind] = ctx
		}
		Expect(rows.Err()).NotTo(HaveOccurred())

		Expect(identities).To(HaveKey("provision"))
		Expect(findValue(identities["provision"], "user_id", cf.userID)).To(BeTrue(), "the provision's identity holds its user_id: %s", asJSON(identities["provision"]))
		Expect(asJSON(identities["provision"])).To(ContainSubstring("cloudfoundry"))
		Expect(contexts["provision"]).To(HaveKeyWithValue("platform", "cloudfoundry"))
		Expect(contexts["provision"]).To(HaveKeyWithValue("organization_guid", sent["organization_guid"]))
		Expect(contexts["provision"]).To(HaveKeyWithValue("space_guid", sent["space_guid"]))

		Expect(identities).To(HaveKey("update"))
		Expect(findValue(identities["update"], "user_id", updater.userID)).To(BeTrue(), "the update's identity holds its user_id: %s", asJSON(identities["update"]))
		Expect(contexts["update"]).To(HaveKeyWithValue("platform", "cloudfoundry"))
	})
})
