package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// rescueBatch bounds how many expired operations one transaction of RescueExpired locks.
const rescueBatch = 100

// selectExpired and selectOrphaned leave out an operation on its last attempt whose kind this
// binary does not know: giving up on it means applying its failure, which only a replica of
// the release that added the kind knows how to do. Requeueing is the same for every kind.
const selectExpired = `
SELECT id, kind, instance_id, COALESCE(binding_id, '') AS binding_id, attempt, max_attempts,
    claimed_at, request
FROM operations
WHERE state = 'running'
    AND lease_expires_at < now()
    AND (attempt < max_attempts OR kind = ANY($2))
ORDER BY lease_expires_at
LIMIT $1
FOR UPDATE SKIP LOCKED`

// selectOrphaned is selectExpired for the running operations whose tie nobody holds: each
// distinct tie is probed with a lock of this transaction's own, which a live session's lock
// refuses. It runs on a connection of the pool, never on a Session's, where the probe of the
// session's own tie would succeed. MATERIALIZED, so each tie is probed once, before the rows
// are locked.
const selectOrphaned = `
WITH orphaned AS MATERIALIZED (
    SELECT tie
    FROM (
        SELECT DISTINCT tie
        FROM operations
        WHERE state = 'running'
            AND tie IS NOT NULL
    ) ties
    WHERE pg_try_advisory_xact_lock(tie)
)
SELECT id, kind, instance_id, COALESCE(binding_id, '') AS binding_id, attempt, max_attempts,
    claimed_at, request
FROM operations
WHERE state = 'running'
    AND tie IN (SELECT tie FROM orphaned)
    AND (attempt < max_attempts OR kind = ANY($2))
ORDER BY claimed_at
LIMIT $1
FOR UPDATE SKIP LOCKED`

const requeueExpired = `
UPDATE operations
SET state = 'queued', description = $2, run_after = now() + $3::interval,
    lease_owner = NULL, lease_expires_at = NULL, tie = NULL, updated_at = now()
WHERE id = $1`

const failExpired = `
UPDATE operations
SET state = 'failed', description = $2, lease_expires_at = NULL, tie = NULL, finished_at = now(), updated_at = now()
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
// Replicas may run it at the same time: each row is rescued once. One on its last attempt
// whose kind this binary does not know stays running for a replica that knows it.
func (s *Store) RescueExpired(ctx context.Context, backoff func(attempt int) time.Duration) (int, error) {
	n, err := s.rescue(ctx, selectExpired, backoff)
	if err != nil {
		return n, fmt.Errorf("rescue expired operations: %w", err)
	}
	return n, nil
}

// RescueOrphaned is RescueExpired for the running operations tied to a Session that has
// ended, whatever their lease: their worker's process died, or its connection broke and the
// worker stopped them. They run again after after(attempt), which must leave a worker whose
// connection broke the time to notice and stop its backend call. Operations claimed without
// a session are left to their lease.
func (s *Store) RescueOrphaned(ctx context.Context, after func(attempt int) time.Duration) (int, error) {
	n, err := s.rescue(ctx, selectOrphaned, after)
	if err != nil {
		return n, fmt.Errorf("rescue orphaned operations: %w", err)
	}
	return n, nil
}

// rescue requeues or fails, batch by batch, the running operations that selectRunning finds.
func (s *Store) rescue(ctx context.Context, selectRunning string, backoff func(attempt int) time.Duration) (int, error) {
	total := 0
	for {
		n, err := s.rescueBatch(ctx, selectRunning, backoff)
		total += n
		if err != nil || n < rescueBatch {
			return total, err
		}
	}
}

func (s *Store) rescueBatch(ctx context.Context, selectRunning string, backoff func(attempt int) time.Duration) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var rows []expired
		if err := tx.SelectContext(ctx, &rows, selectRunning, rescueBatch, s.kinds); err != nil {
			return fmt.Errorf("select: %w", err)
		}
		n = 0
		for _, r := range rows {
			if r.Attempt < r.MaxAttempts {
				description := fmt.Sprintf("the worker running attempt %d of %d stopped without finishing; the operation will be retried", r.Attempt, r.MaxAttempts)
				if _, err := tx.ExecContext(ctx, requeueExpired, r.ID, description, interval(backoff(r.Attempt))); err != nil {
					return fmt.Errorf("requeue operation %s: %w", r.ID, err)
				}
				n++
				continue
			}
			// The operation row is held already, so the instance and binding rows are taken
			// without waiting (see locks.go); a busy one waits for the next sweep.
			took, err := tryLockTargets(ctx, tx, r.InstanceID, r.BindingID)
			if err != nil {
				return fmt.Errorf("fail operation %s: %w", r.ID, err)
			}
			if !took {
				continue
			}
			n++
			if _, err := tx.ExecContext(ctx, failExpired, r.ID, gaveUp(r)); err != nil {
				return fmt.Errorf("fail operation %s: %w", r.ID, err)
			}
			if err := applyFailure(ctx, tx, r.finished); err != nil {
				return fmt.Errorf("fail operation %s: %w", r.ID, err)
			}
			s.notifyFinished(tx, r.ID)
		}
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
