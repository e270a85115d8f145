package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// rescueBatch bounds how many expired operations one transaction of RescueExpired locks.
const rescueBatch = 100

const selectExpired = `
SELECT id, kind, instance_id, COALESCE(binding_id, '') AS binding_id, attempt, max_attempts,
    claimed_at, request
FROM operations
WHERE state = 'running'
    AND lease_expires_at < now()
ORDER BY lease_expires_at
LIMIT $1
FOR UPDATE SKIP LOCKED`

const requeueExpired = `
UPDATE operations
SET state = 'queued', description = $2, run_after = now() + $3::interval,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = $1`

const failExpired = `
UPDATE operations
SET state = 'failed', description = $2, lease_expires_at = NULL, finished_at = now(), updated_at = now()
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
// Replicas may run it at the same time: each row is rescued once.
func (s *Store) RescueExpired(ctx context.Context, backoff func(attempt int) time.Duration) (int, error) {
	total := 0
	for {
		n, err := s.rescueBatch(ctx, backoff)
		total += n
		if err != nil {
			return total, fmt.Errorf("rescue expired operations: %w", err)
		}
		if n < rescueBatch {
			return total, nil
		}
	}
}

func (s *Store) rescueBatch(ctx context.Context, backoff func(attempt int) time.Duration) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var rows []expired
		if err := tx.SelectContext(ctx, &rows, selectExpired, rescueBatch); err != nil {
			return fmt.Errorf("select: %w", err)
		}
		for _, r := range rows {
			if r.Attempt < r.MaxAttempts {
				description := fmt.Sprintf("the worker running attempt %d of %d stopped without finishing; the operation will be retried", r.Attempt, r.MaxAttempts)
				if _, err := tx.ExecContext(ctx, requeueExpired, r.ID, description, interval(backoff(r.Attempt))); err != nil {
					return fmt.Errorf("requeue operation %s: %w", r.ID, err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, failExpired, r.ID, gaveUp(r)); err != nil {
				return fmt.Errorf("fail operation %s: %w", r.ID, err)
			}
			if err := applyFailure(ctx, tx, r.finished); err != nil {
				return fmt.Errorf("fail operation %s: %w", r.ID, err)
			}
		}
		n = len(rows)
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
