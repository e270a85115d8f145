package acceptance_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Binding rotation", func() {
	It("makes a new binding with fresh credentials from a body with only predecessor_binding_id; both log in until the predecessor is unbound", func() {
		cf := shared.client()
		cf.version = "2.17"
		id, first, second := newID(), newID(), newID()
		cf.provisionReady(id, quickPlan, nil)
		DeferCleanup(cf.deprovisionGone, id, quickPlan)

		By("binding an app")
		app := newID()
		old := cf.bindReady(id, first, quickPlan, app)
		DeferCleanup(cf.unbindGone, id, first, quickPlan)

		By("rotating it with a body that names only its predecessor")
		r := cf.bind(id, second, map[string]any{"predecessor_binding_id": first}, true)
		Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), r.String())
		if r.Status == http.StatusAccepted {
			expectSucceeded(cf.awaitBinding(id, second, quickPlan, operationOf(r)))
			r = cf.getBinding(id, second)
		}
		fresh := credentialsOf(r)
		DeferCleanup(cf.unbindGone, id, second, quickPlan)
		Expect(fresh.str("username")).NotTo(Equal(old.str("username")))
		Expect(fresh.str("password") != old.str("password")).To(BeTrue(), "the new binding has a password of its own")
		Expect(fresh.str("name")).To(Equal(old.str("name")), "the same database")

		By("sending the same rotation again, which answers the same binding")
		again := cf.bind(id, second, map[string]any{"predecessor_binding_id": first}, true)
		Expect(again.Status).To(Equal(http.StatusOK), again.String())
		Expect(credentialsOf(again).str("username")).To(Equal(fresh.str("username")))

		By("logging in with both")
		Expect(mustConnect(old.str("uri")).Ping()).To(Succeed())
		Expect(mustConnect(fresh.str("uri")).Ping()).To(Succeed())

		By("unbinding the predecessor, the plan and service of which the new binding has")
		cf.unbindGone(id, first, quickPlan)
		_, err := connect(old.str("uri"))
		Expect(err).To(HaveOccurred(), "the predecessor's credentials no longer log in")
		Expect(mustConnect(fresh.str("uri")).Ping()).To(Succeed())

		By("naming the unbound predecessor again, which answers 400")
		r = cf.bind(id, newID(), map[string]any{"predecessor_binding_id": first}, true)
		Expect(r.Status).To(Equal(http.StatusBadRequest), r.String())
		expectNoSecretsInOutput()
	})

	DescribeTable("a predecessor that cannot be rotated answers 400 and makes nothing",
		func(predecessor func(cf *osbClient, id string) string) {
			cf := shared.client()
			cf.version = "2.17"
			id := newID()
			cf.provisionReady(id, quickPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			bindingID := newID()
			r := cf.bind(id, bindingID, map[string]any{"predecessor_binding_id": predecessor(cf, id)}, true)
			Expect(r.Status).To(Equal(http.StatusBadRequest), r.String())
			Expect(cf.getBinding(id, bindingID).Status).To(Equal(http.StatusNotFound))
		},
		Entry("one that does not exist", func(*osbClient, string) string { return newID() }),
		Entry("a binding of another instance", func(cf *osbClient, _ string) string {
			other, b := newID(), newID()
			cf.provisionReady(other, quickPlan, nil)
			DeferCleanup(cf.deprovisionGone, other, quickPlan)
			cf.bindReady(other, b, quickPlan, newID())
			DeferCleanup(cf.unbindGone, other, b, quickPlan)
			return b
		}),
	)

	It("shows binding_rotatable on each rotatable plan from OSB 2.17 on, and on no service", func() {
		cf := shared.client()
		for v, want := range map[string]bool{"2.16": false, "2.17": true} {
			cf.version = v
			r := cf.catalog()
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			rotatable := map[string]bool{}
			for _, s := range r.Body["services"].([]any) {
				Expect(s).NotTo(HaveKey("binding_rotatable"), "a service in %s", v)
				for _, p := range s.(map[string]any)["plans"].([]any) {
					plan := p.(map[string]any)
					rotatable[plan["id"].(string)] = plan["binding_rotatable"] == true
				}
			}
			Expect(rotatable).To(HaveKeyWithValue(quickPlan.planID, want), "the quick plan in %s", v)
			Expect(rotatable).To(HaveKeyWithValue(mysqlPlan.planID, false), "the mysql plan in %s", v)
		}
	})

	It("answers 400 for a predecessor of a plan whose bindings do not rotate", func() {
		cf := shared.client()
		cf.version = "2.17"
		id, b := newID(), newID()
		cf.provisionReady(id, mysqlPlan, nil)
		DeferCleanup(cf.deprovisionGone, id, mysqlPlan)
		cf.bindReady(id, b, mysqlPlan, newID())
		DeferCleanup(cf.unbindGone, id, b, mysqlPlan)
		r := cf.bind(id, newID(), map[string]any{"predecessor_binding_id": b}, true)
		Expect(r.Status).To(Equal(http.StatusBadRequest), r.String())
		Expect(r.str("description")).To(ContainSubstring("the bindings of plan " + mysqlPlan.planID + " do not rotate"))
	})
})
