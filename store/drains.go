package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

const insertDrain = `
INSERT INTO node_drains (backend, node, drained_by, reason)
VALUES ($1, $2, $3, $4)
ON CONFLICT (backend, node) DO NOTHING`

// DrainNode drains node of backend on behalf of by: from its commit on, no replica places a
// new instance there. It holds the backend's placement lock while it writes, so a placement
// that counted before it has committed before the drain does, and every placement after it
// reads the drain under the same lock. It reports false when the node was drained already (and
// leaves who drained it then).
func (s *Store) DrainNode(ctx context.Context, backend, node, by, reason string) (bool, error) {
	var drained bool
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, lockPlacement, backend); err != nil {
			return fmt.Errorf("lock placement: %w", err)
		}
		res, err := tx.ExecContext(ctx, insertDrain, backend, node, by, reason)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		drained = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("drain node %s of backend %s: %w", node, backend, err)
	}
	return drained, nil
}

// UndrainNode lets node of backend take new instances again; false when it was not drained.
func (s *Store) UndrainNode(ctx context.Context, backend, node string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM node_drains WHERE backend = $1 AND node = $2`, backend, node)
	if err != nil {
		return false, fmt.Errorf("undrain node %s of backend %s: %w", node, backend, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Drains lists every drained node, of every backend.
func (s *Store) Drains(ctx context.Context) ([]Drain, error) {
	drains := []Drain{}
	if err := s.db.SelectContext(ctx, &drains, `SELECT backend, node, drained_by, reason, drained_at FROM node_drains ORDER BY backend, node`); err != nil {
		return nil, fmt.Errorf("list drained nodes: %w", err)
	}
	return drains, nil
}

// PlacedCounts counts the instances placed on each node that holds any, from the count per
// node that placement reads (node_instances).
func (s *Store) PlacedCounts(ctx context.Context) ([]PlacedCount, error) {
	counts := []PlacedCount{}
	if err := s.db.SelectContext(ctx, &counts, `SELECT backend, node, instances AS placed FROM node_instances WHERE instances > 0`); err != nil {
		return nil, fmt.Errorf("count instances per node: %w", err)
	}
	return counts, nil
}
