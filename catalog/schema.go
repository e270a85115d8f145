package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var actions = []Action{InstanceCreate, InstanceUpdate, BindingCreate}

// maxSchemaBytes is Cloud Controller's limit on one plan schema.
const maxSchemaBytes = 64 * 1024

// draft4 is the $schema Cloud Controller requires of a plan schema (with or without the
// empty fragment): it validates against JSON Schema draft 04 and takes no other metaschema.
var draft4 = []string{"http://json-schema.org/draft-04/schema#", "http://json-schema.org/draft-04/schema"}

// maxReported bounds how many schema failures one message lists, to keep it a sentence.
const maxReported = 5

// schemaURL is where a plan's schema sits while it is compiled; every schema gets its own
// compiler, so that two plans' ids or anchors can't clash.
const schemaURL = "mem:///parameters.json"

var printer = message.NewPrinter(language.English)

var errNotObject = errors.New("parameters must be a JSON object")

// schema returns the plan's schema slot for action, or nil when the plan has none.
func (s *Schemas) schema(a Action) *SchemaParameters {
	switch {
	case s == nil:
		return nil
	case a == BindingCreate && s.ServiceBinding != nil:
		return s.ServiceBinding.Create
	case s.ServiceInstance == nil:
		return nil
	case a == InstanceCreate:
		return s.ServiceInstance.Create
	case a == InstanceUpdate:
		return s.ServiceInstance.Update
	}
	return nil
}

// compileSchemas compiles p's schemas into c.schemas, reporting each one that Cloud
// Controller would refuse.
func (c *Catalog) compileSchemas(ps *problems, at string, p *Plan) {
	for _, a := range actions {
		sp := p.Schemas.schema(a)
		if sp == nil {
			continue
		}
		field := "schemas." + string(a) + ".parameters"
		sch, err := compileSchema(sp.Parameters)
		if err != nil {
			ps.add(at, "%s %v", field, err)
			continue
		}
		if c.schemas[p.ID] == nil {
			c.schemas[p.ID] = map[Action]*jsonschema.Schema{}
		}
		c.schemas[p.ID][a] = sch
	}
}

// compileSchema compiles one parameters schema. Its errors complete a sentence that starts
// with the schema's name.
func compileSchema(params map[string]any) (*jsonschema.Schema, error) {
	if params == nil {
		return nil, errors.New("is required")
	}
	b, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("is not JSON-serialisable: %w", err)
	}
	if len(b) > maxSchemaBytes {
		return nil, fmt.Errorf("is larger than 64 KB (%d bytes)", len(b))
	}
	switch declared, ok := params["$schema"].(string); {
	case !ok:
		return nil, fmt.Errorf("must declare \"$schema\": %q, as Cloud Controller requires", draft4[0])
	case !slices.Contains(draft4, declared):
		return nil, fmt.Errorf("declares $schema %q; Cloud Controller takes only %q", declared, draft4[0])
	}
	if ref := externalRef(params); ref != "" {
		return nil, fmt.Errorf("has the external $ref %q; a plan's schema may refer only to its own parts (\"#…\")", ref)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("is not JSON: %w", err)
	}
	comp := jsonschema.NewCompiler()
	// Compiling validates the schema against the draft 04 metaschema.
	comp.DefaultDraft(jsonschema.Draft4)
	comp.UseLoader(selfContained{})
	if err := comp.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("is not a valid JSON Schema: %w", err)
	}
	sch, err := comp.Compile(schemaURL)
	if err != nil {
		var invalid *jsonschema.SchemaValidationError
		if errors.As(err, &invalid) {
			return nil, fmt.Errorf("is not a valid JSON Schema: %s", describe(invalid.Err))
		}
		return nil, fmt.Errorf("is not a valid JSON Schema: %w", err)
	}
	if t, ok := params["type"]; ok && t != "object" {
		got, _ := json.Marshal(t)
		return nil, fmt.Errorf(`must have "type": "object" at the top, not %s`, got)
	}
	return sch, nil
}

// dataKeywords are the keywords whose values are JSON data, not schemas: a "$ref" key in
// them is a value, not a reference.
var dataKeywords = []string{"default", "enum", "const", "examples"}

// externalRef returns the first $ref in v (a schema, or a part of one) that points outside the
// schema, or "". Keys under "properties", "patternProperties" and "definitions" are names
// chosen by the schema's author, not keywords, so a property called "$ref" is no reference.
func externalRef(v any) string {
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := t["$ref"].(string); ok && !strings.HasPrefix(ref, "#") {
			return ref
		}
		for _, k := range slices.Sorted(maps.Keys(t)) {
			child := t[k]
			if slices.Contains(dataKeywords, k) {
				continue
			}
			if named, ok := child.(map[string]any); ok && (k == "properties" || k == "patternProperties" || k == "definitions") {
				for _, name := range slices.Sorted(maps.Keys(named)) {
					if ref := externalRef(named[name]); ref != "" {
						return ref
					}
				}
				continue
			}
			if ref := externalRef(child); ref != "" {
				return ref
			}
		}
	case []any:
		for _, e := range t {
			if ref := externalRef(e); ref != "" {
				return ref
			}
		}
	}
	return ""
}

// selfContained refuses to load any document: a plan's schema may refer to its own parts
// and to the JSON Schema drafts (which the library carries), never to a file or a URL.
type selfContained struct{}

func (selfContained) Load(string) (any, error) {
	return nil, errors.New("a plan's schema must be self-contained")
}

// decodeParameters reads raw request parameters; empty or null means none, i.e. {}.
func decodeParameters(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, errNotObject
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errNotObject
	}
	return v, nil
}

// describe turns a validation error into a short sentence: the failures at the leaves of
// the library's error tree, each with the place it concerns, never the schema itself.
func describe(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var msgs []string
	leaves(ve, &msgs)
	// The library walks an object's properties in map order.
	slices.Sort(msgs)
	msgs = slices.Compact(msgs)
	if len(msgs) > maxReported {
		msgs = append(msgs[:maxReported], fmt.Sprintf("and %d more", len(msgs)-maxReported))
	}
	return strings.Join(msgs, "; ")
}

func leaves(e *jsonschema.ValidationError, msgs *[]string) {
	if len(e.Causes) == 0 {
		k := e.ErrorKind
		if extra, ok := k.(*kind.AdditionalProperties); ok {
			// The library lists them in map order.
			k = &kind.AdditionalProperties{Properties: slices.Sorted(slices.Values(extra.Properties))}
		}
		msg := valueFree(k)
		if len(e.InstanceLocation) > 0 {
			msg = fmt.Sprintf("at '%s': %s", pointer(e.InstanceLocation), msg)
		}
		*msgs = append(*msgs, msg)
		return
	}
	for _, cause := range e.Causes {
		leaves(cause, msgs)
	}
}

// pointer writes a location as a JSON Pointer (RFC 6901).
func pointer(tokens []string) string {
	var sb strings.Builder
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(esc.Replace(t))
	}
	return sb.String()
}

// valueFree says what failed without repeating the value the user sent: parameters may hold
// secrets, and the sentence reaches brokerapi's log as well as the response.
func valueFree(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Pattern:
		return fmt.Sprintf("value does not match pattern '%s'", k.Want)
	case *kind.Format:
		return fmt.Sprintf("value is not a valid %s", k.Want)
	case *kind.Minimum:
		return fmt.Sprintf("value must be at least %s", number(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("value must be at most %s", number(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("value must be greater than %s", number(k.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("value must be less than %s", number(k.Want))
	case *kind.MultipleOf:
		return fmt.Sprintf("value must be a multiple of %s", number(k.Want))
	case *kind.ContentMediaType:
		return fmt.Sprintf("value is not of media type '%s'", k.Want)
	case *kind.ContentEncoding:
		return fmt.Sprintf("value is not %s encoded", k.Want)
	}
	return k.LocalizedString(printer)
}

func number(r *big.Rat) string {
	if r.IsInt() {
		return r.RatString()
	}
	return strings.TrimRight(r.FloatString(6), "0")
}
