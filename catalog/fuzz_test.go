package catalog_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/omnibroker/omnibroker/catalog"
)

// fuzzCatalog has a plan whose create schema reaches for most of what JSON Schema can say
// about a request's parameters.
const fuzzCatalog = `
services:
  - id: svc
    name: svc
    description: d
    bindable: true
    plans:
      - id: plan
        name: plan
        description: d
        backend: b
        schemas:
          service_instance:
            create:
              parameters:
                $schema: "http://json-schema.org/draft-04/schema#"
                additionalProperties: false
                type: object
                properties:
                  extensions: {type: array, uniqueItems: true, maxItems: 4, items: {enum: [citext, hstore]}}
                  version: {type: string, pattern: "^[0-9]+$", maxLength: 4}
                  size: {type: integer, minimum: 1, maximum: 64}
                  labels: {type: object, additionalProperties: {type: string, maxLength: 63}}
backends:
  - name: b
    kind: postgres
    nodes: [{name: node-1, url_env: OMNIBROKER_FUZZ_UNUSED_URL, default_url: "postgres://127.0.0.1:1/x"}]
`

// FuzzValidateParameters checks a request's parameters against a plan's schema: whatever
// they are, the check answers (it never panics), and parameters it accepts are an object
// with only the properties the schema allows.
func FuzzValidateParameters(f *testing.F) {
	c, err := catalog.Parse([]byte(fuzzCatalog))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"extensions":["citext"],"version":"15","size":8,"labels":{"team":"a"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if c.ValidateParameters("plan", catalog.InstanceCreate, raw) != nil {
			return
		}
		var doc map[string]any
		if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || string(trimmed) == "null" {
			return // none
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("accepted parameters that are not a JSON object: %q", raw)
		}
		for k := range doc {
			switch k {
			case "extensions", "version", "size", "labels":
			default:
				t.Fatalf("accepted the property %q, which the schema does not allow", k)
			}
		}
	})
}
