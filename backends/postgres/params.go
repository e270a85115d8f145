package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/omnibroker/omnibroker/backends"
)

// offeredExtensions are the extensions a user may ask for. The broker validates the parameter
// against the plan's schema already; this list is checked again because the names reach DDL.
var offeredExtensions = []string{"citext", "hstore", "pg_trgm", "pgcrypto", "uuid-ossp"}

// connectionLimit reads the plan's connection_limit: -1 (or absent) for no limit, or a positive
// whole number.
func connectionLimit(plan string, cfg map[string]any) (int, error) {
	v, ok := cfg["connection_limit"]
	if !ok || v == nil {
		return -1, nil
	}
	n, ok := backends.WholeNumber(v)
	if !ok || n == 0 || n < -1 {
		return 0, backends.Permanent(
			fmt.Sprintf("plan %s sets connection_limit to something other than -1 or a positive whole number", plan),
			fmt.Errorf("connection_limit is %v (%T)", v, v))
	}
	return n, nil
}

// extensions are what an instance gets: the plan's extensions setting (every instance of the
// plan has them) and the user's extensions parameter, each a list of offered names. It
// returns them sorted, without duplicates.
func extensions(inst backends.Instance) ([]string, error) {
	fromPlan, err := extensionList(inst.PlanConfig["extensions"], fmt.Sprintf("plan %s sets extensions to something other than a list of extension names", inst.Plan))
	if err != nil {
		return nil, err
	}
	asked, err := extensionList(inst.Parameters["extensions"], "parameter extensions must be a list of extension names")
	if err != nil {
		return nil, err
	}
	names := append(fromPlan, asked...)
	slices.Sort(names)
	return slices.Compact(names), nil
}

// extensionList reads a list of offered extension names; notList is the sentence for a value
// that is not a list of strings.
func extensionList(v any, notList string) ([]string, error) {
	names, ok := backends.StringList(v)
	if !ok {
		return nil, backends.Permanent(notList, fmt.Errorf("extensions is a %T", v))
	}
	for _, name := range names {
		if !slices.Contains(offeredExtensions, name) {
			return nil, backends.Permanent(
				fmt.Sprintf("extension %q is not offered; choose from %s", truncate(name, 64), strings.Join(offeredExtensions, ", ")),
				errors.New("extension not in the allow-list"))
		}
	}
	return names, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
