package store

import (
	"encoding/json"
	"slices"
	"time"
)

// InstanceState is the life-cycle state of an instance row.
type InstanceState string

const (
	// InstanceProvisioning: its provision is queued or running.
	InstanceProvisioning InstanceState = "provisioning"
	// InstanceReady: provisioned, with no instance operation queued or running.
	InstanceReady InstanceState = "ready"
	// InstanceUpdating: an update is queued or running; the row keeps its old plan and
	// parameters until the update succeeds.
	InstanceUpdating InstanceState = "updating"
	// InstanceDeprovisioning: its deprovision is queued or running.
	InstanceDeprovisioning InstanceState = "deprovisioning"
	// InstanceFailed: the provision failed; a new provision or a DELETE may follow.
	InstanceFailed InstanceState = "failed"
	// InstanceDeleteFailed: the deprovision failed and the backend objects may be partly
	// gone; only a DELETE may follow.
	InstanceDeleteFailed InstanceState = "delete_failed"
)

// BindingState is the life-cycle state of a binding row.
type BindingState string

const (
	// BindingCreating: its bind is queued or running.
	BindingCreating BindingState = "creating"
	// BindingBound: the bind succeeded and its credentials are stored; a restore keeps the
	// binding bound while it runs.
	BindingBound BindingState = "bound"
	// BindingDeleting: its unbind is queued or running.
	BindingDeleting BindingState = "deleting"
	// BindingFailed: the bind or the unbind failed. Either way the stored credentials may not
	// work: a failed unbind may already have taken the login away.
	BindingFailed BindingState = "failed"
	// BindingExpired: its lifetime ran out and its expire operation removed its login; the row
	// stays until the platform unbinds, which needs no backend call.
	BindingExpired BindingState = "expired"
)

// OperationKind says what an operation does.
type OperationKind string

const (
	// OpProvision creates the instance's backend objects on a node it is placed on.
	OpProvision OperationKind = "provision"
	// OpUpdate changes the instance's plan or parameters (its Request is an UpdateRequest).
	OpUpdate OperationKind = "update"
	// OpDeprovision removes the instance's backend objects, and then its row and bindings.
	OpDeprovision OperationKind = "deprovision"
	// OpBind creates the binding's login with its sealed password, and seals the credentials
	// it returns onto the binding.
	OpBind OperationKind = "bind"
	// OpUnbind removes the binding's login, and then its row.
	OpUnbind OperationKind = "unbind"
	// OpRestore runs the bind of a bound binding again, with its sealed password, after its
	// node lost the login (a Redis node restarted without an aclfile). The broker starts it,
	// not the platform, and the binding stays bound throughout.
	OpRestore OperationKind = "restore"
	// OpExpire removes the login of a bound binding whose expires_at has passed; the binding
	// becomes expired and keeps its row. The broker's expiry sweep starts it, not the platform.
	OpExpire OperationKind = "expire"
	// OpPurge removes an object from a node that no instance or binding owns (an orphan), at
	// an operator's asking; its Request is a PurgeRequest and its InstanceID the object's
	// PurgeAddress. It changes no instance or binding.
	OpPurge OperationKind = "purge"
)

// knownKinds are the kinds of operation this binary knows. Claim takes, and the rescuers give
// up on, only operations of these: during a rolling deploy an older replica runs beside a
// newer one, and leaves an operation of a kind that only the newer one knows to it. A new kind
// joins them in the release whose migration adds it to operations_kind_check, and the broker's
// worker runs it.
var knownKinds = []OperationKind{OpProvision, OpUpdate, OpDeprovision, OpBind, OpUnbind, OpRestore, OpExpire, OpPurge}

// KnownKinds returns the kinds of operation this binary claims, for its log.
func KnownKinds() []OperationKind { return slices.Clone(knownKinds) }

// OperationState is where an operation is in the queue.
type OperationState string

const (
	// OpQueued: waiting for a worker to claim it once its run_after has come.
	OpQueued OperationState = "queued"
	// OpRunning: claimed by the worker its lease names, until the lease expires and the
	// rescuer returns it to the queue.
	OpRunning OperationState = "running"
	// OpSucceeded: finished, its outcome applied to the instance or binding.
	OpSucceeded OperationState = "succeeded"
	// OpFailed: finished without success; its Description says why, for the person polling.
	OpFailed OperationState = "failed"
)

// Instance is a row of the instances table.
type Instance struct {
	ID               string          `db:"id"`
	ServiceID        string          `db:"service_id"`
	PlanID           string          `db:"plan_id"`
	OrganizationGUID string          `db:"organization_guid"`
	SpaceGUID        string          `db:"space_guid"`
	Parameters       json.RawMessage `db:"parameters"` // JSON object, '{}' when none
	Context          json.RawMessage `db:"context"`    // JSON object, '{}' when none
	Backend          string          `db:"backend"`    // name of the backend that serves the plan
	Node             string          `db:"node"`       // "" until placed
	State            InstanceState   `db:"state"`
	// MaintenanceVersion is the plan's maintenance_info.version the instance was created or
	// last updated at; "" (NULL) for none, which is older than any version.
	MaintenanceVersion string    `db:"maintenance_version"`
	CreatedAt          time.Time `db:"created_at"`
	UpdatedAt          time.Time `db:"updated_at"`
}

// Binding is a row of the bindings table, with its secrets unsealed.
type Binding struct {
	ID           string          `db:"id"`
	InstanceID   string          `db:"instance_id"`
	ServiceID    string          `db:"service_id"`
	PlanID       string          `db:"plan_id"`
	AppGUID      string          `db:"app_guid"`
	BindResource json.RawMessage `db:"bind_resource"` // JSON object, '{}' when none
	Parameters   json.RawMessage `db:"parameters"`    // JSON object, '{}' when none
	Context      json.RawMessage `db:"context"`       // JSON object, '{}' when none
	State        BindingState    `db:"state"`
	CreatedAt    time.Time       `db:"created_at"`
	UpdatedAt    time.Time       `db:"updated_at"`
	// LegacyName is true for a binding recorded before migration 5, whose login on mysql, redis
	// and rabbitmq keeps the name it was made with; a new binding's is false.
	LegacyName bool `db:"legacy_name"`
	// ExpiresAt and RenewBefore are set when the bind of a plan with a lifetime succeeds
	// (BindRequest), nil otherwise. Expired says, on the database's clock, that ExpiresAt has
	// passed, whether or not the expire operation has removed the login yet.
	ExpiresAt   *time.Time `db:"expires_at"`
	RenewBefore *time.Time `db:"renew_before"`
	Expired     bool       `db:"expired"`

	// Password is generated before the backend call and sealed at rest, so a retried
	// bind sets the same password.
	Password string `db:"-"`
	// Credentials is the JSON object returned to the application; sealed at rest,
	// nil until the bind succeeded.
	Credentials json.RawMessage `db:"-"`
}

// Operation is a row of the operations table: one unit of backend work and its outcome.
// Operation rows outlive the instance and binding they act on, so a finished deprovision or
// unbind can still be polled by id.
type Operation struct {
	ID                  string          `db:"id"`
	Kind                OperationKind   `db:"kind"`
	InstanceID          string          `db:"instance_id"`
	BindingID           string          `db:"binding_id"` // "" for instance operations
	State               OperationState  `db:"state"`
	Description         string          `db:"description"`
	Attempt             int             `db:"attempt"`
	MaxAttempts         int             `db:"max_attempts"`
	RunAfter            time.Time       `db:"run_after"`
	LeaseOwner          string          `db:"lease_owner"`
	LeaseExpiresAt      *time.Time      `db:"lease_expires_at"`
	Request             json.RawMessage `db:"request"`              // kind-specific input, e.g. UpdateRequest
	OriginatingIdentity json.RawMessage `db:"originating_identity"` // decoded header, 'null' when absent
	Context             json.RawMessage `db:"context"`              // platform context, '{}' when none
	CreatedAt           time.Time       `db:"created_at"`
	UpdatedAt           time.Time       `db:"updated_at"`
	FinishedAt          *time.Time      `db:"finished_at"`
	// ClaimedBy, when set on an operation about to be queued, has it queued claimed (see
	// ClaimedBy); it is never read from a row.
	ClaimedBy *ClaimedBy `db:"-"`
}

// BindRequest is the Request of a bind operation of a plan whose bindings have a lifetime:
// when the bind succeeds, the binding expires Lifetime later and should be renewed RenewAfter
// later, both on the database's clock. Zero durations (a bind without a Request) set neither.
type BindRequest struct {
	Lifetime   time.Duration `json:"lifetime,omitempty"`
	RenewAfter time.Duration `json:"renew_after,omitempty"`
}

// UpdateRequest is the Request of an update operation. The instance row keeps its old plan,
// parameters and maintenance version until the update succeeds.
type UpdateRequest struct {
	PlanID         string          `json:"plan_id"`
	PreviousPlanID string          `json:"previous_plan_id"`
	Parameters     json.RawMessage `json:"parameters"`
	// MaintenanceVersion is the maintenance version of the plan the update applies, which the
	// instance records when it succeeds; "" records none (older than any version).
	MaintenanceVersion string `json:"maintenance_version,omitempty"`
}

// Drain is a node that takes no new instances, and who drained it when and why.
type Drain struct {
	Backend   string    `db:"backend" json:"backend"`
	Node      string    `db:"node" json:"node"`
	DrainedBy string    `db:"drained_by" json:"drained_by"`
	Reason    string    `db:"reason" json:"reason,omitempty"`
	DrainedAt time.Time `db:"drained_at" json:"drained_at"`
}

// PlacedCount is how many instances a node holds, in every state.
type PlacedCount struct {
	Backend string `db:"backend"`
	Node    string `db:"node"`
	Placed  int    `db:"placed"`
}
