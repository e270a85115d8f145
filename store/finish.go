package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// completeOperation is a completion in one statement, so in one round trip and one commit: it
// takes the locks in the lock order (see locks.go), the instance row and the binding row
// first, through the uncorrelated subqueries of the fence's extra condition, which PostgreSQL
// evaluates before it locks the operation row it updates; then marks the operation, fenced;
// then, only when the fence matched, applies the outcome (%s: one of the outcomes below,
// which holds the named parameters of its values). A row that is gone is no error: the outcome
// then changes nothing.
const completeOperation = `
WITH locked_instance AS (
    SELECT id FROM instances WHERE id = :instance_id FOR %s
), locked_binding AS (
    SELECT id FROM bindings WHERE instance_id = :instance_id AND id = :binding_id FOR UPDATE
), finished AS (
    UPDATE operations
    SET state = :state, description = :description, lease_expires_at = NULL, finished_at = now(),
        updated_at = now()` + fence + `
        AND (SELECT count(*) FROM locked_instance) + (SELECT count(*) FROM locked_binding) >= 0
    RETURNING id
)%s
SELECT count(*) FROM finished`

// appliedOutcome is completeOperation's step that applies the outcome statement (%s) once the
// fence has matched.
const appliedOutcome = `, applied AS (%s
        AND EXISTS (SELECT 1 FROM finished)
    RETURNING 1
)`

// The outcomes, each a statement on the row :instance_id or :binding_id names, which
// completeOperation runs when the fence matched and applyFailure runs as it is.
const (
	// setInstanceStateTo sets the instance's state to :instance_state.
	setInstanceStateTo = `
    UPDATE instances
    SET state = :instance_state, updated_at = now()
    WHERE id = :instance_id`

	applyUpdate = `
    UPDATE instances
    SET plan_id = COALESCE(NULLIF(:plan_id, ''), plan_id),
        parameters = COALESCE(CAST(:parameters AS jsonb), parameters),
        maintenance_version = NULLIF(:maintenance_version, ''), state = 'ready', updated_at = now()
    WHERE id = :instance_id`

	deleteInstance = `
    DELETE FROM instances
    WHERE id = :instance_id`

	// setBindingCredentials also starts the binding's lifetime, when its bind has one (:lifetime
	// and :renew_after: intervals, or NULL, which leaves expires_at and renew_before NULL).
	setBindingCredentials = `
    UPDATE bindings
    SET credentials = :credentials, credentials_key_id = :credentials_key_id, state = 'bound',
        expires_at = now() + CAST(:lifetime AS interval),
        renew_before = now() + CAST(:renew_after AS interval), updated_at = now()
    WHERE id = :binding_id`

	restoreBindingCredentials = `
    UPDATE bindings
    SET credentials = :credentials, credentials_key_id = :credentials_key_id, updated_at = now()
    WHERE id = :binding_id
        AND state = 'bound'`

	expireBinding = `
    UPDATE bindings
    SET state = 'expired', updated_at = now()
    WHERE id = :binding_id
        AND state = 'bound'`

	setBindingFailed = `
    UPDATE bindings
    SET state = 'failed', updated_at = now()
    WHERE id = :binding_id`

	deleteBinding = `
    DELETE FROM bindings
    WHERE id = :binding_id`

	// noOutcome is the outcome of a completion that changes no instance or binding.
	noOutcome = ""
)

// finished is what a completion that is not a worker's (the rescuer giving up, a cancel) reads
// back from the operation row it marks: what the operation acts on, for applyFailure.
type finished struct {
	Kind       OperationKind   `db:"kind"`
	InstanceID string          `db:"instance_id"`
	BindingID  string          `db:"binding_id"`
	Request    json.RawMessage `db:"request"`
}

// outcome holds the named parameters of a completion: the fence's, and those of its outcome.
type outcome struct {
	fenced
	InstanceID         string        `db:"instance_id"`
	BindingID          string        `db:"binding_id"`
	PlanID             string        `db:"plan_id"`
	Parameters         *string       `db:"parameters"` // jsonb, NULL to keep the instance's
	MaintenanceVersion string        `db:"maintenance_version"`
	InstanceState      InstanceState `db:"instance_state"`
	Credentials        []byte        `db:"credentials"`
	CredentialsKeyID   string        `db:"credentials_key_id"`
	Lifetime           *string       `db:"lifetime"`    // an interval, NULL for none
	RenewAfter         *string       `db:"renew_after"` // an interval, NULL for none
}

// complete marks op state with description, fenced, and applies apply, the outcome statement
// whose values args holds, in one statement (completeOperation); ErrLeaseLost when the fence
// matched none. The requests waiting for op are told: in this process directly, on other
// replicas by NOTIFY, just after the commit (announcer). op is the operation as its worker
// claimed it: its kind, instance, binding and request are those of its row, which never change.
func (s *Store) complete(ctx context.Context, op Operation, ended Outcome, apply string, args outcome) error {
	state, description := ended.State, ended.Description
	args.fenced = fenceOf(op)
	args.State, args.Description = state, description
	args.InstanceID, args.BindingID = op.InstanceID, op.BindingID
	instanceLock := "UPDATE"
	if op.BindingID != "" {
		instanceLock = "SHARE"
	}
	if apply != noOutcome {
		apply = fmt.Sprintf(appliedOutcome, apply)
	}
	query := fmt.Sprintf(completeOperation, instanceLock, apply)
	var matched int
	err := retryConflicts(ctx, func() error {
		named, params, err := s.db.BindNamed(query, args)
		if err != nil {
			return err
		}
		return sqlx.GetContext(ctx, s.stmts.on(nil), &matched, named, params...)
	})
	if err != nil {
		return fmt.Errorf("mark %s: %w", state, err)
	}
	if matched == 0 {
		return ErrLeaseLost
	}
	s.wake.committed(false, op.ID, ended)
	return nil
}

// Succeed, fenced like RenewLease, marks op succeeded and applies its outcome in the same
// statement: provision → instance ready; update → instance takes the UpdateRequest's plan,
// parameters and maintenance version, ready; deprovision → the instance and its bindings are deleted; bind →
// credentials sealed onto the binding, bound, its lifetime started when its BindRequest has
// one; unbind → the binding is deleted; restore → credentials sealed again onto the binding,
// which stays bound (nil credentials, from a restore that found nothing to do, leave the
// stored ones); expire → the bound binding becomes expired; purge → nothing.
// An UpdateRequest with an empty PlanID or absent Parameters keeps the instance's current
// ones; its MaintenanceVersion is recorded as it is, "" as none. The operation's description
// is cleared.
func (s *Store) Succeed(ctx context.Context, op Operation, credentials json.RawMessage) error {
	apply, args, err := s.success(op, credentials)
	if err == nil {
		ended := Outcome{State: OpSucceeded}
		if op.Kind == OpBind {
			ended.Credentials = credentials
		}
		err = s.complete(ctx, op, ended, apply, args)
	}
	if err != nil {
		return fmt.Errorf("succeed operation %s: %w", op.ID, err)
	}
	return nil
}

// success is the outcome statement of op's success and its values.
func (s *Store) success(op Operation, credentials json.RawMessage) (string, outcome, error) {
	var args outcome
	switch op.Kind {
	case OpProvision:
		args.InstanceState = InstanceReady
		return setInstanceStateTo, args, nil
	case OpUpdate:
		var req UpdateRequest
		if err := json.Unmarshal(op.Request, &req); err != nil {
			return "", args, fmt.Errorf("decode update request: %w", err)
		}
		args.PlanID, args.Parameters, args.MaintenanceVersion = req.PlanID, jsonOrNull(req.Parameters), req.MaintenanceVersion
		return applyUpdate, args, nil
	case OpDeprovision:
		return deleteInstance, args, nil
	case OpBind, OpRestore:
		if op.Kind == OpRestore && len(credentials) == 0 {
			return noOutcome, args, nil
		}
		keys, err := s.keyring()
		if err != nil {
			return "", args, err
		}
		args.Credentials, args.CredentialsKeyID, err = keys.seal([]byte(jsonText(credentials, "{}")), credentialsAD(op.BindingID))
		if err != nil {
			return "", args, err
		}
		if op.Kind == OpRestore {
			return restoreBindingCredentials, args, nil
		}
		args.Lifetime, args.RenewAfter, err = lifetimeOf(op.Request)
		return setBindingCredentials, args, err
	case OpExpire:
		return expireBinding, args, nil
	case OpUnbind:
		return deleteBinding, args, nil
	}
	return noOutcome, args, nil
}

// failure is the outcome statement of a failure of an operation of kind, and its values: a
// failed restore, expire or purge changes nothing (the binding stays bound, and the next sweep
// tries again).
func failure(kind OperationKind) (string, outcome) {
	var args outcome
	switch kind {
	case OpProvision:
		args.InstanceState = InstanceFailed
	case OpUpdate:
		args.InstanceState = InstanceReady
	case OpDeprovision:
		args.InstanceState = InstanceDeleteFailed
	case OpBind, OpUnbind:
		return setBindingFailed, args
	default:
		return noOutcome, args
	}
	return setInstanceStateTo, args
}

// applyFailure records on the instance or binding that f failed, in tx.
func applyFailure(ctx context.Context, tx *sqlx.Tx, f finished) error {
	apply, args := failure(f.Kind)
	if apply == noOutcome {
		return nil
	}
	args.InstanceID, args.BindingID = f.InstanceID, f.BindingID
	if _, err := tx.NamedExecContext(ctx, apply, args); err != nil {
		return fmt.Errorf("apply %s failure: %w", f.Kind, err)
	}
	return nil
}

// Fail, fenced like RenewLease, marks op failed with description and applies the failure in
// the same statement: provision → instance failed; update → instance ready, unchanged;
// deprovision → instance delete_failed, bindings kept (the backend objects may be partly
// gone, so only a DELETE may follow); bind → binding failed; unbind → binding failed, not
// bound (the unbind may already have taken the login away, so the stored credentials may
// no longer work); restore, expire and purge → nothing changes.
func (s *Store) Fail(ctx context.Context, op Operation, description string) error {
	apply, args := failure(op.Kind)
	if err := s.complete(ctx, op, Outcome{State: OpFailed, Description: description}, apply, args); err != nil {
		return fmt.Errorf("fail operation %s: %w", op.ID, err)
	}
	return nil
}

const retryOperation = `
UPDATE operations
SET state = 'queued', description = :description, run_after = now() + CAST(:delay AS interval),
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()` + fence

// Retry, fenced like RenewLease, puts op back in the queue to run after the delay, keeping
// description (what went wrong, for the person polling) and the attempt count.
func (s *Store) Retry(ctx context.Context, op Operation, after time.Duration, description string) error {
	args := fenceOf(op)
	args.Description, args.Delay = description, interval(after)
	if err := execFenced(ctx, s.db, retryOperation, args); err != nil {
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
		if err := execFenced(ctx, tx, releaseOperation, fenceOf(op)); err != nil {
			return fmt.Errorf("mark queued: %w", err)
		}
		s.notifyQueued(tx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("release operation %s: %w", op.ID, err)
	}
	return nil
}

// lifetimeOf reads a bind operation's BindRequest as the intervals setBindingCredentials
// takes: nil (NULL) for none.
func lifetimeOf(request json.RawMessage) (lifetime, renewAfter *string, err error) {
	var req BindRequest
	if len(request) > 0 {
		if err := json.Unmarshal(request, &req); err != nil {
			return nil, nil, fmt.Errorf("decode bind request: %w", err)
		}
	}
	if req.Lifetime <= 0 {
		return nil, nil, nil
	}
	l, r := interval(req.Lifetime), interval(min(req.RenewAfter, req.Lifetime))
	return &l, &r, nil
}
