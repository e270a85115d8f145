package acceptance_test

import (
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Cloud Controller refuses a catalog that breaks its rules when the broker is registered or
// updated (cf create-service-broker); `omnibroker catalog check` and start-up refuse it first.
var _ = Describe("Cloud Controller's catalog rules, through the binary", func() {
	// refused writes the suite's catalog with one change and expects `catalog check FILE` and
	// `serve` with it both to stop with status 1, naming the entry and the rule.
	refused := func(from, to, want string) {
		Expect(catalogYAML).To(ContainSubstring(from))
		path := writeCatalog(strings.Replace(catalogYAML, from, to, 1))

		check := runBinary(nil, "catalog", "check", path)
		Expect(check.ExitCode()).To(Equal(1))
		Expect(string(check.Err.Contents())).To(ContainSubstring(want))

		env := brokerEnv(shared.state, "127.0.0.1:0")
		env["OMNIBROKER_CONFIG"] = path
		session := runBinary(env, "serve")
		Expect(session.ExitCode()).To(Equal(1))
		Expect(string(session.Err.Contents())).To(ContainSubstring(want))
		expectSessionHasNoSecrets(session)
	}

	It("passes the suite's catalog and the shipped one", func() {
		for _, path := range []string{catalogPath, filepath.Join("..", "config", "catalog.yml")} {
			check := runBinary(nil, "catalog", "check", path)
			Expect(check.ExitCode()).To(Equal(0), path)
			Expect(string(check.Out.Contents())).To(ContainSubstring("the catalog is valid"))
		}
	})

	DescribeTable("refuses, naming the entry",
		refused,
		Entry("a service id used twice", "id: "+otherServiceID, "id: "+pgServiceID,
			`services[1] "other-service": id "`+pgServiceID+`" is already used by services[0] "pg-test"`),
		Entry("a plan id that is a service's", "id: "+otherPlanID, "id: "+mysqlServiceID,
			`services[2] "mysql-test": id "`+mysqlServiceID+`" is already used by services[1] "other-service": plans[0] "other"`),
		Entry("a service name used twice", "name: other-service", "name: pg-test",
			`services[1] "pg-test": name "pg-test" is already used by services[0] "pg-test"`),
		Entry("a plan name used twice in a service", "name: quick2", "name: quick",
			`services[0] "pg-test": plans[1] "quick": name "quick" is already used by services[0] "pg-test": plans[0] "quick" in the same service`),
		Entry("a service without description", "description: test mysql", "description: ''",
			`services[2] "mysql-test": description is required`),
		Entry("a description over 10,000 characters", "description: test mysql", "description: "+strings.Repeat("m", 10001),
			`services[2] "mysql-test": description is 10001 characters, more than the 10000 Cloud Controller takes`),
		Entry("tags over 2,048 characters", "    description: test redis\n",
			"    description: test redis\n    tags: ["+strings.Repeat("r", 2000)+", "+strings.Repeat("s", 49)+"]\n",
			`services[3] "redis-test": tags are 2049 characters together`),
		Entry("a permission OSB does not define", "    description: test redis\n", "    description: test redis\n    requires: [root]\n",
			`services[3] "redis-test": requires[0] "root" is not one of syslog_drain, route_forwarding, volume_mount`),
		Entry("a schema without $schema", `{"$schema": "http://json-schema.org/draft-04/schema#", type: object`, `{type: object`,
			`services[0] "pg-test": plans[0] "quick": schemas.service_instance.create.parameters must declare "$schema"`),
		Entry("a schema over 64 KiB", `additionalProperties: false,`, `description: "`+strings.Repeat("x", 65536)+`", additionalProperties: false,`,
			`services[0] "pg-test": plans[0] "quick": schemas.service_instance.create.parameters is larger than 64 KB`),
		Entry("a schema the draft-04 metaschema refuses", `additionalProperties: false,`, `additionalProperties: false, required: [],`,
			`services[0] "pg-test": plans[0] "quick": schemas.service_instance.create.parameters is not a valid JSON Schema: at '/required'`),
		Entry("a schema with an external $ref", `items: {enum:`, `items: {$ref: "https://example.com/ext.json", enum:`,
			`services[0] "pg-test": plans[0] "quick": schemas.service_instance.create.parameters has the external $ref "https://example.com/ext.json"`),
		Entry("a maximum_polling_duration that is not an integer", "        name: quick2\n", "        name: quick2\n        maximum_polling_duration: 60.5\n",
			`services[0] "pg-test": plans[1] "quick2": maximum_polling_duration: must be a whole number, got 60.5`),
		Entry("an incomplete dashboard_client", "    description: test rabbitmq\n",
			"    description: test rabbitmq\n    dashboard_client: {id: rabbit-sso, redirect_uri: \"https://dash.example.com\"}\n",
			`services[4] "rabbitmq-test": dashboard_client: secret is required`),
		Entry("bindings_async_only without bindings_retrievable", "    bindings_retrievable: true\n    plans:\n      - id: "+otherPlanID,
			"    plans:\n      - id: "+otherPlanID,
			`services[1] "other-service": plans[1] "async-binds": bindings_async_only needs the service's bindings_retrievable: true`),
	)
})
