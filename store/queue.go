package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

const insertOperation = `
INSERT INTO operations (
    id, kind, instance_id, binding_id, state, description, attempt, max_attempts, run_after,
    request, originating_identity, context
)
VALUES (
    $1, $2, $3, NULLIF($4, ''), 'queued', $5, 0, $6, COALESCE($7, now()),
    $8, $9, $10
)`

// insertClaimedOperation is insertOperation for an operation claimed as it is queued
// (ClaimedBy: $11 the lease owner, $12 the lease, $13 the tie), which wakes no one.
const insertClaimedOperation = `
INSERT INTO operations (
    id, kind, instance_id, binding_id, state, description, attempt, max_attempts, run_after,
    request, originating_identity, context, lease_owner, lease_expires_at, tie, claimed_at
)
VALUES (
    $1, $2, $3, NULLIF($4, ''), 'running', $5, 1, $6, COALESCE($7, now()),
    $8, $9, $10, $11, now() + $12::interval, $13, now()
)`

// ClaimedBy is a worker that takes an operation as it is queued: a request that finds a worker
// of its replica idle hands it the operation it queues (Operation.ClaimedBy), which the
// enqueue's transaction then inserts running, leased to the worker and tied to its session
// (Session.Claimant), as Session.Claim would have claimed it, without waking anyone. The
// worker runs it as soon as the transaction has committed.
type ClaimedBy struct {
	Owner string        // the worker's lease owner
	Lease time.Duration // the lease, on the database clock from the insert
	Tie   int64         // the worker's session's tie
	// Instance is set by the enqueue of an operation on an existing instance: the instance
	// row as its transaction locked it, which stands so while the operation runs (no other
	// operation that could change it may run beside it), for the worker.
	Instance *Instance
}

// Claimed is op as enqueue inserts it claimed by c: running, at attempt 1, leased to c.
func (c ClaimedBy) Claimed(op Operation) Operation {
	op.State, op.Attempt, op.LeaseOwner, op.ClaimedBy = OpRunning, 1, c.Owner, nil
	return op
}

// enqueue inserts op as queued for instanceID (and bindingID), and tells the workers once tx
// commits (notifyQueued); or, when op.ClaimedBy names a worker, inserts it claimed by that worker
// and tells no one. The operation's own State, Attempt and lease fields are ignored: an
// enqueued operation is queued at attempt 0, unleased, or running at attempt 1. Its MaxAttempts
// is the caller's, which checkOperation has seen to be at least 1: the store has no default of
// its own.
func (s *Store) enqueue(ctx context.Context, tx *sqlx.Tx, op Operation, instanceID, bindingID string) error {
	args, err := operationValues(op, instanceID, bindingID)
	if err != nil {
		return err
	}
	query := insertOperation
	if c := op.ClaimedBy; c != nil {
		query, args = insertClaimedOperation, append(args, c.Owner, interval(c.Lease), c.Tie)
	}
	if _, err := s.stmts.on(tx).ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("insert operation %s: %w", op.ID, violation(err))
	}
	if op.ClaimedBy == nil {
		s.notifyQueued(tx)
	}
	return nil
}

// operationValues are insertOperation's first ten values, those of op for instanceID and
// bindingID; an operation without an id is refused.
func operationValues(op Operation, instanceID, bindingID string) ([]any, error) {
	if op.ID == "" {
		return nil, errors.New("operation has no id")
	}
	var runAfter *time.Time
	if !op.RunAfter.IsZero() {
		runAfter = &op.RunAfter
	}
	return []any{
		op.ID, op.Kind, instanceID, bindingID, op.Description, op.MaxAttempts, runAfter,
		jsonText(op.Request, "{}"), jsonOrNull(op.OriginatingIdentity), jsonText(op.Context, "{}"),
	}, nil
}

// notifyQueued tells the workers, once tx commits, that an operation is queued: those of this
// process directly, those of other replicas by NOTIFY (announcer).
func (s *Store) notifyQueued(tx *sqlx.Tx) {
	s.wake.onCommit(tx, true, "")
}

// notifyFinished tells the requests waiting for operation opID (Watch), once tx commits, that
// it finished: those of this process directly, those of other replicas by NOTIFY (announcer).
func (s *Store) notifyFinished(tx *sqlx.Tx, opID string) {
	s.wake.onCommit(tx, false, opID)
}

// checkOperation refuses, before anything is written, an operation of a kind other than
// allowed, or one that may not run even once.
func checkOperation(op Operation, allowed ...OperationKind) error {
	if !slices.Contains(allowed, op.Kind) {
		return fmt.Errorf("operation kind %q is not one of %q", op.Kind, allowed)
	}
	if op.MaxAttempts < 1 {
		return fmt.Errorf("operation %s has MaxAttempts %d; it must be at least 1", op.ID, op.MaxAttempts)
	}
	return nil
}

// claimOperation also returns what a worker needs of the claimed operation's instance, read
// in the same round trip (empty when there is none, as for a purge).
const claimOperation = `
WITH claimed AS (
UPDATE operations
SET state = 'running', attempt = attempt + 1, lease_owner = $1,
    lease_expires_at = now() + $2::interval, tie = $3, claimed_at = now(), updated_at = now()
WHERE id = (
    SELECT id
    FROM operations
    WHERE state = 'queued'
        AND run_after <= now()
        AND kind = ANY($4)
    ORDER BY created_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING ` + operationColumns + `
)
SELECT claimed.*, ` + joinedInstance + `
FROM claimed
LEFT JOIN instances i ON i.id = claimed.instance_id`

// joinedInstance are the columns of instance i, joined to another row, as the Instance of a
// struct field tagged db:"instance" (empty when there is none, for a LEFT JOIN); its
// timestamps are left out.
const joinedInstance = `COALESCE(i.id, '') AS "instance.id", COALESCE(i.service_id, '') AS "instance.service_id",
    COALESCE(i.plan_id, '') AS "instance.plan_id", COALESCE(i.organization_guid, '') AS "instance.organization_guid",
    COALESCE(i.space_guid, '') AS "instance.space_guid", COALESCE(i.parameters, '{}') AS "instance.parameters",
    COALESCE(i.context, '{}') AS "instance.context", COALESCE(i.backend, '') AS "instance.backend",
    COALESCE(i.node, '') AS "instance.node", COALESCE(i.state, '') AS "instance.state",
    COALESCE(i.maintenance_version, '') AS "instance.maintenance_version"`

// claimed is a claimed operation, as claimOperation returns it.
type claimed struct {
	Operation
	Instance Instance `db:"instance"`
}

// Claim takes the oldest queued operation whose run_after has come and whose kind this binary
// knows, with FOR UPDATE SKIP LOCKED: it sets state running, increments attempt, and sets the
// lease to owner until now()+lease on the database clock. ErrNothingToClaim when nothing is
// claimable. An operation of a kind from a newer release waits for a replica of that release.
// owner must name one worker: fencing tells workers apart by it. The attempt is tied to no
// session, so only its lease frees it if its worker dies; Session.Claim ties it.
func (s *Store) Claim(ctx context.Context, owner string, lease time.Duration) (Operation, error) {
	op, _, err := claim(ctx, s.db, owner, lease, nil, s.kinds)
	return op, err
}

// claim runs claimOperation on q for an operation of one of kinds, recording tie (nil for
// none) on the claimed attempt. It returns the operation's instance as the claim read it, nil
// when it has none.
func claim(ctx context.Context, q sqlx.QueryerContext, owner string, lease time.Duration, tie *int64, kinds pq.StringArray) (Operation, *Instance, error) {
	if owner == "" {
		return Operation{}, nil, errors.New("claim operation: empty lease owner")
	}
	var c claimed
	err := sqlx.GetContext(ctx, q, &c, claimOperation, owner, interval(lease), tie, kinds)
	if errors.Is(err, sql.ErrNoRows) {
		return Operation{}, nil, ErrNothingToClaim
	}
	if err != nil {
		return Operation{}, nil, fmt.Errorf("claim operation: %w", err)
	}
	if c.Instance.ID == "" {
		return c.Operation, nil, nil
	}
	return c.Operation, &c.Instance, nil
}

// fence is the WHERE clause of every write a worker makes to the operation it holds
// (RenewLease, Succeed, Fail, Retry, Release): it matches only while (id, attempt, lease
// owner, state = running) are still this worker's. Its parameters are named, so a statement
// that appends it names its own parameters beside them and never counts past the fence's.
const fence = `
WHERE id = :id
    AND attempt = :attempt
    AND lease_owner = :lease_owner
    AND state = 'running'`

// fenced holds the named parameters of a fenced statement: the fence's own, from the operation
// the worker holds (fenceOf), and those of the values the statement writes. sqlx reads "::"
// in a named statement as an escaped ':', so fenced statements cast with CAST(… AS …).
type fenced struct {
	ID         string `db:"id"`
	Attempt    int    `db:"attempt"`
	LeaseOwner string `db:"lease_owner"`

	State       OperationState `db:"state"`
	Description string         `db:"description"`
	Lease       string         `db:"lease"` // an interval
	Delay       string         `db:"delay"` // an interval
}

// fenceOf returns the fence's parameters for op, the operation as the worker claimed it.
func fenceOf(op Operation) fenced {
	return fenced{ID: op.ID, Attempt: op.Attempt, LeaseOwner: op.LeaseOwner}
}

// execFenced runs a fenced statement that returns no rows; ErrLeaseLost when the fence
// matched none.
func execFenced(ctx context.Context, e sqlx.ExtContext, query string, args fenced) error {
	res, err := sqlx.NamedExecContext(ctx, e, query, args)
	if err != nil {
		return err
	}
	return oneRow(res, ErrLeaseLost)
}

const renewLease = `
UPDATE operations
SET lease_expires_at = now() + CAST(:lease AS interval), updated_at = now()` + fence

// RenewLease extends op's lease to now()+lease, fenced on (id, attempt, owner, running);
// ErrLeaseLost when the fence does not match.
func (s *Store) RenewLease(ctx context.Context, op Operation, lease time.Duration) error {
	args := fenceOf(op)
	args.Lease = interval(lease)
	if err := execFenced(ctx, s.db, renewLease, args); err != nil {
		return fmt.Errorf("renew lease of operation %s: %w", op.ID, err)
	}
	return nil
}
