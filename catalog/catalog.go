// Package catalog loads the broker's YAML configuration (services, plans, and the backends
// with their nodes that serve each plan), validates it the way Cloud Controller would, and
// compiles the plans' parameter JSON Schemas.
package catalog

import (
	"encoding/json"
	"time"
)

// Config is the whole YAML file.
type Config struct {
	Services []Service `json:"services"`
	Backends []Backend `json:"backends"`
}

// Service is an OSB service offering. Field names follow the OSB catalog.
type Service struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	Description          string         `json:"description"`
	Bindable             bool           `json:"bindable"`
	InstancesRetrievable bool           `json:"instances_retrievable"`
	BindingsRetrievable  bool           `json:"bindings_retrievable"`
	PlanUpdateable       bool           `json:"plan_updateable"`
	Tags                 []string       `json:"tags,omitempty"`
	Requires             []string       `json:"requires,omitempty"`
	Metadata             map[string]any `json:"metadata,omitempty"`
	Plans                []Plan         `json:"plans"`
}

// Plan is an OSB plan plus how omnibroker runs it.
type Plan struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Description    string         `json:"description"`
	Free           *bool          `json:"free,omitempty"`
	Bindable       *bool          `json:"bindable,omitempty"`
	PlanUpdateable *bool          `json:"plan_updateable,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	Schemas        *Schemas       `json:"schemas,omitempty"`

	// Backend names the entry of Config.Backends that serves this plan.
	Backend string `json:"backend"`
	// Config is handed to the backend with every call (e.g. connection_limit).
	Config map[string]any `json:"config,omitempty"`
	// AsyncOnly plans never wait for their operation: always 202, and 422 AsyncRequired
	// without accepts_incomplete=true.
	AsyncOnly bool `json:"async_only,omitempty"`
	// WaitBudget is how long a request with accepts_incomplete=true waits for its own
	// operation before answering 202 (YAML duration string such as "2s"; default 2s).
	WaitBudget Duration `json:"wait_budget,omitempty"`
	// MaximumPollingDuration is advertised to platforms, in seconds.
	MaximumPollingDuration *int `json:"maximum_polling_duration,omitempty"`
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
	Kind  string `json:"kind"` // postgres (mysql, redis, rabbitmq later)
	Nodes []Node `json:"nodes"`
}

// Node is one server of a backend. Its admin URL comes from the environment variable URLEnv,
// so no secret sits in the YAML; DefaultURL (no password) is used when that variable is unset.
type Node struct {
	Name       string   `json:"name"`
	URLEnv     string   `json:"url_env"`
	DefaultURL string   `json:"default_url,omitempty"`
	Plans      []string `json:"plans,omitempty"` // plan names served; empty = all
	Capacity   int      `json:"capacity,omitempty"`
	// Host and Port are what applications connect to, when they differ from the admin URL's.
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
}

// Duration is a time.Duration written in YAML/JSON as a string like "2s".
type Duration time.Duration

// Catalog is a validated Config with its schemas compiled.
type Catalog struct {
	Config Config
	// unexported indexes by service id, plan id, backend name; compiled schemas
}

// Load reads, parses (strictly: unknown fields are errors) and validates the YAML file at path.
func Load(path string) (*Catalog, error) { panic("not implemented") }

// Parse parses and validates YAML bytes.
func Parse(data []byte) (*Catalog, error) { panic("not implemented") }

// Service returns the service with that id.
func (c *Catalog) Service(id string) (Service, bool) { panic("not implemented") }

// Plan returns the plan with that id and the service it belongs to.
func (c *Catalog) Plan(id string) (Plan, Service, bool) { panic("not implemented") }

// Backend returns the backend with that name.
func (c *Catalog) Backend(name string) (Backend, bool) { panic("not implemented") }

// Action names which of a plan's schemas applies.
type Action string

const (
	InstanceCreate Action = "service_instance.create"
	InstanceUpdate Action = "service_instance.update"
	BindingCreate  Action = "service_binding.create"
)

// ValidateParameters checks raw parameters (a JSON object, or empty for none) against the
// plan's schema for action. A plan without that schema accepts any object. The error's text
// says which field is wrong and why, fit for a 400 description.
func (c *Catalog) ValidateParameters(planID string, action Action, raw json.RawMessage) error {
	panic("not implemented")
}
