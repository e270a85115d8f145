package acceptance_test

import (
	"fmt"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The plans of the maintenance catalog: one of each kind whose settings and maintenance
// version a second release of the catalog changes, a postgres plan to move to, and one whose
// settings the backend refuses.
var (
	mPGPlan     = plan{"c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a01", "c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a02"}
	mPG2Plan    = plan{mPGPlan.serviceID, "c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a03"}
	mBrokenPlan = plan{mPGPlan.serviceID, "c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a04"}
	mMySQLPlan  = plan{"c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a11", "c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a12"}
	mRedisPlan  = plan{"c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a21", "c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a22"}
	mRabbitPlan = plan{"c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a31", "c1f7a0a2-8f00-4c61-9a51-3c1d1c0e7a32"}
)

// release is one release of the maintenance catalog: each plan's maintenance version and
// backend settings.
type release struct {
	pgVersion, pgConfig       string
	mysqlVersion, mysqlConfig string
	redisVersion, redisConfig string
	rabbitVersion, rabbitConf string
}

// release1 is the catalog instances are made under; release2 raises every plan's version but
// pg2's and changes what the plans set: the connection limit and an extension for postgres,
// max_user_connections for mysql, a denied command for redis, permissions for rabbitmq.
var (
	release1 = release{
		pgVersion: "1.0.0", pgConfig: `{connection_limit: 10}`,
		mysqlVersion: "1.0.0", mysqlConfig: `{max_user_connections: 5}`,
		redisVersion: "1.0.0", redisConfig: `{}`,
		rabbitVersion: "1.0.0", rabbitConf: `{}`,
	}
	release2 = release{
		pgVersion: "1.1.0", pgConfig: `{connection_limit: 15, extensions: [citext]}`,
		mysqlVersion: "1.1.0", mysqlConfig: `{max_user_connections: 7}`,
		redisVersion: "1.1.0", redisConfig: `{denied_commands: [eval]}`,
		rabbitVersion: "1.1.0-rc.1", rabbitConf: `{permissions: {configure: '^app\.', write: '.*', read: '.*'}}`,
	}
)

// maintService is a service of the maintenance catalog, whose plans are YAML flow mappings.
func maintService(name string, p plan, plans ...string) string {
	return fmt.Sprintf("  - {id: %s, name: %s, description: d, bindable: true, instances_retrievable: true,\n"+
		"     bindings_retrievable: true, plan_updateable: true, plans: [%s]}\n", p.serviceID, name, strings.Join(plans, ", "))
}

// maintPlan is a plan of the maintenance catalog on backend, with its settings and version.
func maintPlan(p plan, name, backend, config, version string) string {
	return fmt.Sprintf("{id: %s, name: %s, description: d, backend: %s, wait_budget: %s, config: %s, maintenance_info: {version: %s}}",
		p.planID, name, backend, quickWaitBudget, config, version)
}

// file writes the release's catalog, with the test catalog's backends, and returns its path.
func (r release) file() string {
	GinkgoHelper()
	pg := strings.Replace(maintPlan(mPGPlan, "pg", "postgres", r.pgConfig, r.pgVersion),
		"}}", ", description: what this release of pg brings}}", 1)
	return catalogWith(maintService("maint-pg", mPGPlan, pg,
		maintPlan(mPG2Plan, "pg2", "postgres", "{connection_limit: 12}", "2.0.0"),
		maintPlan(mBrokenPlan, "broken", "postgres", "{connection_limit: -5}", "1.0.0")) +
		maintService("maint-mysql", mMySQLPlan, maintPlan(mMySQLPlan, "mysql", "mysql", r.mysqlConfig, r.mysqlVersion)) +
		maintService("maint-redis", mRedisPlan, maintPlan(mRedisPlan, "redis", "redis", r.redisConfig, r.redisVersion)) +
		maintService("maint-rabbitmq", mRabbitPlan, maintPlan(mRabbitPlan, "rabbitmq", "rabbitmq", r.rabbitConf, r.rabbitVersion)))
}

// serve starts a broker on state that serves the release's catalog.
func (r release) serve(state stateDB) *broker {
	GinkgoHelper()
	return startBroker(state, map[string]string{"OMNIBROKER_CONFIG": r.file()})
}

// maintenance is a maintenance_info object as platforms send it.
func maintenance(version string) map[string]any { return map[string]any{"version": version} }

// upgradeBody is what Cloud Foundry sends for `cf upgrade-service`: the instance's plan again,
// with the plan's maintenance_info.
func upgradeBody(p plan, version string) map[string]any {
	return with(updateBody(p, p, nil), "maintenance_info", maintenance(version))
}

// updated sends an update and waits for it to succeed.
func (c *osbClient) updated(id string, body map[string]any, p plan) {
	GinkgoHelper()
	r := c.update(id, body, true)
	Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted), r.String())
	if r.Status == http.StatusAccepted {
		expectSucceeded(c.awaitInstance(id, p, operationOf(r)))
	}
}

// maintenanceVersionOf is the maintenance_info.version GET instance answers, "" for none.
func (c *osbClient) maintenanceVersionOf(id string) string {
	GinkgoHelper()
	r := c.getInstance(id)
	Expect(r.Status).To(Equal(http.StatusOK), r.String())
	mi, _ := r.Body["maintenance_info"].(map[string]any)
	v, _ := mi["version"].(string)
	return v
}

// planVersions maps each plan id of a catalog answer to its maintenance_info ("absent" when
// the plan has none).
func planVersions(r response) map[string]any {
	GinkgoHelper()
	Expect(r.Status).To(Equal(http.StatusOK), r.String())
	out := map[string]any{}
	services, _ := r.Body["services"].([]any)
	for _, s := range services {
		plans, _ := s.(map[string]any)["plans"].([]any)
		for _, p := range plans {
			plan := p.(map[string]any)
			mi, ok := plan["maintenance_info"]
			if !ok {
				mi = "absent"
			}
			out[plan["id"].(string)] = mi
		}
	}
	return out
}

var _ = Describe("Maintenance info", func() {
	It("shows each plan's maintenance_info on GET /v2/catalog to platforms of OSB 2.15 and later, and to no older one", func() {
		b := release1.serve(newStateDB())
		cf := b.client()
		Expect(planVersions(cf.catalog())).To(HaveKeyWithValue(mPGPlan.planID,
			map[string]any{"version": "1.0.0", "description": "what this release of pg brings"}))
		Expect(planVersions(cf.catalog())).To(HaveKeyWithValue(mMySQLPlan.planID, map[string]any{"version": "1.0.0"}))

		k8s := b.client()
		k8s.version = "2.14"
		Expect(planVersions(k8s.catalog())).To(HaveEach("absent"))
		k8s.version = "2.17"
		Expect(planVersions(k8s.catalog())).To(HaveKeyWithValue(mPG2Plan.planID, map[string]any{"version": "2.0.0"}))
	})

	When("a provision carries a maintenance_info that is not its plan's", func() {
		It("answers 422 MaintenanceInfoConflict and creates nothing", func() {
			state := newStateDB()
			cf := release1.serve(state).client()
			id := newID()
			dropLeftoverDatabase(id)

			r := cf.provision(id, with(provisionBody(mPGPlan, nil), "maintenance_info", maintenance("0.9.0")), true)
			expectOSBErrorCode(r, http.StatusUnprocessableEntity, "MaintenanceInfoConflict")
			Expect(r.str("description")).To(ContainSubstring(`"1.0.0"`), "it names the plan's version")
			Expect(cf.getInstance(id).Status).To(Equal(http.StatusNotFound))
			var rows int
			Expect(state.open().QueryRow(`SELECT count(*) FROM instances WHERE id = $1`, id).Scan(&rows)).To(Succeed())
			Expect(rows).To(BeZero())
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())

			By("answering the same for a plan without maintenance_info")
			r = shared.client().provision(id, with(provisionBody(quickPlan, nil), "maintenance_info", maintenance("1.0.0")), true)
			expectOSBErrorCode(r, http.StatusUnprocessableEntity, "MaintenanceInfoConflict")
		})
	})

	When("an instance moves to another plan with that plan's maintenance_info, as Cloud Controller sends it", func() {
		It("runs one update operation, after which the instance has the new plan's settings and version", func() {
			state := newStateDB()
			cf := release1.serve(state).client()
			id := newID()
			dropLeftoverDatabase(id)
			cf.provisionReady(id, mPGPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, mPG2Plan)
			Expect(cf.maintenanceVersionOf(id)).To(Equal("1.0.0"))
			k8s := *cf
			k8s.version = "2.14"
			r := k8s.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body).NotTo(HaveKey("maintenance_info"), "OSB 2.14 knows no maintenance_info")

			cf.updated(id, with(updateBody(mPGPlan, mPG2Plan, nil), "maintenance_info", maintenance("2.0.0")), mPG2Plan)
			var updates int
			Expect(state.open().QueryRow(`SELECT count(*) FROM operations WHERE instance_id = $1 AND kind = 'update'`, id).Scan(&updates)).To(Succeed())
			Expect(updates).To(Equal(1))
			Expect(cf.getInstance(id).Body).To(HaveKeyWithValue("plan_id", mPG2Plan.planID))
			Expect(cf.maintenanceVersionOf(id)).To(Equal("2.0.0"))
			Expect(connectionLimit(backendDatabase(id))).To(Equal(12))

			By("refusing a plan change with the old plan's maintenance_info")
			r = cf.update(id, with(updateBody(mPG2Plan, mPGPlan, nil), "maintenance_info", maintenance("2.0.0")), true)
			expectOSBErrorCode(r, http.StatusUnprocessableEntity, "MaintenanceInfoConflict")
		})
	})

	When("an update fails", func() {
		It("says on last_operation that the instance is usable and the update repeatable", func() {
			cf := release1.serve(newStateDB()).client()
			id := newID()
			dropLeftoverDatabase(id)
			cf.provisionReady(id, mPGPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, mPGPlan)

			r := cf.update(id, with(updateBody(mPGPlan, mBrokenPlan, nil), "maintenance_info", maintenance("1.0.0")), true)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			last := cf.awaitInstance(id, mBrokenPlan, operationOf(r))
			Expect(last.Body).To(HaveKeyWithValue("state", "failed"))
			Expect(last.Body).To(HaveKeyWithValue("update_repeatable", true))
			Expect(last.Body).To(HaveKeyWithValue("instance_usable", true))
			Expect(cf.getInstance(id).Body).To(HaveKeyWithValue("plan_id", mPGPlan.planID), "the instance keeps its plan")
			Expect(cf.maintenanceVersionOf(id)).To(Equal("1.0.0"))
		})
	})
})
