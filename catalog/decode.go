package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// String gives the duration as Go writes it ("2s", "1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string such as "2s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a string such as "2s" or "1m30s"; null leaves d as it is.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"2s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"2s\"", s)
	}
	*d = Duration(v)
	return nil
}

var durationType = reflect.TypeFor[Duration]()

// decode turns YAML into a Config. Before decoding it checks the document's shape against
// Config's fields, because encoding/json stops at the first unknown key and names neither
// the entry it sits in nor the others: the check reports every unknown key and every value
// of the wrong type with its place in the file.
func decode(data []byte) (Config, error) {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return Config{}, fmt.Errorf("parse catalog: %w", err)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Config{}, fmt.Errorf("parse catalog: %w", err)
	}
	var sc shapeChecker
	sc.check(doc, reflect.TypeFor[Config](), path{})
	if len(sc.problems) > 0 {
		return Config{}, &ValidationError{Problems: sc.problems}
	}

	var cfg Config
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("parse catalog: %w", err)
	}
	defaultWaitBudgets(doc, &cfg)
	return cfg, nil
}

// defaultWaitBudgets sets DefaultWaitBudget on the plans whose YAML has no wait_budget, so
// that an explicit "0s" (answer 202 at once) stays zero.
func defaultWaitBudgets(doc any, cfg *Config) {
	root, _ := doc.(map[string]any)
	services, _ := root["services"].([]any)
	for i := range cfg.Services {
		var plans []any
		if i < len(services) {
			s, _ := services[i].(map[string]any)
			plans, _ = s["plans"].([]any)
		}
		for j := range cfg.Services[i].Plans {
			var set bool
			if j < len(plans) {
				p, _ := plans[j].(map[string]any)
				set = p["wait_budget"] != nil
			}
			if !set {
				cfg.Services[i].Plans[j].WaitBudget = Duration(DefaultWaitBudget)
			}
		}
	}
}

// path is where a value sits in the file, written the way problems name entries:
// `services[0] "postgresql": plans[1] "large": schemas.service_instance`.
type path struct {
	s      string
	inElem bool // the last step was a list element, so the next key follows ": "
}

func (p path) key(k string) path {
	switch {
	case p.s == "":
		return path{s: k}
	case p.inElem:
		return path{s: p.s + ": " + k}
	default:
		return path{s: p.s + "." + k}
	}
}

func (p path) elem(i int, v any) path {
	obj, _ := v.(map[string]any)
	name, _ := obj["name"].(string)
	return path{s: label(p.s, i, name), inElem: true}
}

// label names the i-th entry of a list, with its name when it has one: `plans[0] "small"`.
func label(list string, i int, name string) string {
	if name == "" {
		return fmt.Sprintf("%s[%d]", list, i)
	}
	return fmt.Sprintf("%s[%d] %q", list, i, name)
}

// belongsElsewhere names, for a key an entry of type t does not have, where the key belongs
// instead; the check reports it in place of a spelling suggestion.
var belongsElsewhere = map[reflect.Type]map[string]string{
	reflect.TypeFor[Service](): {"binding_rotatable": " (it is a plan key: set it on each plan whose bindings rotate)"},
}

type shapeChecker struct{ problems []string }

func (sc *shapeChecker) add(at path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if at.s != "" {
		msg = at.s + ": " + msg
	}
	sc.problems = append(sc.problems, msg)
}

// check reports where v cannot be decoded into a value of type t. A null is always fine:
// it leaves the zero value.
func (sc *shapeChecker) check(v any, t reflect.Type, at path) {
	if v == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		s, ok := v.(string)
		if !ok {
			sc.add(at, "must be a duration such as \"2s\", got %s", jsonKind(v))
		} else if _, err := time.ParseDuration(s); err != nil {
			sc.add(at, "%q is not a duration such as \"2s\"", s)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			if at.s == "" {
				sc.add(at, "the catalog must be a mapping with the keys services and backends, got %s", jsonKind(v))
				return
			}
			sc.add(at, "must be a mapping, got %s", jsonKind(v))
			return
		}
		fields := jsonFields(t)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			ft, ok := fields[k]
			if !ok {
				hint := belongsElsewhere[t][k]
				if hint == "" {
					hint = suggest(k, slices.Collect(maps.Keys(fields)))
				}
				sc.add(at, "unknown key %q%s", k, hint)
				continue
			}
			sc.check(obj[k], ft, at.key(k))
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			sc.add(at, "must be a list, got %s", jsonKind(v))
			return
		}
		for i, e := range arr {
			sc.check(e, t.Elem(), at.elem(i, e))
		}
	case reflect.Map:
		if _, ok := v.(map[string]any); !ok {
			sc.add(at, "must be a mapping, got %s", jsonKind(v))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			// sigs.k8s.io/yaml would turn it into a string, but YAML reads 0123 as 83 and
			// 1e3 as 1000: an id or a name must be written as the string it is.
			sc.add(at, "must be a string, got %s (quote it)", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			sc.add(at, "must be true or false, got %s", jsonKind(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			sc.add(at, "must be a whole number, got %s", jsonKind(v))
		} else if _, err := n.Int64(); err != nil {
			sc.add(at, "must be a whole number, got %s", n)
		}
	}
}

// jsonFields maps the JSON names of t's fields to their types; the fields of an embedded
// struct count as t's own, as encoding/json reads them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			maps.Copy(fields, jsonFields(f.Type))
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "true/false"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// suggest returns ` (did you mean "x"?)` for the known key closest to k, when one is close.
func suggest(k string, known []string) string {
	best, bestDist := "", 3
	for _, cand := range slices.Sorted(slices.Values(known)) {
		d := distance(strings.ToLower(k), strings.ToLower(cand))
		if d < bestDist {
			best, bestDist = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
