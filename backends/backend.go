// Package backends holds the contract every kind of backend (postgres, mysql, redis, rabbitmq)
// implements, the values the broker hands to it, the wrappers on it (Logging), the vocabulary
// of failure, and placement of an instance on a node. A backend gets its inputs and returns
// its outputs; it never touches the broker's state.
package backends

import "context"

// Backend creates and removes one kind of service on the nodes it was configured with.
//
// Every method is idempotent: creating what already exists (and belongs to this id), or
// dropping what is already gone, succeeds, so the worker may run a call again after a crash
// or a lost lease. Two calls for the same id may run at once (two workers, two replicas) and
// must end as one would. A failure is transient unless it is made with Permanent; either way
// it carries a sentence for last_operation (see Failure).
//
// A new input is a new field of a request struct, and a new output a new field of a response
// struct, never a new argument. Cross-cutting concerns (logging, metrics) are Middleware that
// wrap a next Backend and forward every method, so nothing behind a wrapper is lost.
type Backend interface {
	// Provision creates the instance on req.Instance.Node.
	Provision(ctx context.Context, req ProvisionRequest) (ProvisionResponse, error)
	// Update brings the instance, and the login of every binding in req.Bindings, to what
	// Instance.Plan's settings and Instance.Parameters say now. A plan change, a parameters
	// change and a maintenance upgrade (the catalog changed a plan's settings and raised its
	// maintenance_info.version) are one call: each sets everything the plan governs, so an
	// upgrade comes with every update. Logins keep their passwords and sessions.
	Update(ctx context.Context, req UpdateRequest) (UpdateResponse, error)
	// Deprovision removes the instance and every login its bindings made.
	Deprovision(ctx context.Context, req DeprovisionRequest) error
	// Bind makes the binding's login, with the password the broker sealed before the call, and
	// returns what the application is told.
	Bind(ctx context.Context, req BindRequest) (BindResponse, error)
	// Unbind removes the binding's login and ends its sessions.
	Unbind(ctx context.Context, req UnbindRequest) error

	// LosesBindings reports whether this kind's nodes can forget what Bind made (a Redis node
	// that restarts without an aclfile loses its ACL users). Only then does the broker ask
	// CheckBinding about its live bindings, and restore those lost with Bind.
	LosesBindings() bool
	// CheckBinding reports whether the login Bind made for the binding is gone from its node.
	// It changes nothing and logs nothing: the broker runs it for every live binding on every
	// sweep. Its error carries a sentence naming the node, never a secret or URL.
	CheckBinding(ctx context.Context, req CheckBindingRequest) (CheckBindingResponse, error)
	// Ping checks that node answers and accepts the admin login, for the start-up log. Its
	// error carries a sentence naming the node, never the admin URL; an unknown node is a
	// permanent error.
	Ping(ctx context.Context, node string) error
	// ListObjects lists the objects on req.Node that carry the broker's naming, made by any
	// broker on any state database, for the operator's search for orphans. It changes nothing.
	ListObjects(ctx context.Context, req ListObjectsRequest) (ListObjectsResponse, error)
	// RemoveObject removes one object that ListObjects lists, by name, as Unbind or Deprovision
	// would (ending its sessions first); one that is gone counts as removed, and one without
	// the broker's naming is refused with NotOurs. The caller decides that no live instance or
	// binding owns it: the adapter cannot tell.
	RemoveObject(ctx context.Context, req RemoveObjectRequest) error
	// Owned names the objects Provision makes for an instance and Bind for its bindings, so
	// that the operator can tell ListObjects' orphans from owned objects, and owned objects
	// that are gone. It asks no node.
	Owned(req OwnedRequest) OwnedResponse
	// Usage reports what the instance uses on its node now, as the node counts it: the size of
	// its database (postgres, mysql), the keys under its prefix (redis), its queues and the
	// messages in them (rabbitmq). It changes nothing and logs nothing. An instance whose
	// database or vhost is gone is a permanent error naming it.
	Usage(ctx context.Context, req UsageRequest) (UsageResponse, error)
	// Close releases the connections to every node.
	Close() error
}

// Instance is what a backend needs to know of a service instance.
type Instance struct {
	// ID is the platform's instance id; backend object names are derived from it (Name).
	ID string
	// Node is the name of the node placement chose; every call for this instance goes there.
	Node string
	// Plan is the plan's name; PlanConfig its backend settings from the catalog.
	Plan       string
	PlanConfig map[string]any
	// Parameters are the user's parameters, already validated against the plan's schema.
	Parameters map[string]any
}

// Binding is what a backend needs to know of a binding.
type Binding struct {
	// ID is the platform's binding id; login names are derived from it and the instance's.
	ID string
	// Password was generated by the broker and sealed into the state database before the
	// call, so a retried Bind sets the same one. It never reaches a log line.
	Password string
	// Parameters are the user's bind parameters.
	Parameters map[string]any
	// LegacyName is set for a binding the broker recorded before login names carried 130
	// bits: its login keeps the name it was made with (see UserName).
	LegacyName bool
}

// Credentials are returned to the application on bind, and sealed at rest by the broker.
type Credentials map[string]any

// ProvisionRequest asks for a new instance on Instance.Node, with Instance.Plan's settings.
type ProvisionRequest struct {
	Instance Instance
}

// ProvisionResponse is what Provision made; it has nothing to tell yet.
type ProvisionResponse struct{}

// UpdateRequest asks for the instance to take on Instance.Plan and Instance.Parameters, the
// new ones; FromPlan names the plan it had until now (the same for a parameters change or an
// upgrade). Bindings are the instance's bound bindings, with their passwords, whose logins
// Update brings to the plan's rules (a Redis ACL user is set whole, password included; a
// RabbitMQ user gets the plan's permissions). Bindings being created or deleted are left out,
// since their own operations set their logins; the one-operation-per-instance rule of the
// queue keeps those from running during an update.
type UpdateRequest struct {
	Instance Instance
	FromPlan string
	Bindings []Binding
}

// UpdateResponse is what Update changed; it has nothing to tell yet.
type UpdateResponse struct{}

// DeprovisionRequest asks for the instance and its bindings' logins to go. Instance.Plan and
// PlanConfig may be empty: an instance whose plan left the catalog can still be deleted.
// Bindings are every binding the broker recorded for the instance, whatever became of its
// bind (one cut short may have left a login behind), with ID and LegacyName set: Deprovision
// removes exactly their logins, and never looks for others by a part of their names.
type DeprovisionRequest struct {
	Instance Instance
	Bindings []Binding
}

// BindRequest asks for Binding's login on Instance.
type BindRequest struct {
	Instance Instance
	Binding  Binding
}

// BindResponse carries the Credentials the application gets.
type BindResponse struct {
	Credentials Credentials
}

// UnbindRequest asks for Binding's login on Instance to go. Instance.Plan may be empty, as for
// DeprovisionRequest; Binding.Password is not needed.
type UnbindRequest struct {
	Instance Instance
	Binding  Binding
}

// CheckBindingRequest asks whether Binding's login on Instance is still there.
type CheckBindingRequest struct {
	Instance Instance
	Binding  Binding
}

// CheckBindingResponse tells whether the login is Lost, so that Bind should make it again.
type CheckBindingResponse struct {
	Lost bool
}

// KeepsBindings is embedded by the adapters whose nodes never forget what Bind made: it says
// so (LosesBindings) and answers every CheckBinding with a login that is there.
type KeepsBindings struct{}

// LosesBindings reports false: the node keeps its logins.
func (KeepsBindings) LosesBindings() bool { return false }

// CheckBinding reports the login as there, without asking the node.
func (KeepsBindings) CheckBinding(context.Context, CheckBindingRequest) (CheckBindingResponse, error) {
	return CheckBindingResponse{}, nil
}

// UsageRequest asks what Instance uses on Instance.Node.
type UsageRequest struct {
	Instance Instance
}

// UsageResponse holds what the node counts for the instance, a Figure each.
type UsageResponse struct {
	Figures []Figure
}

// Figure is one thing a node counts for an instance: a Name for a person ("database size",
// "keys", "queues", "messages"), its Value, and its Unit ("bytes", or "" for a count).
type Figure struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
	Unit  string `json:"unit,omitempty"`
}
