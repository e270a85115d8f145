// Package store owns the broker's state in PostgreSQL: migrations, instances, bindings and
// operations (which are also the durable job queue), and the sealing of credentials at rest.
// It never calls a backend.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// Sentinel errors for callers to test with errors.Is.
var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a row with that primary key already exists.
	ErrConflict = errors.New("already exists")
	// ErrBusy: another operation on the same instance is queued or running.
	ErrBusy = errors.New("another operation is in progress")
	// ErrLeaseLost: the fenced write found the operation no longer held by this
	// (id, attempt, lease owner, state = running); another worker owns it now.
	ErrLeaseLost = errors.New("lease lost")
)

// InstanceState is the life-cycle state of an instance row.
type InstanceState string

const (
	InstanceProvisioning   InstanceState = "provisioning"
	InstanceReady          InstanceState = "ready"
	InstanceUpdating       InstanceState = "updating"
	InstanceDeprovisioning InstanceState = "deprovisioning"
	InstanceFailed         InstanceState = "failed"
)

// BindingState is the life-cycle state of a binding row.
type BindingState string

const (
	BindingCreating BindingState = "creating"
	BindingBound    BindingState = "bound"
	BindingDeleting BindingState = "deleting"
	BindingFailed   BindingState = "failed"
)

// OperationKind says what an operation does.
type OperationKind string

const (
	OpProvision   OperationKind = "provision"
	OpUpdate      OperationKind = "update"
	OpDeprovision OperationKind = "deprovision"
	OpBind        OperationKind = "bind"
	OpUnbind      OperationKind = "unbind"
)

// OperationState is where an operation is in the queue.
type OperationState string

const (
	OpQueued    OperationState = "queued"
	OpRunning   OperationState = "running"
	OpSucceeded OperationState = "succeeded"
	OpFailed    OperationState = "failed"
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
	CreatedAt        time.Time       `db:"created_at"`
	UpdatedAt        time.Time       `db:"updated_at"`
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
}

// UpdateRequest is the Request of an update operation. The instance row keeps its old plan
// and parameters until the update succeeds.
type UpdateRequest struct {
	PlanID         string          `json:"plan_id"`
	PreviousPlanID string          `json:"previous_plan_id"`
	Parameters     json.RawMessage `json:"parameters"`
}

// Store is the broker's state database.
type Store struct {
	db     *sqlx.DB
	url    string
	keys   *Keyring
	notify string
}

// Open connects to the state database at databaseURL; it does not migrate.
func Open(ctx context.Context, databaseURL string, keys *Keyring) (*Store, error) {
	panic("not implemented")
}

// Close closes the connection pool.
func (s *Store) Close() error { panic("not implemented") }

// Migrate applies the embedded migrations under a PostgreSQL advisory lock, so replicas that
// start together apply each migration once.
func (s *Store) Migrate(ctx context.Context) error { panic("not implemented") }

// CreateInstance inserts inst (whose State is InstanceProvisioning) and its provision
// operation op in one transaction and notifies the workers. It returns ErrConflict when an
// instance with that id exists; nothing is written then.
func (s *Store) CreateInstance(ctx context.Context, inst Instance, op Operation) error {
	panic("not implemented")
}

// StartInstanceOperation, in one transaction, inserts op (update, deprovision, or a new
// provision of a failed instance) for an existing instance, sets the instance's state to
// state, and notifies the workers. ErrNotFound when the instance is gone; ErrBusy when
// another operation on the instance is queued or running (nothing is written then).
func (s *Store) StartInstanceOperation(ctx context.Context, instanceID string, state InstanceState, op Operation) error {
	panic("not implemented")
}

// CreateBinding inserts b (State BindingCreating, Password sealed) and its bind operation
// in one transaction and notifies the workers. ErrConflict when a binding with that id
// exists, ErrNotFound when the instance does not, ErrBusy when another operation on the
// instance is queued or running.
func (s *Store) CreateBinding(ctx context.Context, b Binding, op Operation) error {
	panic("not implemented")
}

// StartBindingOperation, in one transaction, inserts op (unbind, or a new bind of a failed
// binding) for an existing binding, sets the binding's state, and notifies the workers.
// ErrNotFound, ErrBusy as for StartInstanceOperation.
func (s *Store) StartBindingOperation(ctx context.Context, instanceID, bindingID string, state BindingState, op Operation) error {
	panic("not implemented")
}

// GetInstance returns the instance row; ErrNotFound when there is none.
func (s *Store) GetInstance(ctx context.Context, id string) (Instance, error) {
	panic("not implemented")
}

// GetBinding returns the binding row of that instance with its secrets unsealed;
// ErrNotFound when there is none.
func (s *Store) GetBinding(ctx context.Context, instanceID, bindingID string) (Binding, error) {
	panic("not implemented")
}

// GetOperation returns the operation with that id; ErrNotFound when there is none.
func (s *Store) GetOperation(ctx context.Context, id string) (Operation, error) {
	panic("not implemented")
}

// LatestOperation returns the newest operation on the instance itself (bindingID "") or on
// one of its bindings; ErrNotFound when there is none.
func (s *Store) LatestOperation(ctx context.Context, instanceID, bindingID string) (Operation, error) {
	panic("not implemented")
}

// Claim takes the oldest queued operation whose run_after has come, with
// FOR UPDATE SKIP LOCKED: it sets state running, increments attempt, and sets the lease to
// owner until now()+lease on the database clock. ErrNotFound when nothing is claimable.
func (s *Store) Claim(ctx context.Context, owner string, lease time.Duration) (Operation, error) {
	panic("not implemented")
}

// RenewLease extends op's lease to now()+lease, fenced on (id, attempt, owner, running);
// ErrLeaseLost when the fence does not match.
func (s *Store) RenewLease(ctx context.Context, op Operation, lease time.Duration) error {
	panic("not implemented")
}

// AssignNode places the instance on a node, once: if it already has one, that node is
// returned. Otherwise, in one transaction holding an advisory lock on the backend, it counts
// instances per node of that backend, calls choose with the counts, and records the chosen
// node on the instance, so two workers never overfill a node.
func (s *Store) AssignNode(ctx context.Context, instanceID, backend string, choose func(used map[string]int) (string, error)) (string, error) {
	panic("not implemented")
}

// Succeed, fenced like RenewLease, marks op succeeded and applies its outcome in the same
// transaction: provision → instance ready; update → instance takes the UpdateRequest's plan
// and parameters, ready; deprovision → the instance and its bindings are deleted; bind →
// credentials sealed onto the binding, bound; unbind → the binding is deleted.
func (s *Store) Succeed(ctx context.Context, op Operation, credentials json.RawMessage) error {
	panic("not implemented")
}

// Fail, fenced like RenewLease, marks op failed with description and applies the failure in
// the same transaction: provision → instance failed; update → instance ready, unchanged;
// deprovision → instance failed; bind → binding failed; unbind → binding bound.
func (s *Store) Fail(ctx context.Context, op Operation, description string) error {
	panic("not implemented")
}

// Retry, fenced like RenewLease, puts op back in the queue to run after the delay, keeping
// description (what went wrong, for the person polling) and the attempt count.
func (s *Store) Retry(ctx context.Context, op Operation, after time.Duration, description string) error {
	panic("not implemented")
}

// Release, fenced like RenewLease, puts op back in the queue at once without counting the
// attempt; used at shutdown for operations that did not finish in time.
func (s *Store) Release(ctx context.Context, op Operation) error {
	panic("not implemented")
}

// RescueExpired returns running operations whose lease expired to the queue, to run after
// backoff(attempt); those that reached max_attempts are failed (with the same effects as
// Fail) with a description a person can act on. It returns how many it touched.
func (s *Store) RescueExpired(ctx context.Context, backoff func(attempt int) time.Duration) (int, error) {
	panic("not implemented")
}

// Listen keeps a LISTEN on the operations channel until ctx ends, sending on wake (without
// blocking) for every notification and every time the listener (re)connects.
func (s *Store) Listen(ctx context.Context, wake chan<- struct{}) error {
	panic("not implemented")
}
