package catalog_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/catalog"
)

var _ = Describe("ValidateParameters", func() {
	var c *catalog.Catalog

	BeforeEach(func() {
		var err error
		c, err = catalog.Parse([]byte(minimal))
		Expect(err).NotTo(HaveOccurred())
	})

	DescribeTable("against a plan's create schema",
		func(raw string, wantErr string) {
			err := c.ValidateParameters("plan-1", catalog.InstanceCreate, json.RawMessage(raw))
			if wantErr == "" {
				Expect(err).NotTo(HaveOccurred())
				return
			}
			Expect(err).To(MatchError(wantErr))
		},
		Entry("a valid object", `{"extensions": ["citext", "pgcrypto"]}`, ""),
		Entry("an empty object", `{}`, ""),
		Entry("no parameters", ``, ""),
		Entry("null", `null`, ""),
		Entry("null among spaces", " \n null\t", ""),
		Entry("a value outside the enum",
			`{"extensions": ["pgcrypto", "plv8"]}`,
			`parameters do not match the plan's schema: at '/extensions/1': value must be one of 'citext', 'pgcrypto'`),
		Entry("a value of the wrong type",
			`{"extensions": "citext"}`,
			`parameters do not match the plan's schema: at '/extensions': got string, want array`),
		Entry("an unknown parameter",
			`{"extension": ["citext"]}`,
			`parameters do not match the plan's schema: additional properties 'extension' not allowed`),
		Entry("several failures, in a stable order",
			`{"b": 1, "a": 2, "extensions": ["x"]}`,
			`parameters do not match the plan's schema: additional properties 'a', 'b' not allowed; at '/extensions/0': value must be one of 'citext', 'pgcrypto'`),
		Entry("an array", `["citext"]`, "parameters must be a JSON object"),
		Entry("a string", `"citext"`, "parameters must be a JSON object"),
		Entry("a number", `3`, "parameters must be a JSON object"),
		Entry("broken JSON", `{"extensions":`, "parameters must be a JSON object"),
		Entry("two objects", `{} {}`, "parameters must be a JSON object"),
	)

	It("never quotes the schema in its message", func() {
		err := c.ValidateParameters("plan-1", catalog.InstanceCreate, json.RawMessage(`{"extensions": [1]}`))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).NotTo(ContainSubstring("additionalProperties"))
		Expect(err.Error()).NotTo(ContainSubstring("mem:"))
		Expect(strings.Count(err.Error(), "\n")).To(BeZero())
	})

	It("never repeats the value the user sent, which may be a secret", func() {
		cfg := minimalConfig()
		cfg.Services[0].Plans[0].Schemas.ServiceInstance.Create.Parameters = map[string]any{
			"$schema": "http://json-schema.org/draft-04/schema#",
			"type":    "object",
			"properties": map[string]any{
				"token": map[string]any{"type": "string", "pattern": "^tok_"},
				"email": map[string]any{"type": "string", "format": "email"},
				"pin":   map[string]any{"type": "integer", "maximum": 99},
			},
		}
		withSecrets, err := parseConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		err = withSecrets.ValidateParameters("plan-1", catalog.InstanceCreate,
			json.RawMessage(`{"token": "sk_live_ABCDEF", "email": "hunter2-secret", "pin": 4711}`))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("at '/token': value does not match pattern '^tok_'"))
		Expect(err.Error()).To(ContainSubstring("at '/pin': value must be at most 99"))
		Expect(err.Error()).To(ContainSubstring("at '/email'"))
		for _, secret := range []string{"sk_live_ABCDEF", "hunter2-secret", "4711"} {
			Expect(err.Error()).NotTo(ContainSubstring(secret))
		}
	})

	It("keeps a long list of failures short", func() {
		err := c.ValidateParameters("plan-1", catalog.InstanceCreate,
			json.RawMessage(`{"extensions": ["a", "b", "c", "d", "e", "f", "g"]}`))
		Expect(err).To(MatchError(HaveSuffix("; and 2 more")))
	})

	It("accepts any object where the plan has no schema for the action", func() {
		Expect(c.ValidateParameters("plan-1", catalog.InstanceUpdate, json.RawMessage(`{"anything": [1, 2]}`))).To(Succeed())
		Expect(c.ValidateParameters("plan-2", catalog.BindingCreate, json.RawMessage(`{"anything": true}`))).To(Succeed())
		Expect(c.ValidateParameters("plan-2", catalog.InstanceCreate, json.RawMessage(`[]`))).
			To(MatchError("parameters must be a JSON object"))
	})

	It("can be called from many goroutines at once", func() {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				defer GinkgoRecover()
				raw := json.RawMessage(fmt.Sprintf(`{"extensions": ["x%d"], "k%d": 1}`, i, i))
				Expect(c.ValidateParameters("plan-1", catalog.InstanceCreate, raw)).
					To(MatchError(ContainSubstring(fmt.Sprintf("additional properties 'k%d' not allowed", i))))
			})
		}
		wg.Wait()
	})

	It("refuses a plan that is not in the catalog", func() {
		err := c.ValidateParameters("svc-1", catalog.InstanceCreate, nil)
		Expect(err).To(MatchError(catalog.ErrUnknownPlan))
		Expect(err).To(MatchError(ContainSubstring(`"svc-1"`)))
	})

	It("refuses an action it does not know", func() {
		Expect(c.ValidateParameters("plan-1", catalog.Action("service_instance.delete"), nil)).
			To(MatchError(ContainSubstring(`unknown schema action "service_instance.delete"`)))
	})

	Describe("drafts", func() {
		withSchema := func(schema map[string]any) (*catalog.Catalog, error) {
			cfg := minimalConfig()
			cfg.Services[0].Plans[0].Schemas.ServiceInstance.Create.Parameters = schema
			return parseConfig(cfg)
		}

		It("reads a schema as draft-04, the one draft Cloud Controller takes", func() {
			// A boolean exclusiveMaximum exists only in draft-04; draft-06 on want a number.
			c, err := withSchema(map[string]any{
				"$schema":    "http://json-schema.org/draft-04/schema",
				"type":       "object",
				"properties": map[string]any{"size": map[string]any{"maximum": 5, "exclusiveMaximum": true}},
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(c.ValidateParameters("plan-1", catalog.InstanceCreate, json.RawMessage(`{"size": 4}`))).To(Succeed())
			Expect(c.ValidateParameters("plan-1", catalog.InstanceCreate, json.RawMessage(`{"size": 5}`))).
				To(MatchError(ContainSubstring("at '/size'")))
		})

		It("resolves a $ref inside the schema", func() {
			c, err := withSchema(map[string]any{
				"$schema":     "http://json-schema.org/draft-04/schema#",
				"type":        "object",
				"definitions": map[string]any{"name": map[string]any{"type": "string", "maxLength": 3}},
				"properties":  map[string]any{"db": map[string]any{"$ref": "#/definitions/name"}},
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(c.ValidateParameters("plan-1", catalog.InstanceCreate, json.RawMessage(`{"db": "abcd"}`))).
				To(MatchError(ContainSubstring("at '/db': maxLength: got 4, want 3")))
		})
	})
})
