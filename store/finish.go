package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

const finishOperation = `
UPDATE operations
SET state = :state, description = :description, lease_expires_at = NULL, finished_at = now(),
    updated_at = now()` + fence + `
RETURNING kind, instance_id, COALESCE(binding_id, '') AS binding_id, request,
    pg_notify(:channel, id) IS NULL AS notified`

// finished is what a completion reads back from the fenced row: the database's word on what
// the operation acts on, not the caller's copy.
type finished struct {
	Kind       OperationKind   `db:"kind"`
	InstanceID string          `db:"instance_id"`
	BindingID  string          `db:"binding_id"`
	Request    json.RawMessage `db:"request"`
	// Notified is finishOperation's NOTIFY of the completion, sent in the same round trip.
	Notified bool `db:"notified"`
}

// finish marks op state with description, fenced, and returns the row it matched. It first
// locks what op acts on, in the lock order (see locks.go), before it touches the operation row.
// The requests waiting for op are told on commit: on other replicas by NOTIFY, in this process
// directly.
func (s *Store) finish(ctx context.Context, tx *sqlx.Tx, op Operation, state OperationState, description string) (finished, error) {
	if err := lockTargets(ctx, tx, op); err != nil {
		return finished{}, fmt.Errorf("mark %s: %w", state, err)
	}
	args := fenceOf(op)
	args.State, args.Description, args.Channel = state, description, FinishedChannel
	query, params, err := tx.BindNamed(finishOperation, args)
	if err != nil {
		return finished{}, fmt.Errorf("mark %s: %w", state, err)
	}
	var f finished
	err = tx.GetContext(ctx, &f, query, params...)
	if errors.Is(err, sql.ErrNoRows) {
		return finished{}, ErrLeaseLost
	}
	if err != nil {
		return finished{}, fmt.Errorf("mark %s: %w", state, err)
	}
	s.wake.onCommit(tx, false, op.ID)
	return f, nil
}

const applyUpdate = `
UPDATE instances
SET plan_id = COALESCE(NULLIF($2, ''), plan_id), parameters = COALESCE($3::jsonb, parameters),
    maintenance_version = NULLIF($4, ''), state = 'ready', updated_at = now()
WHERE id = $1`

const deleteInstance = `
DELETE FROM instances
WHERE id = $1`

// setBindingCredentials also starts the binding's lifetime, when its bind has one ($4, $5:
// intervals or NULL, which leaves expires_at and renew_before NULL).
const setBindingCredentials = `
UPDATE bindings
SET credentials = $2, credentials_key_id = $3, state = 'bound',
    expires_at = now() + $4::interval, renew_before = now() + $5::interval, updated_at = now()
WHERE id = $1`

const expireBinding = `
UPDATE bindings
SET state = 'expired', updated_at = now()
WHERE id = $1
    AND state = 'bound'`

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
// transaction: provision → instance ready; update → instance takes the UpdateRequest's plan,
// parameters and maintenance version, ready; deprovision → the instance and its bindings are deleted; bind →
// credentials sealed onto the binding, bound, its lifetime started when its BindRequest has
// one; unbind → the binding is deleted; restore → credentials sealed again onto the binding,
// which stays bound (nil credentials, from a restore that found nothing to do, leave the
// stored ones); expire → the bound binding becomes expired.
// An UpdateRequest with an empty PlanID or absent Parameters keeps the instance's current
// ones; its MaintenanceVersion is recorded as it is, "" as none. The operation's description
// is cleared.
func (s *Store) Succeed(ctx context.Context, op Operation, credentials json.RawMessage) error {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		f, err := s.finish(ctx, tx, op, OpSucceeded, "")
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
			_, err = tx.ExecContext(ctx, applyUpdate, f.InstanceID, req.PlanID, jsonOrNull(req.Parameters), req.MaintenanceVersion)
		case OpDeprovision:
			_, err = tx.ExecContext(ctx, deleteInstance, f.InstanceID)
		case OpBind, OpRestore:
			if f.Kind == OpRestore && len(credentials) == 0 {
				break
			}
			keys, keyErr := s.keyring()
			if keyErr != nil {
				return keyErr
			}
			sealed, keyID, sealErr := keys.seal([]byte(jsonText(credentials, "{}")), credentialsAD(f.BindingID))
			if sealErr != nil {
				return sealErr
			}
			if f.Kind == OpRestore {
				_, err = tx.ExecContext(ctx, restoreBindingCredentials, f.BindingID, sealed, keyID)
				break
			}
			lifetime, renewAfter, reqErr := lifetimeOf(f.Request)
			if reqErr != nil {
				return reqErr
			}
			_, err = tx.ExecContext(ctx, setBindingCredentials, f.BindingID, sealed, keyID, lifetime, renewAfter)
		case OpExpire:
			_, err = tx.ExecContext(ctx, expireBinding, f.BindingID)
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

// applyFailure records on the instance or binding that f failed. A failed restore or expire
// changes nothing: the binding stays bound, and the next sweep tries again.
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
// no longer work); restore and expire → binding still bound.
func (s *Store) Fail(ctx context.Context, op Operation, description string) error {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		f, err := s.finish(ctx, tx, op, OpFailed, description)
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
		return s.notifyQueued(ctx, tx, op.ID)
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
