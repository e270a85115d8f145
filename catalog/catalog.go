// Package catalog loads the broker's YAML configuration (services, plans, and the backends
// with their nodes that serve each plan), validates it the way Cloud Controller would, and
// compiles the plans' parameter JSON Schemas.
package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const (
	// DefaultWaitBudget is a plan's WaitBudget when the YAML leaves wait_budget out.
	DefaultWaitBudget = 2 * time.Second
	// MaxWaitBudget is the longest WaitBudget a plan may have: a request must be answered
	// before the platforms' 60 s client timeout.
	MaxWaitBudget = 55 * time.Second
	// MinBindingLifetime is the shortest BindingLifetime a plan may set: a binding must live
	// long enough to be handed out and used.
	MinBindingLifetime = time.Second
)

// Kinds are the backend kinds this broker has an adapter for.
var Kinds = []string{"postgres", "mysql", "redis", "rabbitmq"}

// ErrUnknownPlan is returned (wrapped) by ValidateParameters for a plan id that is not in
// the catalog.
var ErrUnknownPlan = errors.New("plan is not in the catalog")

// Config is the whole YAML file.
type Config struct {
	Services []Service `json:"services"`
	Backends []Backend `json:"backends"`
}

// Service is an OSB service offering: what platforms see of it, and its plans.
type Service struct {
	OSBService
	Plans []Plan `json:"plans"`
}

// OSBService is a service as the OSB catalog shows it to platforms, without its plans. Field
// names follow the OSB catalog.
type OSBService struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	Description          string         `json:"description"`
	Bindable             bool           `json:"bindable"`
	InstancesRetrievable bool           `json:"instances_retrievable,omitempty"`
	BindingsRetrievable  bool           `json:"bindings_retrievable,omitempty"`
	PlanUpdateable       bool           `json:"plan_updateable"`
	Tags                 []string       `json:"tags,omitempty"`
	Requires             []string       `json:"requires,omitempty"`
	Metadata             map[string]any `json:"metadata,omitempty"`
	// DashboardClient is Cloud Foundry's catalog extension for a service's SSO dashboard: when
	// present, Cloud Controller needs all three of its fields.
	DashboardClient *DashboardClient `json:"dashboard_client,omitempty"`
}

// DashboardClient is the OAuth client Cloud Controller registers for a service's dashboard.
type DashboardClient struct {
	ID          string `json:"id"`
	Secret      string `json:"secret"`
	RedirectURI string `json:"redirect_uri"`
}

// Plan is an OSB plan plus how omnibroker runs it.
type Plan struct {
	OSBPlan
	// BindingLifetime, when set (YAML duration string such as "24h"), is how long the
	// credentials of the plan's bindings live from their bind: bind and GET binding answers
	// carry metadata.expires_at and renew_before, and once expires_at has passed the broker
	// removes the binding's login. Zero, the default, is no lifetime.
	BindingLifetime Duration `json:"binding_lifetime,omitempty"`

	// Backend names the entry of Config.Backends that serves this plan.
	Backend string `json:"backend"`
	// Config is handed to the backend with every call (e.g. connection_limit).
	Config map[string]any `json:"config,omitempty"`
	// AsyncOnly plans never wait for their instance operations (provision, update,
	// deprovision): always 202, and 422 AsyncRequired without accepts_incomplete=true.
	AsyncOnly bool `json:"async_only,omitempty"`
	// BindingsAsyncOnly is AsyncOnly for bind and unbind, which otherwise wait within their
	// budget whatever AsyncOnly says (Kubernetes clients and the OSB checker bind
	// synchronously). It needs the service's bindings_retrievable, as Cloud Controller fetches
	// the credentials of an asynchronous binding with GET binding.
	BindingsAsyncOnly bool `json:"bindings_async_only,omitempty"`
	// WaitBudget is how long a request with accepts_incomplete=true waits for its own
	// operation before answering 202 (YAML duration string such as "2s"; default 2s).
	WaitBudget Duration `json:"wait_budget,omitempty"`
	// DefaultVersion is the version new instances get when the user asks for none; empty
	// means any node that serves the plan will do.
	DefaultVersion string `json:"default_version,omitempty"`
}

// OSBPlan is a plan as the OSB catalog shows it to platforms, without how omnibroker runs it.
// Field names follow the OSB catalog.
type OSBPlan struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Description    string         `json:"description"`
	Free           *bool          `json:"free,omitempty"`
	Bindable       *bool          `json:"bindable,omitempty"`
	PlanUpdateable *bool          `json:"plan_updateable,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	Schemas        *Schemas       `json:"schemas,omitempty"`
	// MaximumPollingDuration is advertised to platforms, in seconds.
	MaximumPollingDuration *int `json:"maximum_polling_duration,omitempty"`
	// MaintenanceInfo is the plan's maintenance version, shown to platforms of OSB 2.15 and
	// later. Raising it tells them that instances made earlier can be upgraded: an update
	// that sends it brings an instance's backend objects to what the plan says now.
	MaintenanceInfo *MaintenanceInfo `json:"maintenance_info,omitempty"`
	// BindingRotatable lets a bind name a binding of the plan's as its predecessor_binding_id
	// (OSB 2.17): the new binding takes the predecessor's attributes and gets fresh credentials.
	BindingRotatable bool `json:"binding_rotatable,omitempty"`
}

// MaintenanceInfo is a plan's maintenance version, as in the OSB catalog: Version is a
// Semantic Versioning 2.0.0 version such as "1.2.0", Description says what it changed.
type MaintenanceInfo struct {
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// MaintenanceVersion is p's maintenance_info.version, or "" when p has none.
func (p Plan) MaintenanceVersion() string {
	if p.MaintenanceInfo == nil {
		return ""
	}
	return p.MaintenanceInfo.Version
}

// Schemas are the plan's parameter JSON Schemas, as in the OSB catalog.
type Schemas struct {
	ServiceInstance *InstanceSchemas `json:"service_instance,omitempty"`
	ServiceBinding  *BindingSchemas  `json:"service_binding,omitempty"`
}

// InstanceSchemas holds the create and update parameter schemas of an instance.
type InstanceSchemas struct {
	Create *SchemaParameters `json:"create,omitempty"`
	Update *SchemaParameters `json:"update,omitempty"`
}

// BindingSchemas holds the create parameter schema of a binding.
type BindingSchemas struct {
	Create *SchemaParameters `json:"create,omitempty"`
}

// SchemaParameters wraps one JSON Schema, as OSB does ({"parameters": schema}).
type SchemaParameters struct {
	Parameters map[string]any `json:"parameters"`
}

// Backend is one configured backend: a kind and the nodes (servers) it places instances on.
type Backend struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"` // one of Kinds
	Nodes []Node `json:"nodes"`
}

// Node is one server of a backend. Its admin URL comes from the environment variable URLEnv,
// so no secret sits in the YAML; DefaultURL (no password) is used when that variable is unset.
type Node struct {
	Name       string   `json:"name"`
	URLEnv     string   `json:"url_env"`
	DefaultURL string   `json:"default_url,omitempty"`
	Plans      []string `json:"plans,omitempty"` // plan names served; empty = all
	// Versions are the server versions the node offers (such as "10.11"), matched against
	// what a new instance asks for; a node without versions takes only instances that ask
	// for none.
	Versions []string `json:"versions,omitempty"`
	Capacity int      `json:"capacity,omitempty"`
	// Host and Port are what applications connect to, when they differ from the admin URL's.
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	// CAFile is the path of a PEM file of the CA certificates that sign the node's TLS
	// certificate: the broker verifies the node with them, and applications get them in
	// their credentials. It needs an admin URL that asks for TLS.
	CAFile string `json:"ca_file,omitempty"`
}

// Duration is a time.Duration written in YAML/JSON as a string like "2s".
type Duration time.Duration

// Catalog is a validated Config with its schemas compiled. It is read-only once built, so
// one Catalog may be shared by any number of goroutines; the values its methods return share
// slices and maps with it and must not be modified.
type Catalog struct {
	// Config is the parsed file, with defaults filled in (a plan's WaitBudget).
	Config Config

	services map[string]int       // service id → index in Config.Services
	plans    map[string]planIndex // plan id → where it is
	backends map[string]int       // backend name → index in Config.Backends
	schemas  map[string]map[Action]*jsonschema.Schema
}

type planIndex struct{ service, plan int }

// Load reads, parses (strictly: unknown fields are errors) and validates the YAML file at path.
// A *ValidationError lists every problem found, not only the first.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

// Parse parses and validates YAML bytes. An unknown key, a value of the wrong type and every
// rule Cloud Controller would enforce on the catalog are reported together in one
// *ValidationError, one problem a line, each naming the entry it is about.
func Parse(data []byte) (*Catalog, error) {
	cfg, err := decode(data)
	if err != nil {
		return nil, err
	}
	c := &Catalog{
		Config:   cfg,
		services: map[string]int{},
		plans:    map[string]planIndex{},
		backends: map[string]int{},
		schemas:  map[string]map[Action]*jsonschema.Schema{},
	}
	if problems := c.validate(); len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return c, nil
}

// Services returns the services in the order of the file.
func (c *Catalog) Services() []Service {
	return slices.Clone(c.Config.Services)
}

// Service returns the service with that id.
func (c *Catalog) Service(id string) (Service, bool) {
	i, ok := c.services[id]
	if !ok {
		return Service{}, false
	}
	return c.Config.Services[i], true
}

// Plan returns the plan with that id and the service it belongs to.
func (c *Catalog) Plan(id string) (Plan, Service, bool) {
	at, ok := c.plans[id]
	if !ok {
		return Plan{}, Service{}, false
	}
	s := c.Config.Services[at.service]
	return s.Plans[at.plan], s, true
}

// Backend returns the backend with that name.
func (c *Catalog) Backend(name string) (Backend, bool) {
	i, ok := c.backends[name]
	if !ok {
		return Backend{}, false
	}
	return c.Config.Backends[i], true
}

// IsBindable tells whether instances of p can be bound: the plan's bindable when it sets
// one, else its service's.
func (p Plan) IsBindable(s Service) bool {
	if p.Bindable != nil {
		return *p.Bindable
	}
	return s.Bindable
}

// IsUpdateable tells whether an instance may move from p to another plan: the plan's
// plan_updateable when it sets one, else its service's.
func (p Plan) IsUpdateable(s Service) bool {
	if p.PlanUpdateable != nil {
		return *p.PlanUpdateable
	}
	return s.PlanUpdateable
}

// AsyncOnlyFor tells whether requests on p never wait for their operation: binding
// operations (binding true) when BindingsAsyncOnly is set, instance operations when AsyncOnly is.
func (p Plan) AsyncOnlyFor(binding bool) bool {
	if binding {
		return p.BindingsAsyncOnly
	}
	return p.AsyncOnly
}

// Budget is how long a request with accepts_incomplete=true waits for its own operation, an
// instance's or (binding true) a binding's, before answering 202: WaitBudget (Parse fills in
// DefaultWaitBudget when the YAML has none), and zero when AsyncOnlyFor says it never waits.
func (p Plan) Budget(binding bool) time.Duration {
	if p.AsyncOnlyFor(binding) {
		return 0
	}
	return time.Duration(p.WaitBudget)
}

// Action names which of a plan's schemas applies.
type Action string

const (
	InstanceCreate Action = "service_instance.create"
	InstanceUpdate Action = "service_instance.update"
	BindingCreate  Action = "service_binding.create"
)

// ValidateParameters checks raw parameters (a JSON object, or empty or null for none) against
// the plan's schema for action. A plan without that schema accepts any object. The error's
// text says which field is wrong and why, fit for a 400 description; it may quote the value
// that failed, so it is for the requester, not for a log line. An unknown plan id gives an
// error wrapping ErrUnknownPlan.
func (c *Catalog) ValidateParameters(planID string, action Action, raw json.RawMessage) error {
	if _, ok := c.plans[planID]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPlan, planID)
	}
	if !slices.Contains(actions, action) {
		return fmt.Errorf("unknown schema action %q", action)
	}
	params, err := decodeParameters(raw)
	if err != nil {
		return err
	}
	sch := c.schemas[planID][action]
	if sch == nil {
		return nil
	}
	if err := sch.Validate(params); err != nil {
		return fmt.Errorf("parameters do not match the plan's schema: %s", describe(err))
	}
	return nil
}
