package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"
)

// Choose picks the node for a new instance of a backend from used, the instances placed on
// each of its nodes (a node with none may be absent), and drained, its nodes drained of new
// instances (DrainNode), and returns its name. The store calls it while it holds the backend's
// placement lock, so it must be quick and must not use the store.
type Choose func(used map[string]int, drained map[string]bool) (string, error)

const lockPlacement = `SELECT pg_advisory_xact_lock(hashtextextended('omnibroker-placement:' || $1::text, 0))`

// tryLockPlacement is lockPlacement without the wait: false when another transaction holds it.
const tryLockPlacement = `SELECT pg_try_advisory_xact_lock(hashtextextended('omnibroker-placement:' || $1::text, 0))`

// countPlacedAndDrained is the instances placed per node of the backend, from the count that
// the triggers on instances keep (migration 12), so that it costs the same however many
// instances the store holds, and the backend's drained nodes (drained true), in one round trip.
// Run after the placement lock is taken, its snapshot sees every placement and drain that
// committed before.
const countPlacedAndDrained = `
SELECT node AS counted, instances AS used, false AS drained
FROM node_instances
WHERE backend = $1
    AND instances > 0
UNION ALL
SELECT node, 0, true
FROM node_drains
WHERE backend = $1`

// lockNodeAndCount locks the instance row and reads its node, and, while it has none, the
// instances per node of the backend ($2) and its drained nodes, as countPlacedAndDrained reads
// them: one row per node in use (counted "" when none is), none when the instance does not
// exist; then one row per drained node (drained true).
const lockNodeAndCount = `
SELECT COALESCE(i.node, '') AS node, COALESCE(c.node, '') AS counted, COALESCE(c.instances, 0) AS used,
    false AS drained
FROM (
    SELECT node
    FROM instances
    WHERE id = $1
    FOR UPDATE
) i
LEFT JOIN node_instances c ON i.node IS NULL
    AND c.backend = $2
    AND c.instances > 0
UNION ALL
SELECT '', node, 0, true
FROM node_drains
WHERE backend = $2`

// lockPlacementWithoutFlush is lockPlacement for a transaction that commits without waiting for
// the disk, and so lets go of the placement lock at once: the placements of a backend take the
// lock in turn, and would otherwise queue behind each other's flushes. flushPlacement then makes
// it durable outside the lock, where flushes of many transactions are shared.
const lockPlacementWithoutFlush = `
SELECT set_config('synchronous_commit', 'off', true),
    pg_advisory_xact_lock(hashtextextended('omnibroker-placement:' || $1::text, 0))`

// flushPlacement commits, with a flush, a transaction that takes a transaction id and writes
// nothing else: PostgreSQL flushes the WAL up to its commit record, which lies after the
// placement's, so once it returns the placement is on disk.
const flushPlacement = `SELECT pg_current_xact_id()`

const setInstanceNode = `
UPDATE instances
SET node = $2, updated_at = now()
WHERE id = $1`

// placed is one node's count as countPlacedAndDrained and lockNodeAndCount read it, or one
// drained node as countPlacedAndDrained reads it.
type placed struct {
	Node    string `db:"node"`
	Counted string `db:"counted"`
	Used    int    `db:"used"`
	Drained bool   `db:"drained"`
}

// chooseNode calls choose with the counts of rows and the drained nodes (those of rows, and
// drained), and returns its node; its error is wrapped.
func chooseNode(rows []placed, drained map[string]bool, choose Choose) (string, error) {
	used := make(map[string]int, len(rows))
	for _, c := range rows {
		switch {
		case c.Drained:
			drained[c.Counted] = true
		case c.Counted != "":
			used[c.Counted] = c.Used
		}
	}
	chosen, err := choose(used, drained)
	if err != nil {
		return "", fmt.Errorf("choose node: %w", err)
	}
	if chosen == "" {
		return "", errors.New("choose node: no node chosen")
	}
	return chosen, nil
}

// placeNew chooses the node of an instance of backend that tx is about to insert, under the
// backend's placement lock, which it takes first if it is free: "" when it is not (another
// placement of the backend is under way), or when choose refuses. The instance is then
// inserted unplaced, and its worker's AssignNode places it, waiting for the lock (and fails the
// provision with choose's reason if it still refuses). So no request waits for the placements
// of others, which the workers take in turn.
func placeNew(ctx context.Context, tx *sqlx.Tx, backend string, choose Choose) (string, error) {
	var locked bool
	if err := tx.GetContext(ctx, &locked, tryLockPlacement, backend); err != nil {
		return "", fmt.Errorf("lock placement: %w", err)
	}
	if !locked {
		return "", nil
	}
	var rows []placed
	if err := tx.SelectContext(ctx, &rows, countPlacedAndDrained, backend); err != nil {
		return "", fmt.Errorf("count instances per node: %w", err)
	}
	node, err := chooseNode(rows, map[string]bool{}, choose)
	if err != nil {
		return "", nil
	}
	return node, nil
}

// AssignNode places the instance on a node, once: if it already has one, that node is
// returned. Otherwise, in one transaction holding an advisory lock on the backend, it reads
// the instances per node of that backend, calls choose with the counts and the nodes drained
// of new instances (DrainNode), and records the chosen node on the instance, so two workers
// never overfill a node nor place on one drained before; it returns once that is durable.
// choose's error is returned wrapped. ErrNotFound when the instance does not exist.
// CreatePlacedInstance places a new instance the same way as it inserts it; AssignNode places
// those it could not.
func (s *Store) AssignNode(ctx context.Context, instanceID, backend string, choose Choose) (string, error) {
	var node string
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		node = ""
		if _, err := tx.ExecContext(ctx, lockPlacementWithoutFlush, backend); err != nil {
			return fmt.Errorf("lock placement: %w", err)
		}
		var rows []placed
		if err := tx.SelectContext(ctx, &rows, lockNodeAndCount, instanceID, backend); err != nil {
			return fmt.Errorf("lock instance and count instances per node: %w", err)
		}
		i := slices.IndexFunc(rows, func(r placed) bool { return !r.Drained })
		if i < 0 {
			return ErrNotFound
		}
		// Another worker may have placed it while we waited for the lock.
		if node = rows[i].Node; node != "" {
			return nil
		}
		picked, err := chooseNode(rows, map[string]bool{}, choose)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, setInstanceNode, instanceID, picked); err != nil {
			return fmt.Errorf("set node: %w", err)
		}
		node = picked
		return nil
	})
	if err == nil {
		// Until this returns, a crash of the state database may still lose the placement (this
		// one, or one that another transaction has just committed the same way): the caller
		// makes nothing on the node before.
		if _, flushErr := s.db.ExecContext(ctx, flushPlacement); flushErr != nil {
			err = fmt.Errorf("flush: %w", flushErr)
		}
	}
	if err != nil {
		return "", fmt.Errorf("assign node to instance %s: %w", instanceID, err)
	}
	return node, nil
}
