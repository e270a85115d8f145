package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

const lockPlacement = `SELECT pg_advisory_xact_lock(hashtextextended('omnibroker-placement:' || $1::text, 0))`

const selectNode = `
SELECT COALESCE(node, '')
FROM instances
WHERE id = $1`

const selectNodeForUpdate = `
SELECT COALESCE(node, '')
FROM instances
WHERE id = $1
FOR UPDATE`

const countInstancesPerNode = `
SELECT node, count(*) AS used
FROM instances
WHERE backend = $1
    AND node IS NOT NULL
GROUP BY node`

const setInstanceNode = `
UPDATE instances
SET node = $2, updated_at = now()
WHERE id = $1`

// AssignNode places the instance on a node, once: if it already has one, that node is
// returned. Otherwise, in one transaction holding an advisory lock on the backend, it counts
// instances per node of that backend, calls choose with the counts, and records the chosen
// node on the instance, so two workers never overfill a node. choose runs while the lock is
// held, so it must be quick and must not use the store; its error is returned wrapped.
// ErrNotFound when the instance does not exist.
func (s *Store) AssignNode(ctx context.Context, instanceID, backend string, choose func(used map[string]int) (string, error)) (string, error) {
	var node string
	err := s.db.GetContext(ctx, &node, selectNode, instanceID)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("assign node to instance %s: %w", instanceID, err)
	}
	if node != "" {
		return node, nil
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, lockPlacement, backend); err != nil {
			return fmt.Errorf("lock placement: %w", err)
		}
		// Another worker may have placed it while we waited for the lock.
		err := tx.GetContext(ctx, &node, selectNodeForUpdate, instanceID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock instance: %w", err)
		}
		if node != "" {
			return nil
		}
		var counts []struct {
			Node string `db:"node"`
			Used int    `db:"used"`
		}
		if err := tx.SelectContext(ctx, &counts, countInstancesPerNode, backend); err != nil {
			return fmt.Errorf("count instances per node: %w", err)
		}
		used := make(map[string]int, len(counts))
		for _, c := range counts {
			used[c.Node] = c.Used
		}
		chosen, err := choose(used)
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
