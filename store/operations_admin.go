package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ListedOperation is an operation as the operator lists it: what it acts on, where it is in
// the queue, and how old it is, without its request or the platform's context and identity
// (a request may carry plan parameters, which stay out of the operator's output as they stay
// out of the log).
type ListedOperation struct {
	ID          string         `db:"id" json:"id"`
	Kind        OperationKind  `db:"kind" json:"kind"`
	InstanceID  string         `db:"instance_id" json:"instance_id"`
	BindingID   string         `db:"binding_id" json:"binding_id,omitempty"`
	State       OperationState `db:"state" json:"state"`
	Attempt     int            `db:"attempt" json:"attempt"`
	MaxAttempts int            `db:"max_attempts" json:"max_attempts"`
	// Node is the node of its instance, or of a purge's object; "" for an instance not (or no
	// longer) placed, or gone.
	Node        string `db:"node" json:"node"`
	Description string `db:"description" json:"description"`
	// Worker is the lease owner of the attempt that runs now, "" when none runs.
	Worker     string     `db:"worker" json:"worker,omitempty"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt  time.Time  `db:"updated_at" json:"updated_at"`
	RunAfter   time.Time  `db:"run_after" json:"run_after"`
	FinishedAt *time.Time `db:"finished_at" json:"finished_at,omitempty"`
	// AgeSeconds is how long ago it was created, on the database's clock (Age).
	AgeSeconds float64 `db:"age_seconds" json:"age_seconds"`
	// Latest says that it is the operation last_operation answers for its instance or
	// binding when polled without an operation id: the only one RetryOperation takes.
	Latest bool `db:"latest" json:"latest"`
	// SubjectState is the state of its instance, or of its binding, now; "" when that is gone.
	SubjectState string `db:"subject_state" json:"subject_state,omitempty"`
}

// Age is how long ago op was created, on the database's clock.
func (op ListedOperation) Age() time.Duration {
	return time.Duration(op.AgeSeconds * float64(time.Second))
}

// Attempt is one attempt of an operation, as the trigger of migration 11 records it.
type Attempt struct {
	Attempt   int        `db:"attempt" json:"attempt"`
	Worker    string     `db:"worker" json:"worker"`
	StartedAt time.Time  `db:"started_at" json:"started_at"`
	EndedAt   *time.Time `db:"ended_at" json:"ended_at,omitempty"`
	// Outcome is succeeded, failed, retried (back in the queue, counted) or released (back
	// in the queue uncounted, at a shutdown); "" while it runs.
	Outcome     string `db:"outcome" json:"outcome,omitempty"`
	Description string `db:"description" json:"description,omitempty"`
}

// OperationFilter is what ListOperations lists.
type OperationFilter struct {
	// States are the states to list; none lists queued, running and failed.
	States []OperationState
	// InstanceID, when set, lists the operations of that instance and of its bindings.
	InstanceID string
	// OlderThan, when positive, lists only operations created at least that long ago.
	OlderThan time.Duration
	// Limit bounds how many it lists.
	Limit int
}

// latestOf is true for an operation o that is the latest of its instance (binding_id NULL)
// or of its binding, as LatestOperation finds it: no newer one on the same, restores of a
// binding left out.
const latestOf = `NOT EXISTS (
        SELECT 1
        FROM operations n
        WHERE n.instance_id = o.instance_id
            AND n.binding_id IS NOT DISTINCT FROM o.binding_id
            AND (n.binding_id IS NULL OR n.kind <> 'restore')
            AND (n.created_at, n.id) > (o.created_at, o.id)
    )`

const listedColumns = `
SELECT o.id, o.kind, o.instance_id, COALESCE(o.binding_id, '') AS binding_id, o.state, o.attempt,
    o.max_attempts, o.description, o.created_at, o.updated_at, o.run_after, o.finished_at,
    CASE WHEN o.state = 'running' THEN COALESCE(o.lease_owner, '') ELSE '' END AS worker,
    COALESCE(CASE WHEN o.kind = 'purge' THEN o.request->>'node' ELSE i.node END, '') AS node,
    EXTRACT(EPOCH FROM now() - o.created_at)::float8 AS age_seconds,
    ` + latestOf + ` AS latest,
    CASE WHEN o.binding_id IS NULL THEN COALESCE(i.state, '') ELSE COALESCE(b.state, '') END AS subject_state
FROM operations o
LEFT JOIN instances i ON i.id = o.instance_id
LEFT JOIN bindings b ON b.instance_id = o.instance_id AND b.id = o.binding_id`

const selectListedOperations = listedColumns + `
WHERE o.state = ANY($1)
    AND ($2 = '' OR o.instance_id = $2)
    AND o.created_at <= now() - $3::interval
ORDER BY o.created_at DESC, o.id DESC
LIMIT $4`

const selectListedOperation = listedColumns + `
WHERE o.id = $1`

// ListOperations lists the operations filter selects, newest first, at most filter.Limit of
// them, and says whether there are more.
func (s *Store) ListOperations(ctx context.Context, filter OperationFilter) ([]ListedOperation, bool, error) {
	states := filter.States
	if len(states) == 0 {
		states = []OperationState{OpQueued, OpRunning, OpFailed}
	}
	array := make(pq.StringArray, len(states))
	for i, state := range states {
		array[i] = string(state)
	}
	ops := []ListedOperation{}
	err := s.db.SelectContext(ctx, &ops, selectListedOperations, array, filter.InstanceID, interval(filter.OlderThan), filter.Limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list operations: %w", err)
	}
	if len(ops) > filter.Limit {
		return ops[:filter.Limit], true, nil
	}
	return ops, false, nil
}

// ListedOperationOf returns operation id as ListOperations lists it; ErrNotFound when there is
// none.
func (s *Store) ListedOperationOf(ctx context.Context, id string) (ListedOperation, error) {
	return getRow[ListedOperation](ctx, s.db, "get operation "+id, selectListedOperation, id)
}

const selectAttempts = `
SELECT attempt, COALESCE(worker, '') AS worker, started_at, ended_at, COALESCE(outcome, '') AS outcome,
    description
FROM operation_attempts
WHERE operation_id = $1
ORDER BY id`

// Attempts lists the attempts of operation id, the first first.
func (s *Store) Attempts(ctx context.Context, id string) ([]Attempt, error) {
	attempts := []Attempt{}
	if err := s.db.SelectContext(ctx, &attempts, selectAttempts, id); err != nil {
		return nil, fmt.Errorf("list the attempts of operation %s: %w", id, err)
	}
	return attempts, nil
}

// RefusedError is a retry or a cancel that the state of the operation, or of its instance or
// binding, does not allow; Reason says why, for a person.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

func refused(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// retryable are the kinds RetryOperation takes, with the state a failure of each leaves its
// instance or binding in and the state it goes back to while it runs again.
var retryable = map[OperationKind]struct{ failed, running string }{
	OpProvision:   {string(InstanceFailed), string(InstanceProvisioning)},
	OpUpdate:      {string(InstanceReady), string(InstanceUpdating)},
	OpDeprovision: {string(InstanceDeleteFailed), string(InstanceDeprovisioning)},
	OpBind:        {string(BindingFailed), string(BindingCreating)},
	OpUnbind:      {string(BindingFailed), string(BindingDeleting)},
}

const (
	selectOperationForUpdate = selectOperation + `
FOR UPDATE`

	selectLatestOfOperation = `
SELECT o.id
FROM operations o
WHERE o.id = $1
    AND ` + latestOf

	selectInstanceState = `
SELECT state
FROM instances
WHERE id = $1`

	selectBindingState = `
SELECT state
FROM bindings
WHERE instance_id = $1
    AND id = $2`

	requeueFailed = `
UPDATE operations
SET state = 'queued', description = $2, max_attempts = attempt + $3, run_after = now(),
    lease_owner = NULL, lease_expires_at = NULL, finished_at = NULL, updated_at = now()
WHERE id = $1
    AND state = 'failed'`
)

// RetryOperation puts failed operation id back in the queue, the same operation under the same
// id, so that a platform or a person polling it sees it run again: it keeps its attempt count
// (the attempts of its history stay numbered in order) and may run attempts more times. Its
// instance goes back to provisioning, updating or deprovisioning, its binding to creating or
// deleting, as when it was first queued. It takes only a provision, update, deprovision, bind or
// unbind that is the latest operation of its instance or binding, whose instance or binding is
// still in the state its failure left, with no other operation in the way (ErrBusy);
// RefusedError otherwise, ErrNotFound when there is no such operation. The locks follow the
// lock order (locks.go): instance, binding, then the operation row.
func (s *Store) RetryOperation(ctx context.Context, id string, attempts int, description string) (Operation, error) {
	if attempts < 1 {
		return Operation{}, fmt.Errorf("retry operation %s: %d attempts; it must be at least 1", id, attempts)
	}
	var op Operation
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		first, err := operationIn(ctx, tx, selectOperation, id)
		if err != nil {
			return err
		}
		states, ok := retryable[first.Kind]
		if !ok {
			return refused("operation %s is a %s; retry takes provision, update, deprovision, bind and unbind operations (the broker's sweeps start restores and expiries again themselves, and orphans --purge finds an orphan again)", id, first.Kind)
		}
		if err := lockSubject(ctx, tx, first); err != nil {
			return err
		}
		if op, err = operationIn(ctx, tx, selectOperationForUpdate, id); err != nil {
			return err
		}
		if op.State != OpFailed {
			return refused("operation %s %s; retry takes a failed one", id, standing(op.State))
		}
		var latest string
		if err := tx.GetContext(ctx, &latest, selectLatestOfOperation, id); errors.Is(err, sql.ErrNoRows) {
			return refused("operation %s is not the latest operation of its %s; retry takes only the latest, which the platform sees", id, subjectOf(op))
		} else if err != nil {
			return fmt.Errorf("find the latest operation: %w", err)
		}
		if err := checkIdle(ctx, tx, op.InstanceID, op.BindingID); err != nil {
			return err
		}
		query, args := selectInstanceState, []any{op.InstanceID}
		setState := setInstanceState
		if op.BindingID != "" {
			query, args, setState = selectBindingState, []any{op.InstanceID, op.BindingID}, setBindingStateOf
		}
		var state string
		if err := tx.GetContext(ctx, &state, query, args...); err != nil {
			return fmt.Errorf("read the state of its %s: %w", subjectOf(op), err)
		}
		if state != states.failed {
			return refused("the %s of operation %s is %s, not %s as its failure left it", subjectOf(op), id, state, states.failed)
		}
		args = append(args, states.running)
		if _, err := tx.ExecContext(ctx, setState, args...); err != nil {
			return fmt.Errorf("set the state of its %s: %w", subjectOf(op), err)
		}
		res, err := tx.ExecContext(ctx, requeueFailed, id, description, attempts)
		if err != nil {
			return fmt.Errorf("queue it again: %w", err)
		}
		if err := oneRow(res, ErrNotFound); err != nil {
			return err
		}
		s.notifyQueued(tx)
		return nil
	})
	if err != nil {
		return Operation{}, fmt.Errorf("retry operation %s: %w", id, err)
	}
	op.State, op.Description, op.MaxAttempts = OpQueued, description, op.Attempt+attempts
	return op, nil
}

const cancelQueued = `
UPDATE operations
SET state = 'failed', description = $2, lease_owner = NULL, lease_expires_at = NULL, finished_at = now(),
    updated_at = now()
WHERE id = $1
    AND state = 'queued'
RETURNING kind, instance_id, COALESCE(binding_id, '') AS binding_id, request`

// CancelOperation fails queued operation id with description, which last_operation then
// answers, and applies to its instance or binding what a failure of its kind applies (Fail):
// a provision leaves the instance failed, an update leaves it ready on its old plan, a
// deprovision leaves it delete_failed, a bind or an unbind leaves the binding failed. It is
// fenced on the state queued: a worker that claims the operation at the same moment either
// finds it failed, or has it running, and then CancelOperation refuses (RefusedError), as it
// does for an operation that is not queued; ErrNotFound when there is none. The locks follow
// the lock order: instance, binding, then the operation row.
func (s *Store) CancelOperation(ctx context.Context, id, description string) (Operation, error) {
	var op Operation
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if op, err = operationIn(ctx, tx, selectOperation, id); err != nil {
			return err
		}
		if op.State != OpQueued {
			return notQueued(op)
		}
		if err := lockTargets(ctx, tx, op); err != nil {
			return err
		}
		var f finished
		err = tx.GetContext(ctx, &f, cancelQueued, id, description)
		if errors.Is(err, sql.ErrNoRows) {
			if op, err = operationIn(ctx, tx, selectOperation, id); err != nil {
				return err
			}
			return notQueued(op)
		}
		if err != nil {
			return fmt.Errorf("mark failed: %w", err)
		}
		s.notifyFinished(tx, id)
		return applyFailure(ctx, tx, f)
	})
	if err != nil {
		return Operation{}, fmt.Errorf("cancel operation %s: %w", id, err)
	}
	op.State, op.Description = OpFailed, description
	return op, nil
}

// lockSubject takes steps 1 and 2 of the lock order for a repair of op: its instance, and its
// binding when it acts on one; a refusal when either is gone.
func lockSubject(ctx context.Context, tx *sqlx.Tx, op Operation) error {
	err := lockInstance(ctx, tx, op.InstanceID, op.BindingID)
	if errors.Is(err, ErrNotFound) {
		return refused("operation %s acts on instance %s, which is gone", op.ID, op.InstanceID)
	}
	if err != nil || op.BindingID == "" {
		return err
	}
	err = lockRow(ctx, tx, lockBindingForUpdate, op.InstanceID, op.BindingID)
	if errors.Is(err, ErrNotFound) {
		return refused("operation %s acts on binding %s, which is gone", op.ID, op.BindingID)
	}
	return err
}

// standing says where an operation in state is: "is queued", "has succeeded".
func standing(state OperationState) string {
	if state == OpQueued || state == OpRunning {
		return "is " + string(state)
	}
	return "has " + string(state)
}

// notQueued is the refusal of a cancel of op, which is not queued.
func notQueued(op Operation) error {
	if op.State == OpRunning {
		return refused("operation %s is running: it is its worker's now, and cancel takes only a queued one (a running one ends by itself, or fails after its attempts)", op.ID)
	}
	return refused("operation %s %s already; cancel takes only a queued one", op.ID, standing(op.State))
}

// operationIn reads operation id in tx with query (selectOperation, or it FOR UPDATE).
func operationIn(ctx context.Context, tx *sqlx.Tx, query, id string) (Operation, error) {
	return getRow[Operation](ctx, tx, "read operation", query, id)
}

// subjectOf names what op acts on: "instance ID" or "binding ID".
func subjectOf(op Operation) string {
	if op.BindingID != "" {
		return "binding " + op.BindingID
	}
	return "instance " + op.InstanceID
}

// Retryable tells whether RetryOperation would take op as it was listed: a failed provision,
// update, deprovision, bind or unbind, the latest of its instance or binding, which is still in
// the state its failure left (unless another operation on it stands in the way meanwhile).
func (op ListedOperation) Retryable() bool {
	states, ok := retryable[op.Kind]
	return ok && op.State == OpFailed && op.Latest && op.SubjectState == states.failed
}
