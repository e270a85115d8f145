package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

var insertBinding = `
INSERT INTO bindings (
    id, instance_id, service_id, plan_id, app_guid, bind_resource, parameters, context,
    secret, secret_key_id, state
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING ` + busy("$2", "$1")

// CreateBinding inserts b (State BindingCreating, Password sealed) and its bind operation
// in one transaction and notifies the workers. ErrConflict when a binding with that id
// exists, ErrInstanceNotFound when the instance does not, ErrBusy when an operation on the
// instance itself is queued or running; operations on its other bindings do not stand in the
// way. b.Credentials is not stored: credentials arrive with Succeed.
func (s *Store) CreateBinding(ctx context.Context, b Binding, op Operation) error {
	if err := checkOperation(op, OpBind); err != nil {
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
		err := lockInstanceFor(ctx, s.stmts.on(tx), b.InstanceID, b.ID, op)
		if errors.Is(err, ErrNotFound) {
			return ErrInstanceNotFound
		}
		if err != nil {
			return err
		}
		var active bool
		err = sqlx.GetContext(ctx, s.stmts.on(tx), &active, insertBinding,
			b.ID, b.InstanceID, b.ServiceID, b.PlanID, b.AppGUID, jsonText(b.BindResource, "{}"),
			jsonText(b.Parameters, "{}"), jsonText(b.Context, "{}"), secret, keyID, state,
		)
		if err != nil {
			return fmt.Errorf("insert binding: %w", violation(err))
		}
		if err := idle(active); err != nil {
			return err
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

// startBinding is setBindingStateOf for a new operation on the binding, which also tells
// whether an operation that excludes it is active.
var startBinding = setBindingStateOf + `
RETURNING ` + busy("$1", "$2")

// touchBoundBinding matches only a bound binding of an instance that is ready or updating,
// the bindings BoundBindings lists, so that a restore never revives a binding that an unbind,
// a failure or a deprovision has moved on from since it was listed.
var touchBoundBinding = `
UPDATE bindings b
SET updated_at = now()
FROM instances i
WHERE b.instance_id = $1
    AND b.id = $2
    AND b.state = 'bound'
    AND i.id = b.instance_id
    AND i.state IN ('ready', 'updating')
RETURNING ` + busy("$1", "$2")

// StartBindingOperation, in one transaction, inserts op (unbind, a new bind of a failed
// binding, a restore or an expire) for an existing binding, sets the binding's state, and
// notifies the workers. ErrNotFound when the binding is gone, ErrBusy when an operation on the
// instance itself or on this binding is queued or running (not one on another binding). A new
// bind or a restore reuses the sealed password. A restore or an expire keeps the binding bound
// while it is queued and runs: state must be BindingBound, and ErrNotBound when the binding is
// no longer bound or its instance no longer ready or updating.
func (s *Store) StartBindingOperation(ctx context.Context, instanceID, bindingID string, state BindingState, op Operation) error {
	if err := checkOperation(op, OpUnbind, OpBind, OpRestore, OpExpire); err != nil {
		return fmt.Errorf("start operation on binding %s: %w", bindingID, err)
	}
	keepsBound := op.Kind == OpRestore || op.Kind == OpExpire
	if keepsBound && state != BindingBound {
		return fmt.Errorf("start %s operation on binding %s: the binding stays %s, not %s", op.Kind, bindingID, BindingBound, state)
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := lockInstanceFor(ctx, s.stmts.on(tx), instanceID, bindingID, op); err != nil {
			return err
		}
		var active bool
		var err error
		if keepsBound {
			err = sqlx.GetContext(ctx, s.stmts.on(tx), &active, touchBoundBinding, instanceID, bindingID)
		} else {
			err = sqlx.GetContext(ctx, s.stmts.on(tx), &active, startBinding, instanceID, bindingID, state)
		}
		switch {
		case errors.Is(err, sql.ErrNoRows) && keepsBound:
			return whyNotBound(ctx, tx, instanceID, bindingID)
		case errors.Is(err, sql.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return fmt.Errorf("set binding state: %w", err)
		}
		if err := idle(active); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, op, instanceID, bindingID)
	})
	if err != nil {
		return fmt.Errorf("start %s operation on binding %s: %w", op.Kind, bindingID, err)
	}
	return nil
}

const bindingExists = `
SELECT EXISTS (
    SELECT 1
    FROM bindings
    WHERE instance_id = $1
        AND id = $2
)`

// whyNotBound tells apart why a restore matched no binding: ErrNotFound when the binding is
// gone, ErrNotBound when it is there but no longer one BoundBindings would list.
func whyNotBound(ctx context.Context, tx *sqlx.Tx, instanceID, bindingID string) error {
	var exists bool
	if err := tx.GetContext(ctx, &exists, bindingExists, instanceID, bindingID); err != nil {
		return fmt.Errorf("look for binding: %w", err)
	}
	if !exists {
		return ErrNotFound
	}
	return ErrNotBound
}

// bindingExpiry are a binding's expiry columns, Expired read on the database's clock.
const bindingExpiry = `expires_at, renew_before, COALESCE(expires_at <= now(), false) AS expired`

const selectBinding = `
SELECT id, instance_id, service_id, plan_id, app_guid, bind_resource, parameters, context, state,
    created_at, updated_at, legacy_name, ` + bindingExpiry + `, secret, secret_key_id, credentials,
    COALESCE(credentials_key_id, '') AS credentials_key_id
FROM bindings
WHERE instance_id = $1
    AND id = $2`

const selectBindingAttributes = `
SELECT id, instance_id, service_id, plan_id, app_guid, bind_resource, parameters, context, state,
    created_at, updated_at, ` + bindingExpiry + `
FROM bindings
WHERE id = $1`

// LookupBinding returns the binding row with that id, of whichever instance, without its
// secrets (Password and Credentials stay empty); ErrNotFound when there is none. Binding ids
// are unique across instances.
func (s *Store) LookupBinding(ctx context.Context, bindingID string) (Binding, error) {
	return getRow[Binding](ctx, s.stmts.on(nil), "look up binding "+bindingID, selectBindingAttributes, bindingID)
}

// GetBinding returns the binding row of that instance with its secrets unsealed;
// ErrNotFound when there is none.
func (s *Store) GetBinding(ctx context.Context, instanceID, bindingID string) (Binding, error) {
	row, err := getRow[sealedRow](ctx, s.stmts.on(nil), "get binding "+bindingID, selectBinding, instanceID, bindingID)
	if err != nil {
		return Binding{}, err
	}
	return s.unsealed(row)
}

// selectBindingWithInstance is selectBinding with its instance, in one round trip.
const selectBindingWithInstance = `
SELECT b.*, ` + joinedInstance + `
FROM (` + selectBinding + `) b
JOIN instances i ON i.id = b.instance_id`

// GetBindingWithInstance is GetBinding that also returns the binding's instance, read in the
// same round trip (without its timestamps).
func (s *Store) GetBindingWithInstance(ctx context.Context, instanceID, bindingID string) (Binding, Instance, error) {
	row, err := getRow[struct {
		sealedRow
		Instance Instance `db:"instance"`
	}](ctx, s.stmts.on(nil), "get binding "+bindingID, selectBindingWithInstance, instanceID, bindingID)
	if err != nil {
		return Binding{}, Instance{}, err
	}
	b, err := s.unsealed(row.sealedRow)
	return b, row.Instance, err
}

// sealedRow is a binding row as selectBinding reads it, its secrets sealed.
type sealedRow struct {
	Binding
	sealedBinding
}

// unsealed is row with its password and credentials opened.
func (s *Store) unsealed(row sealedRow) (Binding, error) {
	bindingID := row.ID
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

const selectBoundBindingIDs = `
SELECT id
FROM bindings
WHERE instance_id = $1
    AND state = 'bound'
ORDER BY id`

// InstanceBindings returns the bound bindings of an instance with their secrets unsealed, the
// ones whose logins an update brings to the instance's plan. Bindings being created or
// deleted, and failed ones, are left out: their own operations deal with them.
func (s *Store) InstanceBindings(ctx context.Context, instanceID string) ([]Binding, error) {
	var ids []string
	if err := s.db.SelectContext(ctx, &ids, selectBoundBindingIDs, instanceID); err != nil {
		return nil, fmt.Errorf("list bindings of instance %s: %w", instanceID, err)
	}
	out := make([]Binding, 0, len(ids))
	for _, id := range ids {
		b, err := s.GetBinding(ctx, instanceID, id)
		if errors.Is(err, ErrNotFound) {
			continue // unbound since the list was read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

const selectBindingNames = `
SELECT id, legacy_name
FROM bindings
WHERE instance_id = $1
ORDER BY id`

// BindingName is what names a binding's login on a backend: its id, and whether it was
// recorded before migration 5 (see Binding.LegacyName).
type BindingName struct {
	ID         string `db:"id"`
	LegacyName bool   `db:"legacy_name"`
}

// BindingNames lists every binding row of the instance, whatever its state: bound, failed, or
// one whose bind or unbind is queued or running, or was cut short. Deprovision removes exactly
// their logins. It reads no secret.
func (s *Store) BindingNames(ctx context.Context, instanceID string) ([]BindingName, error) {
	names := []BindingName{}
	if err := s.db.SelectContext(ctx, &names, selectBindingNames, instanceID); err != nil {
		return nil, fmt.Errorf("list the bindings of instance %s: %w", instanceID, err)
	}
	return names, nil
}
