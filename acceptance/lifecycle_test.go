package acceptance_test

import (
	"net/http"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Catalog", func() {
	It("lists the configured services and plans", func() {
		r := shared.client().catalog()
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/json"))

		services, ok := r.Body["services"].([]any)
		Expect(ok).To(BeTrue(), r.String())
		plansByService := map[string]map[string]map[string]any{}
		for _, s := range services {
			service := s.(map[string]any)
			plans := map[string]map[string]any{}
			for _, p := range service["plans"].([]any) {
				plan := p.(map[string]any)
				plans[plan["id"].(string)] = plan
			}
			plansByService[service["id"].(string)] = plans
			if service["id"] == pgServiceID {
				Expect(service).To(HaveKeyWithValue("name", "pg-test"))
				Expect(service).To(HaveKeyWithValue("bindable", true))
				Expect(service).To(HaveKeyWithValue("instances_retrievable", true))
				Expect(service).To(HaveKeyWithValue("bindings_retrievable", true))
				Expect(service).To(HaveKeyWithValue("plan_updateable", true))
			}
		}
		Expect(plansByService).To(HaveLen(5))
		Expect(plansByService[pgServiceID]).To(HaveLen(4))
		Expect(plansByService[pgServiceID][quickPlanID]).To(HaveKeyWithValue("name", "quick"))
		Expect(plansByService[pgServiceID][quick2PlanID]).To(HaveKeyWithValue("name", "quick2"))
		Expect(plansByService[pgServiceID][quickPlanID]).To(HaveKey("schemas"))
		Expect(plansByService[pgServiceID][asyncPlanID]).To(HaveKeyWithValue("name", "async"))
		Expect(plansByService[pgServiceID][fixedPlanID]).To(HaveKeyWithValue("name", "fixed"))
		Expect(plansByService[pgServiceID][fixedPlanID]).To(HaveKeyWithValue("plan_updateable", false))
		Expect(plansByService[otherServiceID]).To(HaveKey(otherPlanID))
		Expect(plansByService[mysqlServiceID]).To(HaveKey(mysqlPlanID))
		Expect(plansByService[redisServiceID]).To(HaveKey(redisPlanID))
		Expect(plansByService[rabbitServiceID]).To(HaveKey(rabbitPlanID))
	})
})

var _ = Describe("Lifecycle", func() {
	When("Cloud Foundry drives an async-only instance from provision to deprovision", func() {
		It("creates a database two apps can share, and removes every trace of it", func() {
			cf := shared.client()
			id, b1, b2 := newID(), newID(), newID()
			params := map[string]any{"extensions": []any{"citext"}}
			dbName := backendDatabase(id)

			By("provisioning with accepts_incomplete=true")
			r := cf.provision(id, provisionBody(asyncPlan, params), true)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			provisionOp := operationOf(r)
			DeferCleanup(cf.deprovisionGone, id, asyncPlan)

			By("polling last_operation until it succeeds")
			expectSucceeded(cf.awaitInstance(id, asyncPlan, provisionOp))
			Expect(databaseExists(dbName)).To(BeTrue(), "database %s exists", dbName)

			By("fetching the instance")
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body).To(HaveKeyWithValue("service_id", pgServiceID))
			Expect(r.Body).To(HaveKeyWithValue("plan_id", asyncPlanID))
			Expect(asJSON(r.Body["parameters"])).To(MatchJSON(`{"extensions": ["citext"]}`))

			By("binding a first app")
			creds1 := cf.bindReady(id, b1, asyncPlan, newID())
			DeferCleanup(cf.unbindGone, id, b1, asyncPlan)
			// Field by field, and secrets as booleans, so that a failure prints no password.
			Expect(creds1.str("hostname")).NotTo(BeEmpty())
			Expect(creds1["port"]).To(BeNumerically(">", 0))
			Expect(creds1.str("name")).To(Equal(dbName))
			Expect(creds1.str("username")).NotTo(BeEmpty())
			Expect(regexp.MustCompile(`^[0-9A-Za-z]{32}$`).MatchString(creds1.str("password"))).To(BeTrue(), "the password is 32 base62 characters")
			Expect(strings.HasPrefix(creds1.str("uri"), "postgres")).To(BeTrue(), "uri is a postgres URL")
			Expect(strings.Contains(creds1.str("uri"), "sslmode=disable")).To(BeTrue(), "uri keeps the node's sslmode")
			Expect(strings.HasPrefix(creds1.str("jdbcUrl"), "jdbc:postgresql://")).To(BeTrue(), "jdbcUrl is a PostgreSQL JDBC URL")

			By("creating a table and a row as the first app")
			app1 := mustConnect(creds1.str("uri"))
			_, err := app1.Exec(`CREATE TABLE greetings (text text NOT NULL)`)
			Expect(err).NotTo(HaveOccurred())
			_, err = app1.Exec(`INSERT INTO greetings (text) VALUES ('hello')`)
			Expect(err).NotTo(HaveOccurred())
			Expect(app1.Close()).To(Succeed())

			By("binding a second app, which reads and writes the first app's table")
			creds2 := cf.bindReady(id, b2, asyncPlan, newID())
			DeferCleanup(cf.unbindGone, id, b2, asyncPlan)
			Expect(creds2.str("username")).NotTo(Equal(creds1.str("username")))
			Expect(creds2.str("password") != creds1.str("password")).To(BeTrue(), "each binding has a password of its own")
			app2 := mustConnect(creds2.str("uri"))
			var text string
			Expect(app2.QueryRow(`SELECT text FROM greetings`).Scan(&text)).To(Succeed())
			Expect(text).To(Equal("hello"))
			_, err = app2.Exec(`INSERT INTO greetings (text) VALUES ('again')`)
			Expect(err).NotTo(HaveOccurred())
			Expect(app2.Close()).To(Succeed())

			By("unbinding the first app")
			r = cf.unbind(id, b1, asyncPlan, true)
			Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted), r.String())
			if r.Status == http.StatusAccepted {
				expectSucceeded(cf.awaitBinding(id, b1, asyncPlan, operationOf(r)))
			}
			_, err = connect(creds1.str("uri"))
			Expect(err).To(HaveOccurred(), "the first app's credentials no longer log in")
			Expect(roleExists(creds1.str("username"))).To(BeFalse(), "the first app's role is dropped")
			r = cf.getBinding(id, b1)
			Expect(r.Status).To(Equal(http.StatusNotFound), r.String())

			By("fetching the second binding")
			r = cf.getBinding(id, b2)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(credentialsOf(r)).To(Equal(creds2))

			By("unbinding the second app, as Cloud Foundry does before deleting a service")
			cf.unbindGone(id, b2, asyncPlan)
			Expect(roleExists(creds2.str("username"))).To(BeFalse(), "the second app's role is dropped")

			By("deprovisioning")
			r = cf.deprovision(id, asyncPlan, true)
			Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted), r.String())
			deprovisionOp := ""
			if r.Status == http.StatusAccepted {
				deprovisionOp = operationOf(r)
				expectSucceeded(cf.awaitInstance(id, asyncPlan, deprovisionOp))
			}
			Expect(databaseExists(dbName)).To(BeFalse(), "database %s is dropped", dbName)

			By("polling after the instance is gone")
			if deprovisionOp != "" {
				r = cf.lastOperation(id, asyncPlan, deprovisionOp)
				Expect(r.Status).To(Equal(http.StatusOK), r.String())
				Expect(r.Body).To(HaveKeyWithValue("state", "succeeded"))
			}
			expectJSONObject(cf.lastOperation(id, asyncPlan, ""), http.StatusGone)
			expectJSONObject(cf.deprovision(id, asyncPlan, true), http.StatusGone)
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
		})
	})
})

// connectionLimit is the CONNECTION LIMIT of a backend database, which the quick plans set.
func connectionLimit(name string) int {
	GinkgoHelper()
	var limit int
	Expect(adminDB.QueryRow(`SELECT datconnlimit FROM pg_database WHERE datname = $1`, name).Scan(&limit)).To(Succeed())
	return limit
}

var _ = Describe("Plan changes", func() {
	When("an app was bound before the instance moved to another plan", func() {
		It("keeps the binding: the same bind answers 200, unbind takes the new plan_id, and the instance can be deleted", func() {
			cf := shared.client()
			id, bindingID, appGUID := newID(), newID(), newID()
			dbName := backendDatabase(id)

			By("provisioning the quick plan and binding an app")
			r := cf.provision(id, provisionBody(quickPlan, nil), true)
			DeferCleanup(cf.deprovisionGone, id, quickPlan)
			Expect(r.Status).To(Equal(http.StatusCreated), r.String())
			Expect(connectionLimit(dbName)).To(Equal(20))
			creds := cf.bindReady(id, bindingID, quickPlan, appGUID)
			DeferCleanup(cf.unbindGone, id, bindingID, quickPlan)
			mustConnect(creds.str("uri"))

			By("moving the instance to quick2")
			r = cf.update(id, updateBody(quickPlan, quick2Plan, nil), true)
			Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted), r.String())
			if r.Status == http.StatusAccepted {
				expectSucceeded(cf.awaitInstance(id, quick2Plan, operationOf(r)))
			}
			// From here on Cloud Foundry names the instance's new plan in every request.
			DeferCleanup(cf.deprovisionGone, id, quick2Plan)
			DeferCleanup(cf.unbindGone, id, bindingID, quick2Plan)
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body).To(HaveKeyWithValue("plan_id", quick2PlanID))
			Expect(connectionLimit(dbName)).To(Equal(10), "the backend applied the new plan")

			By("sending the same bind again, with the new plan_id")
			r = cf.bind(id, bindingID, bindBody(quick2Plan, appGUID, nil), true)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(credentialsOf(r)).To(Equal(creds))
			mustConnect(creds.str("uri"))

			By("unbinding with the new plan_id")
			r = cf.unbind(id, bindingID, quick2Plan, true)
			Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted), r.String())
			if r.Status == http.StatusAccepted {
				expectSucceeded(cf.awaitBinding(id, bindingID, quick2Plan, operationOf(r)))
			}
			r = cf.getBinding(id, bindingID)
			Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
			expectJSONObject(cf.unbind(id, bindingID, quick2Plan, true), http.StatusGone)
			_, err := connect(creds.str("uri"))
			Expect(err).To(HaveOccurred(), "the app's credentials no longer log in")
			Expect(roleExists(creds.str("username"))).To(BeFalse(), "the app's role is dropped")

			By("deprovisioning with the new plan_id")
			r = cf.deprovision(id, quick2Plan, true)
			Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted), r.String())
			if r.Status == http.StatusAccepted {
				expectSucceeded(cf.awaitInstance(id, quick2Plan, operationOf(r)))
			}
			Expect(databaseExists(dbName)).To(BeFalse(), "database %s is dropped", dbName)
			expectJSONObject(cf.deprovision(id, quick2Plan, true), http.StatusGone)
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
		})
	})
})
