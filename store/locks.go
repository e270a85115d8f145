package store

// The lock order. Every transaction that touches an instance, its bindings or their
// operations takes its locks in this one order, and never back:
//
//  0. the placement advisory lock of a backend, which only placement takes (CreatePlacedInstance
//     before it inserts the instance row, and only if it is free at once; AssignNode before it
//     locks it), so that no row is held while a placement elsewhere is counted;
//  1. the instance row: FOR UPDATE where the transaction acts on the instance itself
//     (provision, update, deprovision and their completion), FOR SHARE where it acts on one
//     of its bindings, so that operations on different bindings of one instance never wait
//     for each other, while one on the instance waits for them all and they for it;
//  2. the binding row: FOR UPDATE, or the INSERT, UPDATE or DELETE that writes it;
//  3. the operations rows: the insert of a new one, behind the unique indexes, or the fenced
//     update of the one a worker holds.
//
// The count of instances per node (node_instances, migration 12) is written by triggers on
// instances, so its row of a node is locked right after the instance row that is inserted,
// deleted or moved, whatever step the transaction is at; its holder then waits for no lock of
// another transaction's: a placement goes on to insert the operation of the instance it has
// just created, which no one else can hold, and a deprovision's completion has nothing left
// to lock.
//
// Completion (Succeed, Fail) therefore locks the instance and the binding before it touches
// the operation row. The other way round, a re-sent DELETE that holds the instance row and
// waits on the unique index behind the operation row the finishing worker has just updated
// deadlocks with that worker, which then wants the instance row.
//
// A transaction that writes the operation row alone (Claim, RenewLease, Retry, Release, the
// rescuer's requeue), or a binding row alone (Reseal, DeleteExpiredBinding), needs no other
// lock: holding one row and waiting for no other, it cannot close a cycle. The rescuer, which finds its operation rows first,
// never waits for an instance or binding row: it takes them SKIP LOCKED and leaves an
// operation whose instance or binding is busy to its next sweep. A transaction that acts on a
// binding never writes the instance row: two FOR SHARE holders that both wanted more would
// deadlock.
//
// The one-active-operation rules are checked under these locks (checkIdle), not left to
// timing: an operation on the instance itself runs alone, so any queued or running
// operation of the instance refuses it; an operation on a binding is refused only by one on
// the instance itself or on the same binding. The partial unique indexes hold the same rules
// for two operations on the instance, or on one binding, as a backstop.

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

const (
	lockInstanceForUpdate = `
SELECT id
FROM instances
WHERE id = $1
FOR UPDATE`

	lockInstanceForShare = `
SELECT id
FROM instances
WHERE id = $1
FOR SHARE`

	lockBindingForUpdate = `
SELECT id
FROM bindings
WHERE instance_id = $1
    AND id = $2
FOR UPDATE`
)

// lockInstance takes step 1 of the lock order for an operation on the instance itself
// (bindingID "") or on one of its bindings; ErrNotFound when the instance does not exist.
func lockInstance(ctx context.Context, q sqlx.QueryerContext, instanceID, bindingID string) error {
	query := lockInstanceForUpdate
	if bindingID != "" {
		query = lockInstanceForShare
	}
	return lockRow(ctx, q, query, instanceID)
}

// selectInstanceForUpdate and selectInstanceForShare are lockInstance's locks that also read
// the row.
const (
	selectInstanceForUpdate = selectInstance + `
FOR UPDATE`
	selectInstanceForShare = selectInstance + `
FOR SHARE`
)

// lockInstanceFor is lockInstance in the transaction that queues op: when op is claimed as it
// is queued, it also reads the instance row under the lock, in the same round trip, into
// op.ClaimedBy.Instance.
func lockInstanceFor(ctx context.Context, q sqlx.QueryerContext, instanceID, bindingID string, op Operation) error {
	if op.ClaimedBy == nil {
		return lockInstance(ctx, q, instanceID, bindingID)
	}
	query := selectInstanceForUpdate
	if bindingID != "" {
		query = selectInstanceForShare
	}
	inst, err := getRow[Instance](ctx, q, "lock instance", query, instanceID)
	if err != nil {
		return err
	}
	op.ClaimedBy.Instance = &inst
	return nil
}

// lockRow runs a SELECT … FOR UPDATE/SHARE of one row; ErrNotFound when there is none.
func lockRow(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) error {
	_, err := getRow[string](ctx, q, "lock row", query, args...)
	return err
}

// lockTargets takes steps 1 and 2 of the lock order for op's completion: its instance, and
// its binding when it acts on one. A row that is gone is no error: the completion of an
// operation on it still records its outcome.
func lockTargets(ctx context.Context, tx *sqlx.Tx, op Operation) error {
	err := lockInstance(ctx, tx, op.InstanceID, op.BindingID)
	if err == nil && op.BindingID != "" {
		err = lockRow(ctx, tx, lockBindingForUpdate, op.InstanceID, op.BindingID)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// tryLockInstance and tryLockBinding say true when they took the row's lock, or when the row
// does not exist; false when another transaction holds it.
const (
	tryLockInstanceForUpdate = `
WITH locked AS (
    SELECT id FROM instances WHERE id = $1 FOR UPDATE SKIP LOCKED
)
SELECT EXISTS (SELECT 1 FROM locked) OR NOT EXISTS (SELECT 1 FROM instances WHERE id = $1)`

	tryLockInstanceForShare = `
WITH locked AS (
    SELECT id FROM instances WHERE id = $1 FOR SHARE SKIP LOCKED
)
SELECT EXISTS (SELECT 1 FROM locked) OR NOT EXISTS (SELECT 1 FROM instances WHERE id = $1)`

	tryLockBinding = `
WITH locked AS (
    SELECT id FROM bindings WHERE instance_id = $1 AND id = $2 FOR UPDATE SKIP LOCKED
)
SELECT EXISTS (SELECT 1 FROM locked)
    OR NOT EXISTS (SELECT 1 FROM bindings WHERE instance_id = $1 AND id = $2)`
)

// tryLockTargets is lockTargets for a transaction that already holds the operation row (the
// rescuer): it never waits, and reports false when another transaction holds the instance
// or the binding row, which then is left as it is.
func tryLockTargets(ctx context.Context, tx *sqlx.Tx, instanceID, bindingID string) (bool, error) {
	query, args := tryLockInstanceForUpdate, []any{instanceID}
	if bindingID != "" {
		query = tryLockInstanceForShare
	}
	var took bool
	if err := tx.GetContext(ctx, &took, query, args...); err != nil {
		return false, fmt.Errorf("lock instance: %w", err)
	}
	if !took || bindingID == "" {
		return took, nil
	}
	if err := tx.GetContext(ctx, &took, tryLockBinding, instanceID, bindingID); err != nil {
		return false, fmt.Errorf("lock binding: %w", err)
	}
	return took, nil
}

// busy is the expression that tells whether an operation of the instance that excludes a new
// one is queued or running: any, for an operation on the instance itself (an empty binding id);
// for one on a binding, one on the instance itself or on that binding. instance and binding
// are the statement's parameters (or literals) that hold the two ids. A statement that writes
// the instance's or the binding's row under the locks of steps 1 and 2 returns it, so that the
// check costs no round trip of its own: its snapshot, taken once the locks are held, sees every
// operation queued before, and no such operation can be queued meanwhile.
func busy(instance, binding string) string {
	return fmt.Sprintf(`EXISTS (
    SELECT 1
    FROM operations
    WHERE instance_id = %[1]s
        AND state IN ('queued', 'running')
        AND (%[2]s = '' OR binding_id IS NULL OR binding_id = %[2]s)
) AS busy`, instance, binding)
}

// selectActive asks busy on its own, of instance $1 and binding $2.
var selectActive = `SELECT ` + busy("$1", "$2")

// checkIdle returns ErrBusy when an operation that excludes a new one on instanceID (and
// bindingID, "" for the instance itself) is queued or running. The caller holds the locks of
// steps 1 and 2, so no such operation can be queued meanwhile.
func checkIdle(ctx context.Context, tx *sqlx.Tx, instanceID, bindingID string) error {
	var active bool
	if err := tx.GetContext(ctx, &active, selectActive, instanceID, bindingID); err != nil {
		return fmt.Errorf("look for active operations: %w", err)
	}
	return idle(active)
}

// idle returns ErrBusy when the statement that wrote under the locks (see busy) returned busy.
func idle(busy bool) error {
	if busy {
		return ErrBusy
	}
	return nil
}
