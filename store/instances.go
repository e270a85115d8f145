package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

const insertInstance = `
INSERT INTO instances (
    id, service_id, plan_id, organization_guid, space_guid, parameters, context, backend, node, state,
    maintenance_version
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10, NULLIF($11, ''))`

// insertQueuedInstance is insertInstance and insertOperation (its values from $12 on, as
// operationValues gives them) in one statement, so in one round trip with its commit: the
// operation's insert reads the instance's, so the instance row comes first, in the lock order.
const insertQueuedInstance = `
WITH inserted AS (` + insertInstance + `
    RETURNING id
)
INSERT INTO operations (
    id, kind, instance_id, binding_id, state, description, attempt, max_attempts, run_after,
    request, originating_identity, context
)
SELECT $12, $13, $14, NULLIF($15, ''), 'queued', $16, 0, $17, COALESCE($18, now()), $19, $20, $21
FROM inserted`

// CreateInstance inserts inst (whose State is InstanceProvisioning) and its provision
// operation op in one transaction and notifies the workers. It returns ErrConflict when an
// instance with that id exists; nothing is written then.
func (s *Store) CreateInstance(ctx context.Context, inst Instance, op Operation) error {
	_, err := s.CreatePlacedInstance(ctx, inst, op, nil)
	return err
}

// CreatePlacedInstance is CreateInstance that also places the new instance on a node of its
// backend in the same transaction, as AssignNode would (choose gets the instances per node
// while the backend's placement lock is held), so that the worker that provisions it finds it
// placed. It returns the node ("" for none). When the placement lock is held by another
// transaction, or choose refuses, the instance is inserted unplaced, and AssignNode places it
// when the worker runs it: the request never waits for the lock. A nil choose, or an inst with
// a Node, places nothing.
func (s *Store) CreatePlacedInstance(ctx context.Context, inst Instance, op Operation, choose Choose) (string, error) {
	if err := checkOperation(op, OpProvision); err != nil {
		return "", fmt.Errorf("create instance %s: %w", inst.ID, err)
	}
	state := inst.State
	if state == "" {
		state = InstanceProvisioning
	}
	if choose == nil && inst.Node == "" && op.ClaimedBy == nil {
		return "", s.createQueuedInstance(ctx, inst, state, op)
	}
	var node string
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		node = inst.Node
		if node == "" && choose != nil {
			var err error
			// The placement lock comes before the instance row (see locks.go).
			if node, err = placeNew(ctx, tx, inst.Backend, choose); err != nil {
				return err
			}
		}
		_, err := s.stmts.on(tx).ExecContext(ctx, insertInstance,
			inst.ID, inst.ServiceID, inst.PlanID, inst.OrganizationGUID, inst.SpaceGUID,
			jsonText(inst.Parameters, "{}"), jsonText(inst.Context, "{}"), inst.Backend, node, state,
			inst.MaintenanceVersion,
		)
		if err != nil {
			return fmt.Errorf("insert instance: %w", violation(err))
		}
		return s.enqueue(ctx, tx, op, inst.ID, "")
	})
	if err != nil {
		return "", fmt.Errorf("create instance %s: %w", inst.ID, err)
	}
	return node, nil
}

// createQueuedInstance is CreatePlacedInstance of an instance it does not place, with an
// operation it queues unclaimed: one statement (insertQueuedInstance).
func (s *Store) createQueuedInstance(ctx context.Context, inst Instance, state InstanceState, op Operation) error {
	opValues, err := operationValues(op, inst.ID, "")
	if err != nil {
		return fmt.Errorf("create instance %s: %w", inst.ID, err)
	}
	args := append([]any{
		inst.ID, inst.ServiceID, inst.PlanID, inst.OrganizationGUID, inst.SpaceGUID,
		jsonText(inst.Parameters, "{}"), jsonText(inst.Context, "{}"), inst.Backend, "", state,
		inst.MaintenanceVersion,
	}, opValues...)
	err = retryConflicts(ctx, func() error {
		_, err := s.stmts.on(nil).ExecContext(ctx, insertQueuedInstance, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("create instance %s: %w", inst.ID, violation(err))
	}
	s.wake.committed(true, "", Outcome{})
	return nil
}

const setInstanceState = `
UPDATE instances
SET state = $2, updated_at = now()
WHERE id = $1`

// startInstance is setInstanceState for a new operation on the instance, which also tells
// whether another operation of the instance is active.
var startInstance = setInstanceState + `
RETURNING ` + busy("$1", "''")

// StartInstanceOperation, in one transaction, inserts op (update, deprovision, or a new
// provision of a failed instance) for an existing instance, sets the instance's state to
// state, and notifies the workers. ErrNotFound when the instance is gone; ErrBusy when
// another operation on the instance or on any of its bindings is queued or running (nothing
// is written then).
// It does not look at the instance's current state: which operation may follow which state
// (after delete_failed, only a deprovision) is the caller's rule.
// The operation is recorded against instanceID whatever op.InstanceID says.
func (s *Store) StartInstanceOperation(ctx context.Context, instanceID string, state InstanceState, op Operation) error {
	if err := checkOperation(op, OpUpdate, OpDeprovision, OpProvision); err != nil {
		return fmt.Errorf("start operation on instance %s: %w", instanceID, err)
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Under the instance's lock (see locks.go), a concurrent start waits here and then
		// finds this operation active.
		if err := lockInstanceFor(ctx, s.stmts.on(tx), instanceID, "", op); err != nil {
			return err
		}
		var active bool
		if err := sqlx.GetContext(ctx, s.stmts.on(tx), &active, startInstance, instanceID, state); err != nil {
			return fmt.Errorf("set instance state: %w", err)
		}
		if err := idle(active); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, op, instanceID, "")
	})
	if err != nil {
		return fmt.Errorf("start %s operation on instance %s: %w", op.Kind, instanceID, err)
	}
	return nil
}

const selectInstance = `
SELECT id, service_id, plan_id, organization_guid, space_guid, parameters, context, backend,
    COALESCE(node, '') AS node, state, COALESCE(maintenance_version, '') AS maintenance_version,
    created_at, updated_at
FROM instances
WHERE id = $1`

// GetInstance returns the instance row; ErrNotFound when there is none.
func (s *Store) GetInstance(ctx context.Context, id string) (Instance, error) {
	return getRow[Instance](ctx, s.stmts.on(nil), "get instance "+id, selectInstance, id)
}
