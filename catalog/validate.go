package catalog

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ValidationError is a catalog that Cloud Controller would refuse, or that omnibroker could
// not serve. It lists every problem found, each naming the entry it is about, such as
// `services[1] "mysql": plans[0] "small": backend "pg-pool" is not configured`.
type ValidationError struct {
	Problems []string
}

// Error gives one problem a line, after a line that counts them.
func (e *ValidationError) Error() string {
	count := "1 problem"
	if len(e.Problems) != 1 {
		count = fmt.Sprintf("%d problems", len(e.Problems))
	}
	return "invalid catalog (" + count + "):\n  " + strings.Join(e.Problems, "\n  ")
}

var (
	// namePattern keeps service and plan names CLI-friendly, as OSB 2.13 required (letters,
	// digits, periods, hyphens) plus underscores, which Cloud Controller has always taken.
	// The same rule serves backend and node names, which reach logs and last_operation
	// descriptions.
	namePattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envVarPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

const (
	// maxFieldLength is Cloud Controller's column size for ids and names.
	maxFieldLength = 255
	// maxDescription is the most characters Cloud Controller takes in a service's or plan's
	// description.
	maxDescription = 10000
	// maxTags is the most characters a service's tags may have together.
	maxTags = 2048
)

// requirable lists the permissions a service may ask for in requires, as OSB defines them.
var requirable = []string{"syslog_drain", "route_forwarding", "volume_mount"}

type problems []string

func (ps *problems) add(at, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if at != "" {
		msg = at + ": " + msg
	}
	*ps = append(*ps, msg)
}

// validate checks c.Config, builds c's indexes and compiles the plans' schemas. It returns
// every problem it finds; c is usable only when there are none.
func (c *Catalog) validate() []string {
	var ps problems
	cfg := &c.Config

	for i, b := range cfg.Backends {
		if _, dup := c.backends[b.Name]; !dup && b.Name != "" {
			c.backends[b.Name] = i
		}
	}

	if len(cfg.Services) == 0 {
		ps.add("", "at least one service is required")
	}
	ids := map[string]string{}             // service and plan ids → the entry that has it
	serviceNames := map[string]string{}    // service name → the entry that has it
	served := map[string]map[string]bool{} // backend name → names of the plans it serves
	for i := range cfg.Services {
		s := &cfg.Services[i]
		sl := label("services", i, s.Name)
		if checkID(&ps, sl, s.ID) && ps.unique(ids, sl, "id", s.ID, "") {
			c.services[s.ID] = i
		}
		if checkName(&ps, sl, s.Name) {
			ps.unique(serviceNames, sl, "name", s.Name, "")
		}
		checkDescription(&ps, sl, s.Description)
		if n := tagsLength(s.Tags); n > maxTags {
			ps.add(sl, "tags are %d characters together, more than the %d Cloud Controller takes", n, maxTags)
		}
		checkDashboardClient(&ps, sl, s.DashboardClient)
		for k, r := range s.Requires {
			if !slices.Contains(requirable, r) {
				ps.add(sl, "requires[%d] %q is not one of %s", k, r, strings.Join(requirable, ", "))
			}
		}
		checkJSON(&ps, sl, "metadata", s.Metadata)
		if len(s.Plans) == 0 {
			ps.add(sl, "at least one plan is required")
		}

		planNames := map[string]string{}
		for j := range s.Plans {
			p := &s.Plans[j]
			pl := sl + ": " + label("plans", j, p.Name)
			if checkID(&ps, pl, p.ID) && ps.unique(ids, pl, "id", p.ID, "") {
				c.plans[p.ID] = planIndex{service: i, plan: j}
			}
			if checkName(&ps, pl, p.Name) {
				ps.unique(planNames, pl, "name", p.Name, " in the same service")
			}
			checkDescription(&ps, pl, p.Description)
			checkJSON(&ps, pl, "metadata", p.Metadata)
			checkJSON(&ps, pl, "config", p.Config)

			switch _, ok := c.backends[p.Backend]; {
			case strings.TrimSpace(p.Backend) == "":
				ps.add(pl, "backend is required")
			case !ok:
				ps.add(pl, "backend %q is not configured", p.Backend)
			default:
				if served[p.Backend] == nil {
					served[p.Backend] = map[string]bool{}
				}
				served[p.Backend][p.Name] = true
			}

			if b := time.Duration(p.WaitBudget); b < 0 || b > MaxWaitBudget {
				ps.add(pl, "wait_budget %s is not between 0s and %s", b, MaxWaitBudget)
			}
			switch l := time.Duration(p.BindingLifetime); {
			case l == 0:
			case l < MinBindingLifetime:
				ps.add(pl, "binding_lifetime %s is shorter than %s: a binding must live long enough to be handed out", l, MinBindingLifetime)
			case !p.IsBindable(*s):
				ps.add(pl, "binding_lifetime %s is set on a plan that is not bindable", l)
			}
			if p.BindingsAsyncOnly && !s.BindingsRetrievable {
				ps.add(pl, "bindings_async_only needs the service's bindings_retrievable: true, as Cloud Controller fetches an asynchronous binding's credentials with GET binding")
			}
			if m := p.MaximumPollingDuration; m != nil && *m <= 0 {
				ps.add(pl, "maximum_polling_duration must be more than 0 seconds when set, got %d", *m)
			}
			checkMaintenanceInfo(&ps, pl, p.MaintenanceInfo)
			c.compileSchemas(&ps, pl, p)
		}
	}

	backendNames := map[string]string{}
	nodeNames := map[string]string{}
	for i, b := range cfg.Backends {
		bl := label("backends", i, b.Name)
		if checkName(&ps, bl, b.Name) {
			ps.unique(backendNames, bl, "name", b.Name, "")
		}
		switch {
		case strings.TrimSpace(b.Kind) == "":
			ps.add(bl, "kind is required (one of %s)", strings.Join(Kinds, ", "))
		case !slices.Contains(Kinds, b.Kind):
			ps.add(bl, "kind %q is not one of %s", b.Kind, strings.Join(Kinds, ", "))
		}
		if len(b.Nodes) == 0 {
			ps.add(bl, "at least one node is required")
		}
		for k, n := range b.Nodes {
			nl := bl + ": " + label("nodes", k, n.Name)
			if checkName(&ps, nl, n.Name) {
				ps.unique(nodeNames, nl, "name", n.Name, "")
			}
			switch {
			case n.URLEnv == "":
				ps.add(nl, "url_env is required")
			case !envVarPattern.MatchString(n.URLEnv):
				ps.add(nl, "url_env %q is not a valid environment variable name", n.URLEnv)
			}
			if n.DefaultURL != "" {
				checkDefaultURL(&ps, nl, n)
			}
			if n.CAFile != "" && strings.TrimSpace(n.CAFile) != n.CAFile {
				ps.add(nl, "ca_file must be a path without leading or trailing spaces")
			}
			for m, name := range n.Plans {
				if !served[b.Name][name] {
					ps.add(nl, "plans[%d] %q is not a plan of backend %q", m, name, b.Name)
				}
			}
			seen := map[string]bool{}
			for m, v := range n.Versions {
				switch {
				case strings.TrimSpace(v) == "" || strings.TrimSpace(v) != v:
					ps.add(nl, "versions[%d] must be a version without spaces, such as \"10.11\"", m)
				case seen[v]:
					ps.add(nl, "versions[%d] %q is listed twice", m, v)
				}
				seen[v] = true
			}
			if n.Capacity < 0 {
				ps.add(nl, "capacity must not be negative, got %d", n.Capacity)
			}
			if n.Port < 0 || n.Port > 65535 {
				ps.add(nl, "port %d is not between 0 and 65535", n.Port)
			}
		}
	}
	for i, s := range cfg.Services {
		for j, p := range s.Plans {
			if p.DefaultVersion == "" {
				continue
			}
			if _, ok := c.backends[p.Backend]; ok && !slices.Contains(c.Versions(p), p.DefaultVersion) {
				ps.add(label("services", i, s.Name)+": "+label("plans", j, p.Name),
					"default_version %q is not offered by any node of backend %q that serves this plan", p.DefaultVersion, p.Backend)
			}
		}
	}
	return ps
}

// checkRequired reports a missing (or blank) field and tells whether it is present.
func checkRequired(ps *problems, at, field, v string) bool {
	if strings.TrimSpace(v) == "" {
		ps.add(at, "%s is required", field)
		return false
	}
	return true
}

// checkDescription reports a description that is missing or longer than Cloud Controller takes.
func checkDescription(ps *problems, at, v string) {
	if checkRequired(ps, at, "description", v) && utf8.RuneCountInString(v) > maxDescription {
		ps.add(at, "description is %d characters, more than the %d Cloud Controller takes", utf8.RuneCountInString(v), maxDescription)
	}
}

// tagsLength is how many characters the tags have together, as Cloud Controller counts them.
func tagsLength(tags []string) int {
	n := 0
	for _, t := range tags {
		n += utf8.RuneCountInString(t)
	}
	return n
}

// checkDashboardClient reports a dashboard_client that lacks a field Cloud Controller needs,
// or whose redirect_uri is not an absolute URL. The secret is never quoted.
func checkDashboardClient(ps *problems, at string, dc *DashboardClient) {
	if dc == nil {
		return
	}
	at += ": dashboard_client"
	checkRequired(ps, at, "id", dc.ID)
	checkRequired(ps, at, "secret", dc.Secret)
	if checkRequired(ps, at, "redirect_uri", dc.RedirectURI) {
		if u, err := url.Parse(dc.RedirectURI); err != nil || u.Scheme == "" || u.Host == "" {
			ps.add(at, "redirect_uri %q is not an absolute URL", dc.RedirectURI)
		}
	}
}

// unique records in seen that the entry at has value v in field, and tells whether v is
// new; a value an earlier entry has is reported, naming that entry (and scope, such as
// " in the same service", when the rule holds within one).
func (ps *problems) unique(seen map[string]string, at, field, v, scope string) bool {
	if prev, dup := seen[v]; dup {
		ps.add(at, "%s %q is already used by %s%s", field, v, prev, scope)
		return false
	}
	seen[v] = at
	return true
}

// checkID reports an id that is missing or unfit, and tells whether it is usable.
func checkID(ps *problems, at, id string) bool {
	return checkField(ps, at, "id", id, strings.TrimSpace(id) == id, "has leading or trailing space")
}

// checkName reports a name that is missing or not CLI-friendly, and tells whether it is
// usable.
func checkName(ps *problems, at, name string) bool {
	return checkField(ps, at, "name", name, namePattern.MatchString(name),
		"must be letters, digits, '.', '-' or '_', starting with a letter or digit")
}

// checkField reports a field that is missing, unfit (fit is false; unfit says why) or longer
// than Cloud Controller stores, and tells whether it is usable.
func checkField(ps *problems, at, field, v string, fit bool, unfit string) bool {
	switch {
	case !checkRequired(ps, at, field, v):
	case !fit:
		ps.add(at, "%s %q %s", field, v, unfit)
	case len(v) > maxFieldLength:
		ps.add(at, "%s is longer than %d characters", field, maxFieldLength)
	default:
		return true
	}
	return false
}

// checkJSON reports a value the broker could not send to a platform.
func checkJSON(ps *problems, at, field string, v map[string]any) {
	if _, err := json.Marshal(v); err != nil {
		ps.add(at, "%s is not JSON-serialisable: %v", field, err)
	}
}

// checkDefaultURL reports a default_url that does not parse or that carries a password. The
// URL itself is never quoted: it is exactly what must not end up in a log.
func checkDefaultURL(ps *problems, at string, n Node) {
	u, err := url.Parse(n.DefaultURL)
	if err != nil || u.Scheme == "" {
		ps.add(at, "default_url is not a URL with a scheme")
		return
	}
	if _, has := u.User.Password(); has {
		ps.add(at, "default_url must not carry a password: put the URL with it in $%s", n.URLEnv)
	}
}
