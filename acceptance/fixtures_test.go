package acceptance_test

// The suite's fixtures: the test catalog with its ids and plans, and the request bodies a
// platform sends.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// The test catalog's ids.
const (
	pgServiceID     = "a3ca7818-1eb4-4fc1-899c-0726f8e66603"
	quickPlanID     = "57dce5fd-1c79-4038-bcc9-ce4d55d31bc6"
	quick2PlanID    = "b802d3f1-55fc-4fa5-a038-f4b800ba7faa"
	asyncPlanID     = "01fe66d2-08c4-49bd-aefe-c24746459d5b"
	fixedPlanID     = "dd651d1e-58b8-4920-b6c1-a94a1cb9cf23"
	otherServiceID  = "7f995d9a-2d6c-4014-9142-af05ccec03cc"
	otherPlanID     = "369aa54d-5ae7-4630-9a4e-578a112571d8"
	asyncBindsID    = "5c0b8e0e-3d6f-4a59-9d41-2f7c1b0e6a52"
	cfPlanID        = "5c0b8e0e-3d6f-4a59-9d41-2f7c1b0e6a53"
	mysqlServiceID  = "0b7c52a4-57d4-4a43-9c5c-3f0b1a6f3c11"
	mysqlPlanID     = "0b7c52a4-57d4-4a43-9c5c-3f0b1a6f3c12"
	redisServiceID  = "4e8e1f0c-2b53-4c9e-8a7b-6d1c2f3e4a21"
	redisPlanID     = "4e8e1f0c-2b53-4c9e-8a7b-6d1c2f3e4a22"
	rabbitServiceID = "9d2f6a7b-1c3e-4f5a-8b9c-0d1e2f3a4b31"
	rabbitPlanID    = "9d2f6a7b-1c3e-4f5a-8b9c-0d1e2f3a4b32"
	rabbitMgmtID    = "9d2f6a7b-1c3e-4f5a-8b9c-0d1e2f3a4b33"
)

// plan names a plan of the test catalog the way requests do.
type plan struct{ serviceID, planID string }

// planNamed is the plan of that name in a catalog's YAML.
func planNamed(catalogYAML, name string) plan {
	var parsed struct {
		Services []struct {
			ID    string
			Plans []struct{ ID, Name string }
		}
	}
	if err := yaml.Unmarshal([]byte(catalogYAML), &parsed); err != nil {
		panic(err)
	}
	for _, service := range parsed.Services {
		for _, p := range service.Plans {
			if p.Name == name {
				return plan{service.ID, p.ID}
			}
		}
	}
	panic("the catalog has no plan " + name)
}

var (
	quickPlan  = plan{pgServiceID, quickPlanID}
	quick2Plan = plan{pgServiceID, quick2PlanID}
	asyncPlan  = plan{pgServiceID, asyncPlanID}
	fixedPlan  = plan{pgServiceID, fixedPlanID}
	// asyncBindsPlan is async_only and bindings_async_only: no request on it waits.
	asyncBindsPlan = plan{otherServiceID, asyncBindsID}
	// cfPlan has a maintenance_info, which Cloud Foundry sends back with every provision and update.
	cfPlan     = plan{otherServiceID, cfPlanID}
	mysqlPlan  = plan{mysqlServiceID, mysqlPlanID}
	redisPlan  = plan{redisServiceID, redisPlanID}
	rabbitPlan = plan{rabbitServiceID, rabbitPlanID}
	// rabbitMgmtPlan sets management_api: its binding users may use the management API.
	rabbitMgmtPlan = plan{rabbitServiceID, rabbitMgmtID}
)

// cfMaintenanceVersion is the maintenance_info.version of cfPlan.
const cfMaintenanceVersion = "2.1.0"

// quickWaitBudget is the wait_budget of the quick plans: how long a request with
// accepts_incomplete=true waits for its operation before it answers 202.
const quickWaitBudget = 10 * time.Second

const extensionsSchema = `{"$schema": "http://json-schema.org/draft-04/schema#", type: object, additionalProperties: false, properties: {extensions: {type: array, uniqueItems: true, items: {enum: [citext, hstore, pg_trgm, pgcrypto, "uuid-ossp"]}}}}`

// catalogYAML is the catalog every broker of the suite serves: quick waits for its operation,
// quick2 too (a plan to move quick to), async never does but for binds, fixed cannot change
// plan, and other-service is a second offering, whose async-binds plan never waits at all.
var catalogYAML = strings.NewReplacer(
	"PG_SERVICE", pgServiceID,
	"QUICK_PLAN", quickPlanID,
	"QUICK2_PLAN", quick2PlanID,
	"QUICK_BUDGET", quickWaitBudget.String(),
	"ASYNC_PLAN", asyncPlanID,
	"FIXED_PLAN", fixedPlanID,
	"OTHER_SERVICE", otherServiceID,
	"OTHER_PLAN", otherPlanID,
	"ASYNC_BINDS_PLAN", asyncBindsID,
	"CF_PLAN", cfPlanID,
	"CF_MAINTENANCE", cfMaintenanceVersion,
	"MYSQL_SERVICE", mysqlServiceID,
	"MYSQL_PLAN", mysqlPlanID,
	"REDIS_SERVICE", redisServiceID,
	"REDIS_PLAN", redisPlanID,
	"RABBIT_SERVICE", rabbitServiceID,
	"RABBIT_PLAN", rabbitPlanID,
	"RABBIT_MGMT_PLAN", rabbitMgmtID,
	"SCHEMA", extensionsSchema,
).Replace(`services:
  - id: PG_SERVICE
    name: pg-test
    description: test postgres
    bindable: true
    instances_retrievable: true
    bindings_retrievable: true
    plan_updateable: true
    plans:
      - id: QUICK_PLAN
        name: quick
        description: waits up to ten seconds for its operation
        binding_rotatable: true
        backend: postgres
        wait_budget: QUICK_BUDGET
        config: {connection_limit: 20}
        schemas:
          service_instance:
            create: {parameters: SCHEMA}
            update: {parameters: SCHEMA}
      - id: QUICK2_PLAN
        name: quick2
        description: like quick, with fewer connections
        binding_rotatable: true
        backend: postgres
        wait_budget: QUICK_BUDGET
        config: {connection_limit: 10}
      - id: ASYNC_PLAN
        name: async
        description: never waits for its operation
        binding_rotatable: true
        backend: postgres
        async_only: true
        maximum_polling_duration: 3600
        schemas:
          service_instance:
            create: {parameters: SCHEMA}
            update: {parameters: SCHEMA}
      - id: FIXED_PLAN
        name: fixed
        description: cannot change plan
        binding_rotatable: true
        backend: postgres
        plan_updateable: false
  - id: OTHER_SERVICE
    name: other-service
    description: another offering
    bindable: true
    instances_retrievable: true
    bindings_retrievable: true
    plans:
      - id: OTHER_PLAN
        name: other
        description: d
        backend: postgres
      - id: ASYNC_BINDS_PLAN
        name: async-binds
        description: never waits, not even to bind
        backend: postgres
        async_only: true
        bindings_async_only: true
      - id: CF_PLAN
        name: cf
        description: has a maintenance version
        backend: postgres
        wait_budget: QUICK_BUDGET
        maintenance_info: {version: CF_MAINTENANCE, description: the plan as first released}
  - id: MYSQL_SERVICE
    name: mysql-test
    description: test mysql
    bindable: true
    bindings_retrievable: true
    plans:
      - id: MYSQL_PLAN
        name: mysql
        description: a database on MariaDB
        backend: mysql
        wait_budget: QUICK_BUDGET
        config: {max_user_connections: 5}
  - id: REDIS_SERVICE
    name: redis-test
    description: test redis
    bindable: true
    bindings_retrievable: true
    plans:
      - id: REDIS_PLAN
        name: redis
        description: a key prefix on Redis
        backend: redis
        wait_budget: QUICK_BUDGET
  - id: RABBIT_SERVICE
    name: rabbitmq-test
    description: test rabbitmq
    bindable: true
    bindings_retrievable: true
    plans:
      - id: RABBIT_PLAN
        name: rabbitmq
        description: a vhost on RabbitMQ
        backend: rabbitmq
        wait_budget: QUICK_BUDGET
      - id: RABBIT_MGMT_PLAN
        name: rabbitmq-management
        description: a vhost on RabbitMQ whose users may use the management API
        backend: rabbitmq
        wait_budget: QUICK_BUDGET
        config: {management_api: true}
backends:
  - name: postgres
    kind: postgres
    nodes:
      - name: pg-local
        url_env: OMNIBROKER_POSTGRES_URL
        capacity: 1000
  - name: mysql
    kind: mysql
    nodes:
      - name: mysql-local
        url_env: OMNIBROKER_MYSQL_URL
        capacity: 1000
  - name: redis
    kind: redis
    nodes:
      - name: redis-local
        url_env: OMNIBROKER_REDIS_URL
        capacity: 1000
  - name: rabbitmq
    kind: rabbitmq
    nodes:
      - name: rabbitmq-local
        url_env: OMNIBROKER_RABBITMQ_URL
        capacity: 1000
`)

// catalogWith writes a catalog of services (YAML list entries) with the test catalog's
// backends to a file of the spec's, and returns its path.
func catalogWith(services string) string {
	GinkgoHelper()
	return writeCatalog("services:\n" + services + catalogYAML[strings.Index(catalogYAML, "backends:"):])
}

// writeCatalog writes the catalog yaml to a file of the spec's and returns its path.
func writeCatalog(yaml string) string {
	GinkgoHelper()
	path := filepath.Join(GinkgoT().TempDir(), "catalog.yml")
	Expect(os.WriteFile(path, []byte(yaml), 0o600)).To(Succeed())
	return path
}

func newID() string { return uuid.NewString() }

// provisionBody is what Cloud Foundry sends to create an instance of p.
func provisionBody(p plan, params map[string]any) map[string]any {
	org, space := newID(), newID()
	body := map[string]any{
		"service_id":        p.serviceID,
		"plan_id":           p.planID,
		"organization_guid": org,
		"space_guid":        space,
		"context": map[string]any{
			"platform":          "cloudfoundry",
			"organization_guid": org,
			"space_guid":        space,
			"organization_name": "acceptance-org",
			"space_name":        "acceptance-space",
		},
	}
	if params != nil {
		body["parameters"] = params
	}
	return body
}

// updateBody is what Cloud Foundry sends to move an instance from one plan to another.
func updateBody(from, to plan, params map[string]any) map[string]any {
	body := map[string]any{
		"service_id": to.serviceID,
		"plan_id":    to.planID,
		"previous_values": map[string]any{
			"service_id": from.serviceID,
			"plan_id":    from.planID,
		},
		"context": map[string]any{"platform": "cloudfoundry"},
	}
	if params != nil {
		body["parameters"] = params
	}
	return body
}

// bindBody is what Cloud Foundry sends to bind an app to an instance of p.
func bindBody(p plan, appGUID string, params map[string]any) map[string]any {
	body := map[string]any{
		"service_id":    p.serviceID,
		"plan_id":       p.planID,
		"app_guid":      appGUID,
		"bind_resource": map[string]any{"app_guid": appGUID},
		"context":       map[string]any{"platform": "cloudfoundry"},
	}
	if params != nil {
		body["parameters"] = params
	}
	return body
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// with returns a copy of body with key set to value (or removed, for nil).
func with(body map[string]any, key string, value any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		out[k] = v
	}
	if value == nil {
		delete(out, key)
	} else {
		out[key] = value
	}
	return out
}
