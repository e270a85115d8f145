// Package store owns the broker's state in PostgreSQL: migrations, instances, bindings and
// operations (which are also the durable job queue), and the sealing of credentials at rest.
// It never calls a backend.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
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
	// InstanceFailed: the provision failed; a new provision or a DELETE may follow.
	InstanceFailed InstanceState = "failed"
	// InstanceDeleteFailed: the deprovision failed and the backend objects may be partly
	// gone; only a DELETE may follow.
	InstanceDeleteFailed InstanceState = "delete_failed"
)

// BindingState is the life-cycle state of a binding row.
type BindingState string

const (
	BindingCreating BindingState = "creating"
	BindingBound    BindingState = "bound"
	BindingDeleting BindingState = "deleting"
	// BindingFailed: the bind or the unbind failed. Either way the stored credentials may not
	// work: a failed unbind may already have taken the login away.
	BindingFailed BindingState = "failed"
)

// OperationKind says what an operation does.
type OperationKind string

const (
	OpProvision   OperationKind = "provision"
	OpUpdate      OperationKind = "update"
	OpDeprovision OperationKind = "deprovision"
	OpBind        OperationKind = "bind"
	OpUnbind      OperationKind = "unbind"
	// OpRestore runs the bind of a bound binding again, with its sealed password, after its
	// node lost the login (a Redis node restarted without an aclfile). The broker starts it,
	// not the platform, and the binding stays bound throughout.
	OpRestore OperationKind = "restore"
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

// NotifyChannel is the PostgreSQL channel on which every enqueue (and Release) sends the
// operation id, delivered when its transaction commits.
const NotifyChannel = "omnibroker_operations"

// DefaultMaxAttempts is the max_attempts of an operation enqueued with MaxAttempts 0.
const DefaultMaxAttempts = 5

// Pool limits: enough for the request handlers and the workers of one replica, while four
// replicas still fit under PostgreSQL's default max_connections of 100, and idle connections
// are given back. Callers that need other limits set them on DB().
const (
	maxOpenConns    = 20
	maxIdleConns    = 10
	connMaxIdleTime = 5 * time.Minute
	connMaxLifetime = 30 * time.Minute
)

// Open connects to the state database at databaseURL; it does not migrate.
//
// keys seals and opens binding secrets; it may be nil for a store that only migrates or reads
// instances and operations, and then every method that needs a key returns an error.
func Open(ctx context.Context, databaseURL string, keys *Keyring) (*Store, error) {
	// Parse errors quote the URL, password included, so they are replaced, not wrapped.
	if strings.Contains(databaseURL, "://") {
		if _, err := url.Parse(databaseURL); err != nil {
			return nil, errors.New("open state database: the URL is malformed")
		}
	}
	if _, err := pq.NewConnector(databaseURL); err != nil {
		return nil, errors.New("open state database: the connection string is malformed")
	}
	db, err := sqlx.Open("postgres", databaseURL)
	if err != nil {
		return nil, errors.New("open state database: the connection string is malformed")
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	db.SetConnMaxLifetime(connMaxLifetime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to state database: %w", err)
	}
	return &Store{db: db, url: databaseURL, keys: keys, notify: NotifyChannel}, nil
}

// DB returns the connection pool, for tests that inspect raw rows and for setting pool limits.
// Writes through it bypass every rule of the store.
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the connection pool.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state database: %w", err)
	}
	return nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the advisory lock key that serializes Migrate across replicas; ours rather
// than goose's default, so another goose user of the same server never waits on us.
var migrationLockID = int64(crc32.ChecksumIEEE([]byte("omnibroker-migrations")))

// Migrate applies the embedded migrations under a PostgreSQL advisory lock, so replicas that
// start together apply each migration once.
func (s *Store) Migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// Poll for the lock every second, for up to ten minutes: a replica waits while another one
	// migrates, and the wait ends long before that unless a migration hangs.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		return fmt.Errorf("migrate: session locker: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, s.db.DB, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// provider.Close would close our pool, so it is not called.
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction, committing when fn returns nil and rolling back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// The constraint names that turn a unique or foreign key violation into a sentinel error.
const (
	instancesPKey          = "instances_pkey"
	bindingsPKey           = "bindings_pkey"
	bindingsInstanceFKey   = "bindings_instance_id_fkey"
	operationsPKey         = "operations_pkey"
	operationsActiveUnique = "operations_active_instance_key"
)

// violation maps a constraint violation to ErrConflict, ErrBusy or ErrNotFound, and returns
// any other error unchanged.
func violation(err error) error {
	pqErr := pq.As(err, pqerror.UniqueViolation, pqerror.ForeignKeyViolation)
	if pqErr == nil {
		return err
	}
	switch pqErr.Constraint {
	case instancesPKey, bindingsPKey, operationsPKey:
		return ErrConflict
	case operationsActiveUnique:
		return ErrBusy
	case bindingsInstanceFKey:
		return ErrNotFound
	}
	return err
}

// jsonText returns raw as text for a jsonb parameter, or empty when raw is absent, so that an
// unset field gets the column's meaning of "none" rather than NULL or a bytea.
func jsonText(raw json.RawMessage, empty string) string {
	if len(raw) == 0 {
		return empty
	}
	return string(raw)
}

// jsonOrNull is jsonText for a nullable column: nil for absent or JSON null.
func jsonOrNull(raw json.RawMessage) *string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	s := string(raw)
	return &s
}

// interval renders d for a $n::interval parameter.
func interval(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%d microseconds", d.Microseconds())
}

const notifyWorkers = `SELECT pg_notify($1, $2)`

const insertOperation = `
INSERT INTO operations (
    id, kind, instance_id, binding_id, state, description, attempt, max_attempts, run_after,
    request, originating_identity, context
)
VALUES (
    $1, $2, $3, NULLIF($4, ''), 'queued', $5, 0, $6, COALESCE($7, now()),
    $8, $9, $10
)`

// enqueue inserts op as queued for instanceID (and bindingID), then notifies the workers on
// commit. The operation's own State, Attempt and lease fields are ignored: an enqueued
// operation is always queued, at attempt 0, unleased.
func (s *Store) enqueue(ctx context.Context, tx *sqlx.Tx, op Operation, instanceID, bindingID string) error {
	if op.ID == "" {
		return errors.New("operation has no id")
	}
	maxAttempts := op.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = DefaultMaxAttempts
	}
	var runAfter *time.Time
	if !op.RunAfter.IsZero() {
		runAfter = &op.RunAfter
	}
	_, err := tx.ExecContext(ctx, insertOperation,
		op.ID, op.Kind, instanceID, bindingID, op.Description, maxAttempts, runAfter,
		jsonText(op.Request, "{}"), jsonOrNull(op.OriginatingIdentity), jsonText(op.Context, "{}"),
	)
	if err != nil {
		return fmt.Errorf("insert operation %s: %w", op.ID, violation(err))
	}
	if _, err := tx.ExecContext(ctx, notifyWorkers, s.notify, op.ID); err != nil {
		return fmt.Errorf("notify workers: %w", err)
	}
	return nil
}

func checkKind(op Operation, allowed ...OperationKind) error {
	for _, k := range allowed {
		if op.Kind == k {
			return nil
		}
	}
	return fmt.Errorf("operation kind %q is not one of %q", op.Kind, allowed)
}

const insertInstance = `
INSERT INTO instances (
    id, service_id, plan_id, organization_guid, space_guid, parameters, context, backend, node, state
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10)`

// CreateInstance inserts inst (whose State is InstanceProvisioning) and its provision
// operation op in one transaction and notifies the workers. It returns ErrConflict when an
// instance with that id exists; nothing is written then.
func (s *Store) CreateInstance(ctx context.Context, inst Instance, op Operation) error {
	if err := checkKind(op, OpProvision); err != nil {
		return fmt.Errorf("create instance %s: %w", inst.ID, err)
	}
	state := inst.State
	if state == "" {
		state = InstanceProvisioning
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, insertInstance,
			inst.ID, inst.ServiceID, inst.PlanID, inst.OrganizationGUID, inst.SpaceGUID,
			jsonText(inst.Parameters, "{}"), jsonText(inst.Context, "{}"), inst.Backend, inst.Node, state,
		)
		if err != nil {
			return fmt.Errorf("insert instance: %w", violation(err))
		}
		return s.enqueue(ctx, tx, op, inst.ID, "")
	})
	if err != nil {
		return fmt.Errorf("create instance %s: %w", inst.ID, err)
	}
	return nil
}

const setInstanceState = `
UPDATE instances
SET state = $2, updated_at = now()
WHERE id = $1`

// StartInstanceOperation, in one transaction, inserts op (update, deprovision, or a new
// provision of a failed instance) for an existing instance, sets the instance's state to
// state, and notifies the workers. ErrNotFound when the instance is gone; ErrBusy when
// another operation on the instance is queued or running (nothing is written then).
// It does not look at the instance's current state: which operation may follow which state
// (after delete_failed, only a deprovision) is the caller's rule.
// The operation is recorded against instanceID whatever op.InstanceID says.
func (s *Store) StartInstanceOperation(ctx context.Context, instanceID string, state InstanceState, op Operation) error {
	if err := checkKind(op, OpUpdate, OpDeprovision, OpProvision); err != nil {
		return fmt.Errorf("start operation on instance %s: %w", instanceID, err)
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Updating the row first also locks it, so a concurrent start waits here and then
		// meets the unique index as ErrBusy.
		res, err := tx.ExecContext(ctx, setInstanceState, instanceID, state)
		if err != nil {
			return fmt.Errorf("set instance state: %w", err)
		}
		if err := oneRow(res, ErrNotFound); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, op, instanceID, "")
	})
	if err != nil {
		return fmt.Errorf("start %s operation on instance %s: %w", op.Kind, instanceID, err)
	}
	return nil
}

// oneRow returns none when res touched no row.
func oneRow(res sql.Result, none error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return none
	}
	return nil
}

const insertBinding = `
INSERT INTO bindings (
    id, instance_id, service_id, plan_id, app_guid, bind_resource, parameters, context,
    secret, secret_key_id, state
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

// CreateBinding inserts b (State BindingCreating, Password sealed) and its bind operation
// in one transaction and notifies the workers. ErrConflict when a binding with that id
// exists, ErrNotFound when the instance does not, ErrBusy when another operation on the
// instance is queued or running. b.Credentials is not stored: credentials arrive with Succeed.
func (s *Store) CreateBinding(ctx context.Context, b Binding, op Operation) error {
	if err := checkKind(op, OpBind); err != nil {
		return fmt.Errorf("create binding %s: %w", b.ID, err)
	}
	keys, err := s.keyring()
	if err != nil {
		return fmt.Errorf("create binding %s: %w", b.ID, err)
	}
	secret, keyID, err := keys.seal([]byte(b.Password), secretAD(b.ID))
	if err != nil {
		return fmt.Errorf("create binding %s: %w", b.ID, err)
	}
	state := b.State
	if state == "" {
		state = BindingCreating
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, insertBinding,
			b.ID, b.InstanceID, b.ServiceID, b.PlanID, b.AppGUID, jsonText(b.BindResource, "{}"),
			jsonText(b.Parameters, "{}"), jsonText(b.Context, "{}"), secret, keyID, state,
		)
		if err != nil {
			return fmt.Errorf("insert binding: %w", violation(err))
		}
		return s.enqueue(ctx, tx, op, b.InstanceID, b.ID)
	})
	if err != nil {
		return fmt.Errorf("create binding %s: %w", b.ID, err)
	}
	return nil
}

const setBindingStateOf = `
UPDATE bindings
SET state = $3, updated_at = now()
WHERE instance_id = $1
    AND id = $2`

// touchBoundBinding matches only a bound binding of an instance that is ready or updating,
// the bindings BoundBindings lists, so that a restore never revives a binding that an unbind,
// a failure or a deprovision has moved on from since it was listed.
const touchBoundBinding = `
UPDATE bindings b
SET updated_at = now()
FROM instances i
WHERE b.instance_id = $1
    AND b.id = $2
    AND b.state = 'bound'
    AND i.id = b.instance_id
    AND i.state IN ('ready', 'updating')`

// StartBindingOperation, in one transaction, inserts op (unbind, a new bind of a failed
// binding, or a restore) for an existing binding, sets the binding's state, and notifies the
// workers. ErrNotFound, ErrBusy as for StartInstanceOperation. A new bind or a restore reuses
// the sealed password. A restore keeps the binding bound: state must be BindingBound, and
// ErrNotFound also means the binding is no longer bound or its instance no longer ready or
// updating.
func (s *Store) StartBindingOperation(ctx context.Context, instanceID, bindingID string, state BindingState, op Operation) error {
	if err := checkKind(op, OpUnbind, OpBind, OpRestore); err != nil {
		return fmt.Errorf("start operation on binding %s: %w", bindingID, err)
	}
	if op.Kind == OpRestore && state != BindingBound {
		return fmt.Errorf("start restore operation on binding %s: the binding stays %s, not %s", bindingID, BindingBound, state)
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var res sql.Result
		var err error
		if op.Kind == OpRestore {
			res, err = tx.ExecContext(ctx, touchBoundBinding, instanceID, bindingID)
		} else {
			res, err = tx.ExecContext(ctx, setBindingStateOf, instanceID, bindingID, state)
		}
		if err != nil {
			return fmt.Errorf("set binding state: %w", err)
		}
		if err := oneRow(res, ErrNotFound); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, op, instanceID, bindingID)
	})
	if err != nil {
		return fmt.Errorf("start %s operation on binding %s: %w", op.Kind, bindingID, err)
	}
	return nil
}

const selectInstance = `
SELECT id, service_id, plan_id, organization_guid, space_guid, parameters, context, backend,
    COALESCE(node, '') AS node, state, created_at, updated_at
FROM instances
WHERE id = $1`

// GetInstance returns the instance row; ErrNotFound when there is none.
func (s *Store) GetInstance(ctx context.Context, id string) (Instance, error) {
	var inst Instance
	err := s.db.GetContext(ctx, &inst, selectInstance, id)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Instance{}, fmt.Errorf("get instance %s: %w", id, err)
	}
	return inst, nil
}

const selectBinding = `
SELECT id, instance_id, service_id, plan_id, app_guid, bind_resource, parameters, context, state,
    created_at, updated_at, secret, secret_key_id, credentials,
    COALESCE(credentials_key_id, '') AS credentials_key_id
FROM bindings
WHERE instance_id = $1
    AND id = $2`

// GetBinding returns the binding row of that instance with its secrets unsealed;
// ErrNotFound when there is none.
func (s *Store) GetBinding(ctx context.Context, instanceID, bindingID string) (Binding, error) {
	var row struct {
		Binding
		sealedBinding
	}
	err := s.db.GetContext(ctx, &row, selectBinding, instanceID, bindingID)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Binding{}, fmt.Errorf("get binding %s: %w", bindingID, err)
	}
	keys, err := s.keyring()
	if err != nil {
		return Binding{}, fmt.Errorf("get binding %s: %w", bindingID, err)
	}
	password, err := keys.open(row.SealedSecret, row.SecretKeyID, secretAD(bindingID))
	if err != nil {
		return Binding{}, fmt.Errorf("get binding %s: %w", bindingID, err)
	}
	b := row.Binding
	b.Password = string(password)
	if row.SealedCredentials != nil {
		creds, err := keys.open(row.SealedCredentials, row.CredentialsKeyID, credentialsAD(bindingID))
		if err != nil {
			return Binding{}, fmt.Errorf("get binding %s: %w", bindingID, err)
		}
		b.Credentials = creds
	}
	return b, nil
}

// BindingRef names one binding of one instance.
type BindingRef struct {
	InstanceID string `db:"instance_id"`
	BindingID  string `db:"binding_id"`
}

const selectBoundBindings = `
SELECT b.instance_id, b.id AS binding_id
FROM bindings b
JOIN instances i ON i.id = b.instance_id
WHERE i.backend = $1
    AND i.node IS NOT NULL
    AND i.state IN ('ready', 'updating')
    AND b.state = 'bound'
    AND NOT EXISTS (
        SELECT 1
        FROM operations o
        WHERE o.instance_id = b.instance_id
            AND o.binding_id = b.id
            AND o.kind = 'restore'
            AND o.state = 'failed'
            AND o.finished_at > now() - $2::interval
    )
ORDER BY b.instance_id, b.id`

// BoundBindings lists the live bindings of backend, those whose login its nodes should hold:
// every binding in state bound of an instance on a node of backend that is ready or
// updating. Bindings being created or deleted, failed ones and those of instances being
// provisioned or deprovisioned are left out; their own operations deal with them. So are
// bindings whose restore failed less than quiet ago.
func (s *Store) BoundBindings(ctx context.Context, backend string, quiet time.Duration) ([]BindingRef, error) {
	var refs []BindingRef
	if err := s.db.SelectContext(ctx, &refs, selectBoundBindings, backend, interval(quiet)); err != nil {
		return nil, fmt.Errorf("list bound bindings of backend %s: %w", backend, err)
	}
	return refs, nil
}

// operationColumns are the columns of Operation, with NULLs turned into the Go zero values
// the struct documents.
const operationColumns = `id, kind, instance_id, COALESCE(binding_id, '') AS binding_id, state,
    description, attempt, max_attempts, run_after, COALESCE(lease_owner, '') AS lease_owner,
    lease_expires_at, request, COALESCE(originating_identity, 'null'::jsonb) AS originating_identity,
    context, created_at, updated_at, finished_at`

const selectOperation = `
SELECT ` + operationColumns + `
FROM operations
WHERE id = $1`

// GetOperation returns the operation with that id; ErrNotFound when there is none.
func (s *Store) GetOperation(ctx context.Context, id string) (Operation, error) {
	var op Operation
	err := s.db.GetContext(ctx, &op, selectOperation, id)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Operation{}, fmt.Errorf("get operation %s: %w", id, err)
	}
	return op, nil
}

const selectLatestInstanceOperation = `
SELECT ` + operationColumns + `
FROM operations
WHERE instance_id = $1
    AND binding_id IS NULL
ORDER BY created_at DESC, id DESC
LIMIT 1`

const selectLatestBindingOperation = `
SELECT ` + operationColumns + `
FROM operations
WHERE instance_id = $1
    AND binding_id = $2
    AND kind <> 'restore'
ORDER BY created_at DESC, id DESC
LIMIT 1`

// LatestOperation returns the newest operation on the instance itself (bindingID "") or on
// one of its bindings; ErrNotFound when there is none. Operations outlive their instance, so
// after a deprovision succeeded this still finds it. Restore operations are left out: the
// platform never asked for them, and one that failed would otherwise read as a failed bind
// to a platform that polls without an operation id.
func (s *Store) LatestOperation(ctx context.Context, instanceID, bindingID string) (Operation, error) {
	var op Operation
	var err error
	if bindingID == "" {
		err = s.db.GetContext(ctx, &op, selectLatestInstanceOperation, instanceID)
	} else {
		err = s.db.GetContext(ctx, &op, selectLatestBindingOperation, instanceID, bindingID)
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Operation{}, fmt.Errorf("latest operation of instance %s: %w", instanceID, err)
	}
	return op, nil
}

const claimOperation = `
UPDATE operations
SET state = 'running', attempt = attempt + 1, lease_owner = $1,
    lease_expires_at = now() + $2::interval, claimed_at = now(), updated_at = now()
WHERE id = (
    SELECT id
    FROM operations
    WHERE state = 'queued'
        AND run_after <= now()
    ORDER BY created_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING ` + operationColumns

// Claim takes the oldest queued operation whose run_after has come, with
// FOR UPDATE SKIP LOCKED: it sets state running, increments attempt, and sets the lease to
// owner until now()+lease on the database clock. ErrNotFound when nothing is claimable.
// owner must name one worker: fencing tells workers apart by it.
func (s *Store) Claim(ctx context.Context, owner string, lease time.Duration) (Operation, error) {
	if owner == "" {
		return Operation{}, errors.New("claim operation: empty lease owner")
	}
	var op Operation
	err := s.db.GetContext(ctx, &op, claimOperation, owner, interval(lease))
	if errors.Is(err, sql.ErrNoRows) {
		return Operation{}, ErrNotFound
	}
	if err != nil {
		return Operation{}, fmt.Errorf("claim operation: %w", err)
	}
	return op, nil
}

// The fence every completion carries: $1 id, $2 attempt, $3 lease owner.
const fence = `
WHERE id = $1
    AND attempt = $2
    AND lease_owner = $3
    AND state = 'running'`

const renewLease = `
UPDATE operations
SET lease_expires_at = now() + $4::interval, updated_at = now()` + fence

// RenewLease extends op's lease to now()+lease, fenced on (id, attempt, owner, running);
// ErrLeaseLost when the fence does not match.
func (s *Store) RenewLease(ctx context.Context, op Operation, lease time.Duration) error {
	res, err := s.db.ExecContext(ctx, renewLease, op.ID, op.Attempt, op.LeaseOwner, interval(lease))
	if err != nil {
		return fmt.Errorf("renew lease of operation %s: %w", op.ID, err)
	}
	if err := oneRow(res, ErrLeaseLost); err != nil {
		return fmt.Errorf("renew lease of operation %s: %w", op.ID, err)
	}
	return nil
}

const lockPlacement = `SELECT pg_advisory_xact_lock(hashtextextended('omnibroker-placement:' || $1::text, 0))`

const selectNode = `
SELECT COALESCE(node, '')
FROM instances
WHERE id = $1`

const selectNodeForUpdate = `
SELECT COALESCE(node, '')
FROM instances
WHERE id = $1
FOR UPDATE`

const countInstancesPerNode = `
SELECT node, count(*) AS used
FROM instances
WHERE backend = $1
    AND node IS NOT NULL
GROUP BY node`

const setInstanceNode = `
UPDATE instances
SET node = $2, updated_at = now()
WHERE id = $1`

// AssignNode places the instance on a node, once: if it already has one, that node is
// returned. Otherwise, in one transaction holding an advisory lock on the backend, it counts
// instances per node of that backend, calls choose with the counts, and records the chosen
// node on the instance, so two workers never overfill a node. choose runs while the lock is
// held, so it must be quick and must not use the store; its error is returned wrapped.
// ErrNotFound when the instance does not exist.
func (s *Store) AssignNode(ctx context.Context, instanceID, backend string, choose func(used map[string]int) (string, error)) (string, error) {
	var node string
	err := s.db.GetContext(ctx, &node, selectNode, instanceID)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("assign node to instance %s: %w", instanceID, err)
	}
	if node != "" {
		return node, nil
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, lockPlacement, backend); err != nil {
			return fmt.Errorf("lock placement: %w", err)
		}
		// Another worker may have placed it while we waited for the lock.
		err := tx.GetContext(ctx, &node, selectNodeForUpdate, instanceID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock instance: %w", err)
		}
		if node != "" {
			return nil
		}
		var counts []struct {
			Node string `db:"node"`
			Used int    `db:"used"`
		}
		if err := tx.SelectContext(ctx, &counts, countInstancesPerNode, backend); err != nil {
			return fmt.Errorf("count instances per node: %w", err)
		}
		used := make(map[string]int, len(counts))
		for _, c := range counts {
			used[c.Node] = c.Used
		}
		chosen, err := choose(used)
		if err != nil {
			return fmt.Errorf("choose node: %w", err)
		}
		if chosen == "" {
			return errors.New("choose node: no node chosen")
		}
		if _, err := tx.ExecContext(ctx, setInstanceNode, instanceID, chosen); err != nil {
			return fmt.Errorf("set node: %w", err)
		}
		node = chosen
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("assign node to instance %s: %w", instanceID, err)
	}
	return node, nil
}

const finishOperation = `
UPDATE operations
SET state = $4, description = $5, lease_expires_at = NULL, finished_at = now(), updated_at = now()` + fence + `
RETURNING kind, instance_id, COALESCE(binding_id, '') AS binding_id, request`

// finished is what a completion reads back from the fenced row: the database's word on what
// the operation acts on, not the caller's copy.
type finished struct {
	Kind       OperationKind   `db:"kind"`
	InstanceID string          `db:"instance_id"`
	BindingID  string          `db:"binding_id"`
	Request    json.RawMessage `db:"request"`
}

// finish marks op state with description, fenced, and returns the row it matched.
func finish(ctx context.Context, tx *sqlx.Tx, op Operation, state OperationState, description string) (finished, error) {
	var f finished
	err := tx.GetContext(ctx, &f, finishOperation, op.ID, op.Attempt, op.LeaseOwner, state, description)
	if errors.Is(err, sql.ErrNoRows) {
		return finished{}, ErrLeaseLost
	}
	if err != nil {
		return finished{}, fmt.Errorf("mark %s: %w", state, err)
	}
	return f, nil
}

const applyUpdate = `
UPDATE instances
SET plan_id = COALESCE(NULLIF($2, ''), plan_id), parameters = COALESCE($3::jsonb, parameters),
    state = 'ready', updated_at = now()
WHERE id = $1`

const deleteInstance = `
DELETE FROM instances
WHERE id = $1`

const setBindingCredentials = `
UPDATE bindings
SET credentials = $2, credentials_key_id = $3, state = 'bound', updated_at = now()
WHERE id = $1`

const setBindingState = `
UPDATE bindings
SET state = $2, updated_at = now()
WHERE id = $1`

const restoreBindingCredentials = `
UPDATE bindings
SET credentials = $2, credentials_key_id = $3, updated_at = now()
WHERE id = $1
    AND state = 'bound'`

const deleteBinding = `
DELETE FROM bindings
WHERE id = $1`

// Succeed, fenced like RenewLease, marks op succeeded and applies its outcome in the same
// transaction: provision → instance ready; update → instance takes the UpdateRequest's plan
// and parameters, ready; deprovision → the instance and its bindings are deleted; bind →
// credentials sealed onto the binding, bound; unbind → the binding is deleted; restore →
// credentials sealed again onto the binding, which stays bound (nil credentials, from a
// restore that found nothing to do, leave the stored ones).
// An UpdateRequest with an empty PlanID or absent Parameters keeps the instance's current
// ones. The operation's description is cleared.
func (s *Store) Succeed(ctx context.Context, op Operation, credentials json.RawMessage) error {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		f, err := finish(ctx, tx, op, OpSucceeded, "")
		if err != nil {
			return err
		}
		switch f.Kind {
		case OpProvision:
			_, err = tx.ExecContext(ctx, setInstanceState, f.InstanceID, InstanceReady)
		case OpUpdate:
			var req UpdateRequest
			if err := json.Unmarshal(f.Request, &req); err != nil {
				return fmt.Errorf("decode update request: %w", err)
			}
			_, err = tx.ExecContext(ctx, applyUpdate, f.InstanceID, req.PlanID, jsonOrNull(req.Parameters))
		case OpDeprovision:
			_, err = tx.ExecContext(ctx, deleteInstance, f.InstanceID)
		case OpBind, OpRestore:
			query := setBindingCredentials
			if f.Kind == OpRestore {
				if len(credentials) == 0 {
					break
				}
				query = restoreBindingCredentials
			}
			keys, keyErr := s.keyring()
			if keyErr != nil {
				return keyErr
			}
			sealed, keyID, sealErr := keys.seal([]byte(jsonText(credentials, "{}")), credentialsAD(f.BindingID))
			if sealErr != nil {
				return sealErr
			}
			_, err = tx.ExecContext(ctx, query, f.BindingID, sealed, keyID)
		case OpUnbind:
			_, err = tx.ExecContext(ctx, deleteBinding, f.BindingID)
		}
		if err != nil {
			return fmt.Errorf("apply %s outcome: %w", f.Kind, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("succeed operation %s: %w", op.ID, err)
	}
	return nil
}

// applyFailure records on the instance or binding that f failed. A failed restore changes
// nothing: the binding's stored credentials are still the right ones, and the next sweep tries
// again.
func applyFailure(ctx context.Context, tx *sqlx.Tx, f finished) error {
	var err error
	switch f.Kind {
	case OpProvision:
		_, err = tx.ExecContext(ctx, setInstanceState, f.InstanceID, InstanceFailed)
	case OpUpdate:
		_, err = tx.ExecContext(ctx, setInstanceState, f.InstanceID, InstanceReady)
	case OpDeprovision:
		_, err = tx.ExecContext(ctx, setInstanceState, f.InstanceID, InstanceDeleteFailed)
	case OpBind, OpUnbind:
		_, err = tx.ExecContext(ctx, setBindingState, f.BindingID, BindingFailed)
	}
	if err != nil {
		return fmt.Errorf("apply %s failure: %w", f.Kind, err)
	}
	return nil
}

// Fail, fenced like RenewLease, marks op failed with description and applies the failure in
// the same transaction: provision → instance failed; update → instance ready, unchanged;
// deprovision → instance delete_failed, bindings kept (the backend objects may be partly
// gone, so only a DELETE may follow); bind → binding failed; unbind → binding failed, not
// bound (the unbind may already have taken the login away, so the stored credentials may
// no longer work); restore → binding still bound.
func (s *Store) Fail(ctx context.Context, op Operation, description string) error {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		f, err := finish(ctx, tx, op, OpFailed, description)
		if err != nil {
			return err
		}
		return applyFailure(ctx, tx, f)
	})
	if err != nil {
		return fmt.Errorf("fail operation %s: %w", op.ID, err)
	}
	return nil
}

const retryOperation = `
UPDATE operations
SET state = 'queued', description = $4, run_after = now() + $5::interval,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()` + fence

// Retry, fenced like RenewLease, puts op back in the queue to run after the delay, keeping
// description (what went wrong, for the person polling) and the attempt count.
func (s *Store) Retry(ctx context.Context, op Operation, after time.Duration, description string) error {
	res, err := s.db.ExecContext(ctx, retryOperation, op.ID, op.Attempt, op.LeaseOwner, description, interval(after))
	if err != nil {
		return fmt.Errorf("retry operation %s: %w", op.ID, err)
	}
	if err := oneRow(res, ErrLeaseLost); err != nil {
		return fmt.Errorf("retry operation %s: %w", op.ID, err)
	}
	return nil
}

const releaseOperation = `
UPDATE operations
SET state = 'queued', attempt = attempt - 1, run_after = now(),
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()` + fence

// Release, fenced like RenewLease, puts op back in the queue at once without counting the
// attempt; used at shutdown for operations that did not finish in time. It notifies the
// workers, so another replica picks it up without waiting for its poll.
func (s *Store) Release(ctx context.Context, op Operation) error {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, releaseOperation, op.ID, op.Attempt, op.LeaseOwner)
		if err != nil {
			return fmt.Errorf("mark queued: %w", err)
		}
		if err := oneRow(res, ErrLeaseLost); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, notifyWorkers, s.notify, op.ID); err != nil {
			return fmt.Errorf("notify workers: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release operation %s: %w", op.ID, err)
	}
	return nil
}

// rescueBatch bounds how many expired operations one transaction of RescueExpired locks.
const rescueBatch = 100

const selectExpired = `
SELECT id, kind, instance_id, COALESCE(binding_id, '') AS binding_id, attempt, max_attempts,
    claimed_at, request
FROM operations
WHERE state = 'running'
    AND lease_expires_at < now()
ORDER BY lease_expires_at
LIMIT $1
FOR UPDATE SKIP LOCKED`

const requeueExpired = `
UPDATE operations
SET state = 'queued', description = $2, run_after = now() + $3::interval,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = $1`

const failExpired = `
UPDATE operations
SET state = 'failed', description = $2, lease_expires_at = NULL, finished_at = now(), updated_at = now()
WHERE id = $1`

type expired struct {
	finished
	ID          string     `db:"id"`
	Attempt     int        `db:"attempt"`
	MaxAttempts int        `db:"max_attempts"`
	ClaimedAt   *time.Time `db:"claimed_at"`
}

// RescueExpired returns running operations whose lease expired to the queue, to run after
// backoff(attempt); those that reached max_attempts are failed, with a description a person
// can act on and the same effects as Fail: a given-up deprovision leaves the instance
// delete_failed, a given-up unbind leaves the binding failed. It returns how many it touched.
// Replicas may run it at the same time: each row is rescued once.
func (s *Store) RescueExpired(ctx context.Context, backoff func(attempt int) time.Duration) (int, error) {
	total := 0
	for {
		n, err := s.rescueBatch(ctx, backoff)
		total += n
		if err != nil {
			return total, fmt.Errorf("rescue expired operations: %w", err)
		}
		if n < rescueBatch {
			return total, nil
		}
	}
}

func (s *Store) rescueBatch(ctx context.Context, backoff func(attempt int) time.Duration) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var rows []expired
		if err := tx.SelectContext(ctx, &rows, selectExpired, rescueBatch); err != nil {
			return fmt.Errorf("select: %w", err)
		}
		for _, r := range rows {
			if r.Attempt < r.MaxAttempts {
				description := fmt.Sprintf("the worker running attempt %d of %d stopped without finishing; the operation will be retried", r.Attempt, r.MaxAttempts)
				if _, err := tx.ExecContext(ctx, requeueExpired, r.ID, description, interval(backoff(r.Attempt))); err != nil {
					return fmt.Errorf("requeue operation %s: %w", r.ID, err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, failExpired, r.ID, gaveUp(r)); err != nil {
				return fmt.Errorf("fail operation %s: %w", r.ID, err)
			}
			if err := applyFailure(ctx, tx, r.finished); err != nil {
				return fmt.Errorf("fail operation %s: %w", r.ID, err)
			}
		}
		n = len(rows)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// gaveUp is the description of an operation whose worker stopped on its last attempt.
func gaveUp(r expired) string {
	began := "an unknown time"
	if r.ClaimedAt != nil {
		began = r.ClaimedAt.UTC().Format("15:04:05 UTC on 2006-01-02")
	}
	times := fmt.Sprintf("%d times", r.Attempt)
	if r.Attempt == 1 {
		times = "once"
	}
	return fmt.Sprintf("the worker running this operation stopped without finishing, and it has been tried %s; "+
		"the last attempt began at %s. Retry the request; if it fails again, ask the broker's operator "+
		"to check the broker's log for operation %s.", times, began, r.ID)
}

// Listen keeps a LISTEN on the operations channel until ctx ends, sending on wake (without
// blocking) for every notification and every time the listener (re)connects. It returns nil
// when ctx ends; the listener reconnects by itself while the database is away.
func (s *Store) Listen(ctx context.Context, wake chan<- struct{}) error {
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	// The wake for the first connection is sent once Listen has returned, when the LISTEN is in
	// place, so that a caller that polls on that wake misses nothing after it. A reconnection
	// re-issues the LISTEN before the event is emitted.
	listener := pq.NewListener(s.url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, _ error) {
		if ev == pq.ListenerEventReconnected {
			poke()
		}
	})
	stop := context.AfterFunc(ctx, func() { _ = listener.Close() })
	defer func() {
		if stop() {
			_ = listener.Close()
		}
		// Draining until the listener's goroutine closes Notify means no event callback runs
		// after we return, so the caller may close wake.
		for range listener.Notify {
		}
	}()
	// Listen blocks until the first connection; Close (on ctx end) unblocks it.
	if err := listener.Listen(s.notify); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listen on %s: %w", s.notify, err)
	}
	poke()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-listener.Notify:
			if !ok {
				return nil
			}
			poke() // a nil notification follows a reconnect: wake as well
		}
	}
}
