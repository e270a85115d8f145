package store

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
)

// NewOperation is a queued operation of kind with a fresh id, on instanceID and bindingID (""
// for an instance operation), to be tried at most maxAttempts times, with its request and
// platform context (JSON objects). The caller inserts it with the write it belongs to.
func NewOperation(kind OperationKind, instanceID, bindingID string, maxAttempts int, request, platformContext json.RawMessage) Operation {
	return Operation{
		ID:          uuid.NewString(),
		Kind:        kind,
		InstanceID:  instanceID,
		BindingID:   bindingID,
		State:       OpQueued,
		MaxAttempts: maxAttempts,
		Request:     request,
		Context:     platformContext,
	}
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
	return getRow[Operation](ctx, s.stmts.on(nil), "get operation "+id, selectOperation, id)
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
	query, args := selectLatestInstanceOperation, []any{instanceID}
	if bindingID != "" {
		query, args = selectLatestBindingOperation, []any{instanceID, bindingID}
	}
	return getRow[Operation](ctx, s.stmts.on(nil), "latest operation of instance "+instanceID, query, args...)
}
