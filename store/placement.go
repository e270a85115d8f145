package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

const lockPlacement = `SELECT pg_advisory_xact_lock(hashtextextended('omnibroker-placement:' || $1::text, 0))`

// lockNodeAndCount locks the instance row and reads its node, and, while it has none, the
// instances per node of the backend ($2): one row per node in use (counted NULL when none
// is), no row when the instance does not exist. Its snapshot is taken after lockPlacement,
// so it counts every placement that committed before.
const lockNodeAndCount = `
SELECT COALESCE(i.node, '') AS node, COALESCE(c.node, '') AS counted, COALESCE(c.used, 0) AS used
FROM (
    SELECT node
    FROM instances
    WHERE id = $1
    FOR UPDATE
) i
LEFT JOIN (
    SELECT node, count(*) AS used
    FROM instances
    WHERE backend = $2
        AND node IS NOT NULL
    GROUP BY node
) c ON i.node IS NULL`

const setInstanceNode = `
UPDATE instances
SET node = $2, updated_at = now()
WHERE id = $1`

// AssignNode places the instance on a node, once: if it already has one, that node is
// returned. Otherwise, in one transaction holding an advisory lock on the backend, it counts
// instances per node of that backend, calls choose with the counts and the nodes drained of
// new instances (DrainNode), and records the chosen node on the instance, so two workers
// never overfill a node nor place on one drained before. choose runs while the lock is held,
// so it must be quick and must not use the store; its error is returned wrapped.
// ErrNotFound when the instance does not exist.
func (s *Store) AssignNode(ctx context.Context, instanceID, backend string, choose func(used map[string]int, drained map[string]bool) (string, error)) (string, error) {
	var node string
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		node = ""
		if _, err := tx.ExecContext(ctx, lockPlacement, backend); err != nil {
			return fmt.Errorf("lock placement: %w", err)
		}
		var rows []struct {
			Node    string `db:"node"`
			Counted string `db:"counted"`
			Used    int    `db:"used"`
		}
		if err := tx.SelectContext(ctx, &rows, lockNodeAndCount, instanceID, backend); err != nil {
			return fmt.Errorf("lock instance and count instances per node: %w", err)
		}
		if len(rows) == 0 {
			return ErrNotFound
		}
		// Another worker may have placed it while we waited for the lock.
		if node = rows[0].Node; node != "" {
			return nil
		}
		used := make(map[string]int, len(rows))
		for _, c := range rows {
			if c.Counted != "" {
				used[c.Counted] = c.Used
			}
		}
		drained, err := drainedNodes(ctx, tx, backend)
		if err != nil {
			return err
		}
		chosen, err := choose(used, drained)
		if err != nil {
			return fmt.Errorf("choose node: %w", err)
		}
		if chosen == "" {
			return errors.New("choose node: no node chosen")
		}
		if _, err := tx.ExecContext(ctx, setInstanceNode, instanceID, chosen); err != nil {
			return fmt.Errorf("set node: %w", err)
		}
		node = chosen
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("assign node to instance %s: %w", instanceID, err)
	}
	return node, nil
}
