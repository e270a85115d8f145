package catalog_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/omnibroker/omnibroker/catalog"
)

// minimal is the smallest valid catalog; each invalid case below mutates one thing in it.
const minimal = `
services:
  - id: svc-1
    name: pg
    description: A database
    bindable: true
    plans:
      - id: plan-1
        name: small
        description: Small
        backend: pg-pool
        schemas:
          service_instance:
            create:
              parameters:
                $schema: http://json-schema.org/draft-04/schema#
                type: object
                additionalProperties: false
                properties:
                  extensions:
                    type: array
                    items: {enum: [citext, pgcrypto]}
      - id: plan-2
        name: large
        description: Large
        backend: pg-pool
backends:
  - name: pg-pool
    kind: postgres
    nodes:
      - name: pg-1
        url_env: PG_URL
`

// minimalConfig decodes minimal as it stands, without Parse's validation and defaults.
func minimalConfig() catalog.Config {
	var cfg catalog.Config
	Expect(yaml.UnmarshalStrict([]byte(minimal), &cfg)).To(Succeed())
	return cfg
}

func parseConfig(cfg catalog.Config) (*catalog.Catalog, error) {
	data, err := yaml.Marshal(cfg)
	Expect(err).NotTo(HaveOccurred())
	return catalog.Parse(data)
}

func ptr[T any](v T) *T { return &v }

// secondService is a valid second service of its own, to make clashes with the first.
func secondService(id, name string) catalog.Service {
	return catalog.Service{
		OSBService: catalog.OSBService{ID: id, Name: name, Description: "Another"},
		Plans:      []catalog.Plan{{OSBPlan: catalog.OSBPlan{ID: "plan-9", Name: "small", Description: "Small"}, Backend: "pg-pool"}},
	}
}

func instanceCreate(cfg *catalog.Config) map[string]any {
	return cfg.Services[0].Plans[0].Schemas.ServiceInstance.Create.Parameters
}

var _ = Describe("Parse", func() {
	It("accepts the minimal catalog", func() {
		c, err := catalog.Parse([]byte(minimal))
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Services()).To(HaveLen(1))
	})

	DescribeTable("rejects a catalog Cloud Controller would refuse, naming the entry",
		func(mutate func(*catalog.Config), want string) {
			cfg := minimalConfig()
			mutate(&cfg)
			_, err := parseConfig(cfg)
			Expect(err).To(HaveOccurred())
			var invalid *catalog.ValidationError
			Expect(errors.As(err, &invalid)).To(BeTrue(), err.Error())
			Expect(invalid.Problems).To(ContainElement(ContainSubstring(want)), err.Error())
			for _, p := range invalid.Problems {
				Expect(p).NotTo(ContainSubstring("\n"))
			}
		},
		Entry("no service", func(c *catalog.Config) { c.Services = nil },
			"at least one service is required"),
		Entry("a service without id", func(c *catalog.Config) { c.Services[0].ID = "" },
			`services[0] "pg": id is required`),
		Entry("a service id with surrounding space", func(c *catalog.Config) { c.Services[0].ID = " svc-1" },
			`services[0] "pg": id " svc-1" has leading or trailing space`),
		Entry("a service without name", func(c *catalog.Config) { c.Services[0].Name = "" },
			`services[0]: name is required`),
		Entry("a whitespace-only service name", func(c *catalog.Config) { c.Services[0].Name = "  " },
			`services[0] "  ": name is required`),
		Entry("a service name with a space", func(c *catalog.Config) { c.Services[0].Name = "my pg" },
			`services[0] "my pg": name "my pg" must be letters, digits`),
		Entry("a service without description", func(c *catalog.Config) { c.Services[0].Description = "" },
			`services[0] "pg": description is required`),
		Entry("a service without plans", func(c *catalog.Config) { c.Services[0].Plans = nil },
			`services[0] "pg": at least one plan is required`),
		Entry("a service requiring an unknown permission", func(c *catalog.Config) { c.Services[0].Requires = []string{"root"} },
			`services[0] "pg": requires[0] "root" is not one of syslog_drain, route_forwarding, volume_mount`),
		Entry("two services with one id", func(c *catalog.Config) {
			c.Services = append(c.Services, secondService("svc-1", "pg2"))
		}, `services[1] "pg2": id "svc-1" is already used by services[0] "pg"`),
		Entry("two services with one name", func(c *catalog.Config) {
			c.Services = append(c.Services, secondService("svc-2", "pg"))
		}, `services[1] "pg": name "pg" is already used by services[0] "pg"`),
		Entry("a plan without id", func(c *catalog.Config) { c.Services[0].Plans[0].ID = "" },
			`services[0] "pg": plans[0] "small": id is required`),
		Entry("a plan without name", func(c *catalog.Config) { c.Services[0].Plans[0].Name = "" },
			`services[0] "pg": plans[0]: name is required`),
		Entry("a plan name with a slash", func(c *catalog.Config) { c.Services[0].Plans[0].Name = "small/1" },
			`services[0] "pg": plans[0] "small/1": name "small/1" must be letters, digits`),
		Entry("a plan without description", func(c *catalog.Config) { c.Services[0].Plans[1].Description = " " },
			`services[0] "pg": plans[1] "large": description is required`),
		Entry("two plans of a service with one id", func(c *catalog.Config) { c.Services[0].Plans[1].ID = "plan-1" },
			`services[0] "pg": plans[1] "large": id "plan-1" is already used by services[0] "pg": plans[0] "small"`),
		Entry("plans of two services with one id", func(c *catalog.Config) {
			s := secondService("svc-2", "pg2")
			s.Plans[0].ID = "plan-2"
			c.Services = append(c.Services, s)
		}, `services[1] "pg2": plans[0] "small": id "plan-2" is already used by services[0] "pg": plans[1] "large"`),
		Entry("a plan with its service's id", func(c *catalog.Config) { c.Services[0].Plans[0].ID = "svc-1" },
			`services[0] "pg": plans[0] "small": id "svc-1" is already used by services[0] "pg"`),
		Entry("two plans of a service with one name", func(c *catalog.Config) { c.Services[0].Plans[1].Name = "small" },
			`services[0] "pg": plans[1] "small": name "small" is already used by services[0] "pg": plans[0] "small" in the same service`),
		Entry("a plan on an unknown backend", func(c *catalog.Config) { c.Services[0].Plans[0].Backend = "nope" },
			`services[0] "pg": plans[0] "small": backend "nope" is not configured`),
		Entry("a plan without backend", func(c *catalog.Config) { c.Services[0].Plans[0].Backend = "" },
			`services[0] "pg": plans[0] "small": backend is required`),
		Entry("a wait budget over 55s", func(c *catalog.Config) {
			c.Services[0].Plans[0].WaitBudget = catalog.Duration(56 * time.Second)
		}, `services[0] "pg": plans[0] "small": wait_budget 56s is not between 0s and 55s`),
		Entry("a negative wait budget", func(c *catalog.Config) {
			c.Services[0].Plans[1].WaitBudget = catalog.Duration(-time.Second)
		}, `services[0] "pg": plans[1] "large": wait_budget -1s is not between 0s and 55s`),
		Entry("a binding lifetime under a second", func(c *catalog.Config) {
			c.Services[0].Plans[0].BindingLifetime = catalog.Duration(500 * time.Millisecond)
		}, `services[0] "pg": plans[0] "small": binding_lifetime 500ms is shorter than 1s: a binding must live long enough to be handed out`),
		Entry("a negative binding lifetime", func(c *catalog.Config) {
			c.Services[0].Plans[1].BindingLifetime = catalog.Duration(-time.Hour)
		}, `services[0] "pg": plans[1] "large": binding_lifetime -1h0m0s is shorter than 1s`),
		Entry("a binding lifetime on a plan that is not bindable", func(c *catalog.Config) {
			c.Services[0].Plans[0].BindingLifetime = catalog.Duration(time.Hour)
			c.Services[0].Plans[0].Bindable = ptr(false)
		}, `services[0] "pg": plans[0] "small": binding_lifetime 1h0m0s is set on a plan that is not bindable`),
		Entry("bindings_async_only on a service without bindings_retrievable", func(c *catalog.Config) { c.Services[0].Plans[0].BindingsAsyncOnly = true },
			`services[0] "pg": plans[0] "small": bindings_async_only needs the service's bindings_retrievable: true`),
		Entry("a maximum polling duration of 0", func(c *catalog.Config) {
			c.Services[0].Plans[0].MaximumPollingDuration = ptr(0)
		}, `services[0] "pg": plans[0] "small": maximum_polling_duration must be more than 0 seconds`),
		Entry("a schema whose type is not object", func(c *catalog.Config) { instanceCreate(c)["type"] = "array" },
			`services[0] "pg": plans[0] "small": schemas.service_instance.create.parameters must have "type": "object" at the top, not "array"`),
		Entry("an invalid JSON Schema", func(c *catalog.Config) { instanceCreate(c)["type"] = 12 },
			`services[0] "pg": plans[0] "small": schemas.service_instance.create.parameters is not a valid JSON Schema: at '/type'`),
		Entry("an invalid JSON Schema deeper down", func(c *catalog.Config) {
			instanceCreate(c)["properties"] = map[string]any{"size": map[string]any{"minimum": "ten"}}
		}, `schemas.service_instance.create.parameters is not a valid JSON Schema: at '/properties/size/minimum': got string, want number`),
		Entry("a schema referring to another document", func(c *catalog.Config) {
			instanceCreate(c)["properties"] = map[string]any{"x": map[string]any{"$ref": "https://example.com/x.json"}}
		}, `schemas.service_instance.create.parameters has the external $ref "https://example.com/x.json"`),
		Entry("a schema naming an unknown $schema", func(c *catalog.Config) {
			instanceCreate(c)["$schema"] = "https://example.com/my-draft#"
		}, `declares $schema "https://example.com/my-draft#"; Cloud Controller takes only "http://json-schema.org/draft-04/schema#"`),
		Entry("a schema slot without parameters", func(c *catalog.Config) {
			c.Services[0].Plans[1].Schemas = &catalog.Schemas{ServiceBinding: &catalog.BindingSchemas{Create: &catalog.SchemaParameters{}}}
		}, `services[0] "pg": plans[1] "large": schemas.service_binding.create.parameters is required`),
		Entry("a backend without name", func(c *catalog.Config) { c.Backends[0].Name = "" },
			`backends[0]: name is required`),
		Entry("two backends with one name", func(c *catalog.Config) {
			c.Backends = append(c.Backends, catalog.Backend{Name: "pg-pool", Kind: "postgres",
				Nodes: []catalog.Node{{Name: "pg-2", URLEnv: "PG2_URL"}}})
		}, `backends[1] "pg-pool": name "pg-pool" is already used by backends[0] "pg-pool"`),
		Entry("a backend of an unknown kind", func(c *catalog.Config) { c.Backends[0].Kind = "oracle" },
			`backends[0] "pg-pool": kind "oracle" is not one of postgres, mysql, redis, rabbitmq`),
		Entry("a backend without kind", func(c *catalog.Config) { c.Backends[0].Kind = "" },
			`backends[0] "pg-pool": kind is required (one of postgres, mysql, redis, rabbitmq)`),
		Entry("a backend without nodes", func(c *catalog.Config) { c.Backends[0].Nodes = nil },
			`backends[0] "pg-pool": at least one node is required`),
		Entry("a node without name", func(c *catalog.Config) { c.Backends[0].Nodes[0].Name = "" },
			`backends[0] "pg-pool": nodes[0]: name is required`),
		Entry("two nodes of two backends with one name", func(c *catalog.Config) {
			c.Backends = append(c.Backends, catalog.Backend{Name: "other", Kind: "postgres",
				Nodes: []catalog.Node{{Name: "pg-1", URLEnv: "OTHER_URL"}}})
		}, `backends[1] "other": nodes[0] "pg-1": name "pg-1" is already used by backends[0] "pg-pool": nodes[0] "pg-1"`),
		Entry("a node without url_env", func(c *catalog.Config) { c.Backends[0].Nodes[0].URLEnv = "" },
			`backends[0] "pg-pool": nodes[0] "pg-1": url_env is required`),
		Entry("a node whose url_env is no variable name", func(c *catalog.Config) { c.Backends[0].Nodes[0].URLEnv = "9PG-URL" },
			`backends[0] "pg-pool": nodes[0] "pg-1": url_env "9PG-URL" is not a valid environment variable name`),
		Entry("a node serving a plan that does not exist", func(c *catalog.Config) {
			c.Backends[0].Nodes[0].Plans = []string{"small", "medium"}
		}, `backends[0] "pg-pool": nodes[0] "pg-1": plans[1] "medium" is not a plan of backend "pg-pool"`),
		Entry("a node serving a plan of another backend", func(c *catalog.Config) {
			c.Services[0].Plans[1].Backend = "other"
			c.Backends = append(c.Backends, catalog.Backend{Name: "other", Kind: "postgres",
				Nodes: []catalog.Node{{Name: "pg-2", URLEnv: "OTHER_URL"}}})
			c.Backends[0].Nodes[0].Plans = []string{"large"}
		}, `backends[0] "pg-pool": nodes[0] "pg-1": plans[0] "large" is not a plan of backend "pg-pool"`),
		Entry("a node listing a blank version", func(c *catalog.Config) { c.Backends[0].Nodes[0].Versions = []string{"15", " "} },
			`backends[0] "pg-pool": nodes[0] "pg-1": versions[1] must be a version without spaces`),
		Entry("a node listing a version twice", func(c *catalog.Config) { c.Backends[0].Nodes[0].Versions = []string{"15", "15"} },
			`backends[0] "pg-pool": nodes[0] "pg-1": versions[1] "15" is listed twice`),
		Entry("a plan whose default_version no node offers", func(c *catalog.Config) {
			c.Backends[0].Nodes[0].Versions = []string{"15"}
			c.Services[0].Plans[0].DefaultVersion = "16"
		}, `services[0] "pg": plans[0] "small": default_version "16" is not offered by any node of backend "pg-pool" that serves this plan`),
		Entry("a plan whose default_version only a node serving other plans offers", func(c *catalog.Config) {
			c.Backends[0].Nodes = append(c.Backends[0].Nodes, catalog.Node{Name: "pg-2", URLEnv: "PG2_URL", Plans: []string{"large"}, Versions: []string{"16"}})
			c.Services[0].Plans[0].DefaultVersion = "16"
		}, `services[0] "pg": plans[0] "small": default_version "16" is not offered`),
		Entry("a node with negative capacity", func(c *catalog.Config) { c.Backends[0].Nodes[0].Capacity = -1 },
			`backends[0] "pg-pool": nodes[0] "pg-1": capacity must not be negative, got -1`),
		Entry("a node with a port out of range", func(c *catalog.Config) { c.Backends[0].Nodes[0].Port = 70000 },
			`backends[0] "pg-pool": nodes[0] "pg-1": port 70000 is not between 0 and 65535`),
		Entry("a node whose ca_file has a trailing space", func(c *catalog.Config) { c.Backends[0].Nodes[0].CAFile = "/etc/ca.pem " },
			`backends[0] "pg-pool": nodes[0] "pg-1": ca_file must be a path without leading or trailing spaces`),
		Entry("a node whose default_url is no URL", func(c *catalog.Config) { c.Backends[0].Nodes[0].DefaultURL = "localhost" },
			`backends[0] "pg-pool": nodes[0] "pg-1": default_url is not a URL with a scheme`),
		Entry("a node whose default_url carries a password", func(c *catalog.Config) {
			c.Backends[0].Nodes[0].DefaultURL = "postgres://admin:hunter2@db:5432/postgres"
		}, `backends[0] "pg-pool": nodes[0] "pg-1": default_url must not carry a password: put the URL with it in $PG_URL`),
	)

	It("never repeats the password of a default_url it refuses", func() {
		cfg := minimalConfig()
		cfg.Backends[0].Nodes[0].DefaultURL = "postgres://admin:hunter2@db:5432/postgres"
		_, err := parseConfig(cfg)
		Expect(err).To(MatchError(Not(ContainSubstring("hunter2"))))
	})

	It("reports every problem at once, one a line", func() {
		cfg := minimalConfig()
		cfg.Services[0].Plans[0].Backend = "nope"
		cfg.Backends[0].Nodes[0].URLEnv = ""
		_, err := parseConfig(cfg)
		Expect(err).To(HaveOccurred())
		lines := strings.Split(err.Error(), "\n")
		Expect(lines).To(HaveLen(3))
		Expect(lines[0]).To(Equal("invalid catalog (2 problems):"))
		Expect(lines[1]).To(HaveSuffix(`services[0] "pg": plans[0] "small": backend "nope" is not configured`))
		Expect(lines[2]).To(HaveSuffix(`backends[0] "pg-pool": nodes[0] "pg-1": url_env is required`))
	})

	It("reads binding_rotatable per plan, unset meaning the plan's bindings do not rotate", func() {
		c, err := catalog.Parse([]byte(strings.Replace(minimal, "        backend: pg-pool\n", "        backend: pg-pool\n        binding_rotatable: true\n", 1)))
		Expect(err).NotTo(HaveOccurred())
		small, _, _ := c.Plan("plan-1")
		large, _, _ := c.Plan("plan-2")
		Expect(small.BindingRotatable).To(BeTrue())
		Expect(large.BindingRotatable).To(BeFalse())
	})

	It("allows one plan name in two services", func() {
		cfg := minimalConfig()
		cfg.Services = append(cfg.Services, secondService("svc-2", "pg2"))
		c, err := parseConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		_, s, ok := c.Plan("plan-9")
		Expect(ok).To(BeTrue())
		Expect(s.Name).To(Equal("pg2"))
	})

	DescribeTable("parses strictly, naming where the YAML is wrong",
		func(old, replacement, want string) {
			Expect(minimal).To(ContainSubstring(old))
			_, err := catalog.Parse([]byte(strings.Replace(minimal, old, replacement, 1)))
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("a misspelt top-level key", "services:", "servics:",
			`unknown key "servics" (did you mean "services"?)`),
		Entry("a misspelt plan key", "        backend: pg-pool\n", "        backend: pg-pool\n        bindabel: true\n",
			`services[0] "pg": plans[0] "small": unknown key "bindabel" (did you mean "bindable"?)`),
		Entry("a key in the wrong case", "    bindable: true", "    Bindable: true",
			`services[0] "pg": unknown key "Bindable" (did you mean "bindable"?)`),
		Entry("binding_rotatable on the service, where OSB 2.17 has it on the plan", "    bindable: true", "    bindable: true\n    binding_rotatable: true",
			`services[0] "pg": unknown key "binding_rotatable" (it is a plan key: set it on each plan whose bindings rotate)`),
		Entry("a binding_rotatable that is not a boolean", "        backend: pg-pool\n", "        backend: pg-pool\n        binding_rotatable: yes please\n",
			`services[0] "pg": plans[0] "small": binding_rotatable: must be true or false, got a string`),
		Entry("a misspelt key deep in schemas", "service_instance:", "service_instanse:",
			`services[0] "pg": plans[0] "small": schemas: unknown key "service_instanse"`),
		Entry("a misspelt node key", "url_env: PG_URL", "url_envv: PG_URL",
			`backends[0] "pg-pool": nodes[0] "pg-1": unknown key "url_envv" (did you mean "url_env"?)`),
		Entry("a boolean that is not", "bindable: true", "bindable: sometimes",
			`services[0] "pg": bindable: must be true or false, got a string`),
		Entry("an id that YAML reads as a number", "id: svc-1", "id: 0123",
			`services[0] "pg": id: must be a string, got a number (quote it)`),
		Entry("a list that is not", "    plans:\n", "    plans: many\n    unused:\n",
			`services[0] "pg": plans: must be a list, got a string`),
		Entry("a duration that is not", "        backend: pg-pool\n", "        backend: pg-pool\n        wait_budget: 2 secs\n",
			`services[0] "pg": plans[0] "small": wait_budget: "2 secs" is not a duration such as "2s"`),
		Entry("a duration written as a number", "        backend: pg-pool\n", "        backend: pg-pool\n        wait_budget: 2\n",
			`wait_budget: must be a duration such as "2s", got a number`),
		Entry("a capacity that is not whole", "url_env: PG_URL", "url_env: PG_URL\n        capacity: 1.5",
			`backends[0] "pg-pool": nodes[0] "pg-1": capacity: must be a whole number, got 1.5`),
		Entry("a key given twice", "    description: A database\n", "    description: A database\n    description: Twice\n",
			`parse catalog`),
		Entry("a document that is not a mapping", minimal, "- services\n",
			"the catalog must be a mapping with the keys services and backends, got a list"),
		Entry("broken YAML", "plans:", "plans: [",
			"parse catalog"),
	)

	It("reads an empty file as a catalog without services", func() {
		_, err := catalog.Parse(nil)
		Expect(err).To(MatchError(ContainSubstring("at least one service is required")))
	})

	It("reads a plan's binding_lifetime, and gives a plan without one none", func() {
		c, err := catalog.Parse([]byte(strings.Replace(minimal,
			"        backend: pg-pool\n", "        backend: pg-pool\n        binding_lifetime: 24h\n", 1)))
		Expect(err).NotTo(HaveOccurred())
		p, _, _ := c.Plan("plan-1")
		Expect(time.Duration(p.BindingLifetime)).To(Equal(24 * time.Hour))
		p, _, _ = c.Plan("plan-2")
		Expect(p.BindingLifetime).To(BeZero())
	})

	Describe("wait budgets", func() {
		It("gives a plan without wait_budget the default of 2s", func() {
			c, err := catalog.Parse([]byte(minimal))
			Expect(err).NotTo(HaveOccurred())
			p, _, _ := c.Plan("plan-1")
			Expect(p.Budget(false)).To(Equal(2 * time.Second))
			Expect(p.Budget(false)).To(Equal(catalog.DefaultWaitBudget))
		})

		It("keeps an explicit 0s", func() {
			c, err := catalog.Parse([]byte(strings.Replace(minimal,
				"        backend: pg-pool\n", "        backend: pg-pool\n        wait_budget: 0s\n", 1)))
			Expect(err).NotTo(HaveOccurred())
			p, _, _ := c.Plan("plan-1")
			Expect(p.Budget(false)).To(BeZero())
			p, _, _ = c.Plan("plan-2")
			Expect(p.Budget(false)).To(Equal(2 * time.Second))
		})

		It("reads durations such as 1m30s", func() {
			cfg := minimalConfig()
			cfg.Services[0].Plans[0].WaitBudget = catalog.Duration(1500 * time.Millisecond)
			c, err := parseConfig(cfg)
			Expect(err).NotTo(HaveOccurred())
			p, _, _ := c.Plan("plan-1")
			Expect(p.Budget(false)).To(Equal(1500 * time.Millisecond))
		})

		It("never waits for an async-only plan", func() {
			cfg := minimalConfig()
			cfg.Services[0].Plans[0].AsyncOnly = true
			cfg.Services[0].Plans[0].WaitBudget = catalog.Duration(5 * time.Second)
			c, err := parseConfig(cfg)
			Expect(err).NotTo(HaveOccurred())
			p, _, _ := c.Plan("plan-1")
			Expect(p.Budget(false)).To(BeZero())
			Expect(p.Budget(true)).To(Equal(5*time.Second), "binds still wait on an async_only plan")
		})

		It("never waits for the binds of a bindings_async_only plan", func() {
			cfg := minimalConfig()
			cfg.Services[0].BindingsRetrievable = true
			cfg.Services[0].Plans[0].BindingsAsyncOnly = true
			c, err := parseConfig(cfg)
			Expect(err).NotTo(HaveOccurred())
			p, _, _ := c.Plan("plan-1")
			Expect(p.Budget(true)).To(BeZero())
			Expect(p.Budget(false)).To(Equal(catalog.DefaultWaitBudget))
		})
	})
})

var _ = Describe("Duration", func() {
	It("marshals to a string and back", func() {
		b, err := json.Marshal(catalog.Duration(90 * time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(Equal(`"1m30s"`))
		var d catalog.Duration
		Expect(json.Unmarshal(b, &d)).To(Succeed())
		Expect(time.Duration(d)).To(Equal(90 * time.Second))
	})

	It("refuses a number", func() {
		var d catalog.Duration
		Expect(json.Unmarshal([]byte(`2`), &d)).To(MatchError(ContainSubstring(`a duration must be a string such as "2s"`)))
	})
})

var _ = Describe("Catalog", func() {
	var c *catalog.Catalog

	BeforeEach(func() {
		cfg := minimalConfig()
		cfg.Services = append(cfg.Services, secondService("svc-2", "pg2"))
		cfg.Services[1].Plans[0].Bindable = ptr(true)
		cfg.Services[1].Plans[0].PlanUpdateable = ptr(true)
		cfg.Services[0].Plans[1].Bindable = ptr(false)
		cfg.Backends[0].Nodes = append(cfg.Backends[0].Nodes, catalog.Node{Name: "pg-2", URLEnv: "PG2_URL", Plans: []string{"large"}})
		var err error
		c, err = parseConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
	})

	It("lists the services in file order", func() {
		services := c.Services()
		Expect(services).To(HaveLen(2))
		Expect(services[0].Name).To(Equal("pg"))
		Expect(services[1].Name).To(Equal("pg2"))

		services[0] = catalog.Service{}
		Expect(c.Services()[0].Name).To(Equal("pg"))
	})

	It("finds services, plans and backends, and says when it does not", func() {
		s, ok := c.Service("svc-2")
		Expect(ok).To(BeTrue())
		Expect(s.Name).To(Equal("pg2"))
		_, ok = c.Service("plan-1")
		Expect(ok).To(BeFalse())

		p, s, ok := c.Plan("plan-2")
		Expect(ok).To(BeTrue())
		Expect(p.Name).To(Equal("large"))
		Expect(s.ID).To(Equal("svc-1"))
		_, _, ok = c.Plan("svc-1")
		Expect(ok).To(BeFalse())

		b, ok := c.Backend("pg-pool")
		Expect(ok).To(BeTrue())
		Expect(b.Kind).To(Equal("postgres"))
		_, ok = c.Backend("nope")
		Expect(ok).To(BeFalse())
	})

	It("lets a plan's bindable and plan_updateable override its service's", func() {
		small, svc, _ := c.Plan("plan-1")
		Expect(small.IsBindable(svc)).To(BeTrue())
		Expect(small.IsUpdateable(svc)).To(BeFalse())

		large, svc, _ := c.Plan("plan-2")
		Expect(large.IsBindable(svc)).To(BeFalse())

		other, svc, _ := c.Plan("plan-9")
		Expect(svc.Bindable).To(BeFalse())
		Expect(other.IsBindable(svc)).To(BeTrue())
		Expect(other.IsUpdateable(svc)).To(BeTrue())
	})

	It("tells which plans a node serves", func() {
		b, _ := c.Backend("pg-pool")
		Expect(catalog.Eligible(b.Nodes[0], catalog.Want{Plan: "small"})).To(BeTrue())
		Expect(catalog.Eligible(b.Nodes[0], catalog.Want{Plan: "large"})).To(BeTrue())
		Expect(catalog.Eligible(b.Nodes[1], catalog.Want{Plan: "small"})).To(BeFalse())
		Expect(catalog.Eligible(b.Nodes[1], catalog.Want{Plan: "large"})).To(BeTrue())
	})
})

var _ = Describe("Load", func() {
	It("names the file it cannot read", func() {
		_, err := catalog.Load("does-not-exist.yml")
		Expect(err).To(MatchError(ContainSubstring("does-not-exist.yml")))
	})

	It("names the file and every problem in it", func() {
		path := filepath.Join(GinkgoT().TempDir(), "catalog.yml")
		Expect(os.WriteFile(path, []byte(strings.Replace(minimal, "kind: postgres", "kind: oracle", 1)), 0o600)).To(Succeed())
		_, err := catalog.Load(path)
		Expect(err).To(MatchError(ContainSubstring(path)))
		Expect(err).To(MatchError(ContainSubstring(`backends[0] "pg-pool": kind "oracle" is not one of postgres, mysql, redis, rabbitmq`)))
	})

	Describe("the shipped config/catalog.yml", func() {
		const (
			serviceID = "6a1d3c62-0f5e-4c53-9a38-4e2f0c8a7b10"
			smallID   = "8f0b2a36-1c0e-4d7a-b1f4-2d9c3e5a6b01"
			largeID   = "8f0b2a36-1c0e-4d7a-b1f4-2d9c3e5a6b02"
		)
		var c *catalog.Catalog

		BeforeEach(func() {
			var err error
			c, err = catalog.Load("../config/catalog.yml")
			Expect(err).NotTo(HaveOccurred())
		})

		It("offers postgresql, mysql, redis and rabbitmq, one backend each", func() {
			var names, kinds []string
			for _, s := range c.Services() {
				names = append(names, s.Name)
				b, _ := c.Backend(s.Plans[0].Backend)
				kinds = append(kinds, b.Kind)
			}
			Expect(names).To(Equal([]string{"postgresql", "mysql", "redis", "rabbitmq"}))
			Expect(kinds).To(Equal([]string{"postgres", "mysql", "redis", "rabbitmq"}))
		})

		It("gives the local RabbitMQ no default URL, since its login has a password", func() {
			b, _ := c.Backend("rabbitmq")
			Expect(b.Nodes[0].DefaultURL).To(BeEmpty())
			Expect(b.Nodes[0].URLEnv).To(Equal("OMNIBROKER_RABBITMQ_URL"))
		})

		It("gives the local Redis no default URL, since its admin login has a password", func() {
			b, _ := c.Backend("redis")
			Expect(b.Nodes[0].Name).To(Equal("redis-local"))
			Expect(b.Nodes[0].DefaultURL).To(BeEmpty())
			Expect(b.Nodes[0].URLEnv).To(Equal("OMNIBROKER_REDIS_URL"))
		})

		It("offers postgresql with the documented ids", func() {
			s := c.Services()[0]
			Expect(s.ID).To(Equal(serviceID))
			Expect(s.Name).To(Equal("postgresql"))
			Expect(s.Description).To(Equal("A PostgreSQL database on a shared cluster"))
			Expect(s.Bindable).To(BeTrue())
			Expect(s.InstancesRetrievable).To(BeTrue())
			Expect(s.BindingsRetrievable).To(BeTrue())
			Expect(s.PlanUpdateable).To(BeTrue())
			Expect(s.Tags).To(Equal([]string{"postgresql", "relational", "sql"}))
			Expect(s.Metadata).To(HaveKeyWithValue("displayName", "PostgreSQL"))
			Expect(s.Metadata).To(HaveKeyWithValue("providerDisplayName", "omnibroker"))
			Expect(s.Metadata).To(HaveKey("longDescription"))
			Expect(s.Plans).To(HaveLen(2))
		})

		It("resolves every plan to its service and a configured backend", func() {
			for _, s := range c.Services() {
				for _, p := range s.Plans {
					got, svc, ok := c.Plan(p.ID)
					Expect(ok).To(BeTrue(), p.Name)
					Expect(got.Name).To(Equal(p.Name))
					Expect(svc.ID).To(Equal(s.ID))
					b, ok := c.Backend(p.Backend)
					Expect(ok).To(BeTrue(), p.Name)
					Expect(b.Nodes).NotTo(BeEmpty())
					Expect(p.Budget(false)).To(Equal(2 * time.Second))
					Expect(p.IsBindable(svc)).To(BeTrue())
				}
			}
		})

		It("has a small, free plan and a large, paid one", func() {
			small, _, _ := c.Plan(smallID)
			Expect(small.Name).To(Equal("small"))
			Expect(*small.Free).To(BeTrue())
			Expect(small.Config).To(HaveKeyWithValue("connection_limit", BeNumerically("==", 20)))
			Expect(small.Metadata).To(HaveKeyWithValue("displayName", "Small"))

			large, _, _ := c.Plan(largeID)
			Expect(large.Name).To(Equal("large"))
			Expect(*large.Free).To(BeFalse())
			Expect(large.Config).To(HaveKeyWithValue("connection_limit", BeNumerically("==", 100)))
		})

		It("runs both plans on the local PostgreSQL", func() {
			b, ok := c.Backend("postgres")
			Expect(ok).To(BeTrue())
			Expect(b.Kind).To(Equal("postgres"))
			Expect(b.Nodes).To(ConsistOf(catalog.Node{
				Name:       "pg-local",
				URLEnv:     "OMNIBROKER_POSTGRES_URL",
				DefaultURL: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
				Versions:   []string{"15"},
				Capacity:   500,
			}))
			small, _, _ := c.Plan(smallID)
			Expect(small.DefaultVersion).To(Equal("15"))
			Expect(c.CheckVersion(small, json.RawMessage(`{"version": "15"}`))).To(Succeed())
		})

		DescribeTable("checks parameters against both plans' schemas",
			func(action catalog.Action, raw string, wantErr string) {
				for _, id := range []string{smallID, largeID} {
					err := c.ValidateParameters(id, action, json.RawMessage(raw))
					if wantErr == "" {
						Expect(err).NotTo(HaveOccurred(), id)
					} else {
						Expect(err).To(MatchError(ContainSubstring(wantErr)), id)
					}
				}
			},
			Entry("extensions on create", catalog.InstanceCreate, `{"extensions": ["citext", "uuid-ossp"]}`, ""),
			Entry("extensions on update", catalog.InstanceUpdate, `{"extensions": ["pgcrypto"]}`, ""),
			Entry("an unknown extension", catalog.InstanceCreate, `{"extensions": ["plv8"]}`,
				`at '/extensions/0': value must be one of`),
			Entry("an extension twice", catalog.InstanceUpdate, `{"extensions": ["citext", "citext"]}`,
				`at '/extensions': items at 0 and 1 are equal`),
			Entry("a version", catalog.InstanceCreate, `{"version": "15"}`, ""),
			Entry("an unknown parameter", catalog.InstanceCreate, `{"size": 3}`,
				`additional properties 'size' not allowed`),
			Entry("no binding parameters", catalog.BindingCreate, `{}`, ""),
			Entry("a binding parameter", catalog.BindingCreate, `{"role": "admin"}`,
				`additional properties 'role' not allowed`),
		)
	})
})
