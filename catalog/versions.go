package catalog

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// VersionParameter is the instance parameter through which a user picks the server version
// of a new instance. A plan lets users pick by accepting it in its create schema; the value
// must be one of the versions the plan's nodes offer.
const VersionParameter = "version"

// Version is the version a new instance of p asks for: the version parameter when params
// has one, else p's default_version, else "" (any node that serves p will do).
func Version(p Plan, params map[string]any) string {
	if v, ok := params[VersionParameter].(string); ok && v != "" {
		return v
	}
	return p.DefaultVersion
}

// CheckVersion tells whether the version parameter in raw (a JSON object, or empty) is one
// the nodes serving p offer. The error is fit for a 400 description.
func (c *Catalog) CheckVersion(p Plan, raw json.RawMessage) error {
	params, err := decodeParameters(raw)
	if err != nil {
		return err
	}
	obj, _ := params.(map[string]any)
	v, present := obj[VersionParameter]
	if !present {
		return nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return fmt.Errorf("parameter %s must be a non-empty string", VersionParameter)
	}
	offered := c.Versions(p)
	if len(offered) == 0 {
		return fmt.Errorf("plan %s does not offer a choice of version", p.Name)
	}
	if !slices.Contains(offered, s) {
		return fmt.Errorf("parameter %s is not a version plan %s offers; it offers %s",
			VersionParameter, p.Name, strings.Join(offered, ", "))
	}
	return nil
}
