package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// PurgeRequest is the Request of a purge operation: the object to remove (its kind and name,
// as the backend lists it) from node Node of backend Backend.
type PurgeRequest struct {
	Backend    string `json:"backend"`
	Node       string `json:"node"`
	ObjectKind string `json:"object_kind"`
	ObjectName string `json:"object_name"`
}

// PurgeAddress is what a purge of req's object is addressed by in place of an instance id:
// "purge:<backend>/<node>/<object kind>/<object name>".
func PurgeAddress(req PurgeRequest) string {
	return "purge:" + req.Backend + "/" + req.Node + "/" + req.ObjectKind + "/" + req.ObjectName
}

// NewPurge is a purge operation of req's object, with maxAttempts attempts, addressed by
// PurgeAddress.
func NewPurge(req PurgeRequest, maxAttempts int) (Operation, error) {
	request, err := json.Marshal(req)
	if err != nil {
		return Operation{}, fmt.Errorf("encode purge request: %w", err)
	}
	return NewOperation(OpPurge, PurgeAddress(req), "", maxAttempts, request, nil), nil
}

// EnqueuePurge queues op, made by NewPurge, and tells the workers on commit. ErrBusy when a
// purge of the same object is queued or running.
func (s *Store) EnqueuePurge(ctx context.Context, op Operation) error {
	if err := checkOperation(op, OpPurge); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error { return s.enqueue(ctx, tx, op, op.InstanceID, "") })
	if err != nil {
		return fmt.Errorf("queue purge %s: %w", op.InstanceID, err)
	}
	return nil
}

const selectOwners = `
SELECT i.id AS instance_id, i.state AS instance_state,
    COALESCE(b.id, '') AS binding_id, COALESCE(b.state, '') AS binding_state,
    COALESCE(b.legacy_name, false) AS legacy_name
FROM instances i
LEFT JOIN bindings b ON b.instance_id = i.id
WHERE i.backend = $1
    AND i.node = $2
ORDER BY i.id, b.id`

// Owner is an instance placed on a node, or one of its bindings (BindingID not ""), whatever
// their states, as Owners lists them.
type Owner struct {
	InstanceID    string        `db:"instance_id"`
	InstanceState InstanceState `db:"instance_state"`
	BindingID     string        `db:"binding_id"`
	BindingState  BindingState  `db:"binding_state"`
	LegacyName    bool          `db:"legacy_name"`
}

// Owners lists every instance row placed on node of backend, one row per binding (or one with
// no binding for an instance without any), whatever their states: any of them may own objects
// on the node, one being created or deleted included.
func (s *Store) Owners(ctx context.Context, backend, node string) ([]Owner, error) {
	var owners []Owner
	if err := s.db.SelectContext(ctx, &owners, selectOwners, backend, node); err != nil {
		return nil, fmt.Errorf("list the instances on node %s of backend %s: %w", node, backend, err)
	}
	return owners, nil
}
