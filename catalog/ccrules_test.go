package catalog_test

import (
	"errors"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/catalog"
)

// Cloud Controller's rules for a catalog (cf create-service-broker and update-service-broker
// refuse one that breaks them), each of which Parse, and so `omnibroker catalog check` and
// start-up, reports naming the entry.
var _ = Describe("Cloud Controller's catalog rules", func() {
	expectProblem := func(cfg catalog.Config, want string) {
		GinkgoHelper()
		_, err := parseConfig(cfg)
		var invalid *catalog.ValidationError
		Expect(errors.As(err, &invalid)).To(BeTrue(), "a *ValidationError, got %v", err)
		Expect(invalid.Problems).To(ContainElement(ContainSubstring(want)), err.Error())
	}
	expectValid := func(cfg catalog.Config) {
		GinkgoHelper()
		_, err := parseConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
	}

	DescribeTable("each refused with a message naming the entry",
		func(mutate func(*catalog.Config), want string) {
			cfg := minimalConfig()
			mutate(&cfg)
			expectProblem(cfg, want)
		},
		Entry("a service description over 10,000 characters", func(c *catalog.Config) {
			c.Services[0].Description = strings.Repeat("d", 10001)
		}, `services[0] "pg": description is 10001 characters, more than the 10000 Cloud Controller takes`),
		Entry("a plan description over 10,000 characters, counted in characters", func(c *catalog.Config) {
			c.Services[0].Plans[1].Description = strings.Repeat("é", 10001)
		}, `services[0] "pg": plans[1] "large": description is 10001 characters`),
		Entry("tags over 2,048 characters together", func(c *catalog.Config) {
			c.Services[0].Tags = []string{strings.Repeat("t", 1024), strings.Repeat("u", 1025)}
		}, `services[0] "pg": tags are 2049 characters together, more than the 2048 Cloud Controller takes`),
		Entry("a schema without $schema", func(c *catalog.Config) { delete(instanceCreate(c), "$schema") },
			`services[0] "pg": plans[0] "small": schemas.service_instance.create.parameters must declare "$schema": "http://json-schema.org/draft-04/schema#"`),
		Entry("a schema of another draft", func(c *catalog.Config) {
			instanceCreate(c)["$schema"] = "https://json-schema.org/draft/2020-12/schema"
		}, `schemas.service_instance.create.parameters declares $schema "https://json-schema.org/draft/2020-12/schema"; Cloud Controller takes only`),
		Entry("a schema over 65,536 bytes", func(c *catalog.Config) {
			instanceCreate(c)["description"] = strings.Repeat("x", 65536)
		}, `schemas.service_instance.create.parameters is larger than 64 KB`),
		Entry("a schema that breaks the draft-04 metaschema", func(c *catalog.Config) {
			instanceCreate(c)["required"] = []any{}
		}, `schemas.service_instance.create.parameters is not a valid JSON Schema: at '/required'`),
		Entry("a schema with an external $ref", func(c *catalog.Config) {
			instanceCreate(c)["properties"] = map[string]any{"x": map[string]any{"items": map[string]any{"$ref": "other.json#/x"}}}
		}, `schemas.service_instance.create.parameters has the external $ref "other.json#/x"`),
		Entry("a schema referring to the metaschema itself", func(c *catalog.Config) {
			instanceCreate(c)["allOf"] = []any{map[string]any{"$ref": "http://json-schema.org/draft-04/schema#"}}
		}, `has the external $ref "http://json-schema.org/draft-04/schema#"`),
		Entry("a dashboard_client without secret", func(c *catalog.Config) {
			c.Services[0].DashboardClient = &catalog.DashboardClient{ID: "pg-sso", RedirectURI: "https://dash.example.com"}
		}, `services[0] "pg": dashboard_client: secret is required`),
		Entry("a dashboard_client without id", func(c *catalog.Config) {
			c.Services[0].DashboardClient = &catalog.DashboardClient{Secret: "s", RedirectURI: "https://dash.example.com"}
		}, `services[0] "pg": dashboard_client: id is required`),
		Entry("a dashboard_client whose redirect_uri is not an absolute URL", func(c *catalog.Config) {
			c.Services[0].DashboardClient = &catalog.DashboardClient{ID: "pg-sso", Secret: "s", RedirectURI: "/dash"}
		}, `services[0] "pg": dashboard_client: redirect_uri "/dash" is not an absolute URL`),
	)

	DescribeTable("each refused in the YAML's own terms",
		func(from, to, want string) {
			_, err := catalog.Parse([]byte(strings.Replace(minimal, from, to, 1)))
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("a maximum_polling_duration that is not an integer", "        backend: pg-pool\n",
			"        backend: pg-pool\n        maximum_polling_duration: 1.5\n",
			`services[0] "pg": plans[0] "small": maximum_polling_duration: must be a whole number, got 1.5`),
		Entry("a maximum_polling_duration written as a string", "        backend: pg-pool\n",
			"        backend: pg-pool\n        maximum_polling_duration: \"60\"\n",
			`services[0] "pg": plans[0] "small": maximum_polling_duration: must be a whole number, got a string`),
		Entry("a dashboard_client that is not a mapping", "    bindable: true\n",
			"    bindable: true\n    dashboard_client: pg-sso\n", `services[0] "pg": dashboard_client: must be a mapping`),
	)

	It("takes what is at each limit, a complete dashboard_client and references inside the schema", func() {
		cfg := minimalConfig()
		cfg.Services[0].Description = strings.Repeat("d", 10000)
		cfg.Services[0].Tags = []string{strings.Repeat("t", 1024), strings.Repeat("u", 1024)}
		cfg.Services[0].DashboardClient = &catalog.DashboardClient{ID: "pg-sso", Secret: "s", RedirectURI: "https://dash.example.com"}
		instanceCreate(&cfg)["definitions"] = map[string]any{"name": map[string]any{"type": "string"}}
		instanceCreate(&cfg)["properties"] = map[string]any{
			"db": map[string]any{"$ref": "#/definitions/name"},
			// A property may be called $ref: it names a parameter, not a reference.
			"$ref": map[string]any{"type": "string"},
		}
		expectValid(cfg)
	})
})
