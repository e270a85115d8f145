package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
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

// placed is one node's count as countPlacedAndDrained and lockNodeAndCount read it, or one
// drained node as countPlacedAndDrained reads it.
type placed struct {
	Node    string `db:"node"`
	Counted string `db:"counted"`
	Used    int    `db:"used"`
	Drained bool   `db:"drained"`
}

// countsOf reads rows, as countPlacedAndDrained and lockNodeAndCount return them, into the
// instances placed per node and the drained nodes.
func countsOf(rows []placed) (used map[string]int, drained map[string]bool) {
	used, drained = make(map[string]int, len(rows)), map[string]bool{}
	for _, c := range rows {
		switch {
		case c.Drained:
			drained[c.Counted] = true
		case c.Counted != "":
			used[c.Counted] = c.Used
		}
	}
	return used, drained
}

// chooseNode calls choose with used and drained and returns its node; its error is wrapped.
func chooseNode(used map[string]int, drained map[string]bool, choose Choose) (string, error) {
	chosen, err := choose(maps.Clone(used), drained)
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
	used, drained := countsOf(rows)
	node, err := chooseNode(used, drained, choose)
	if err != nil {
		return "", nil
	}
	return node, nil
}

// ChooseFor is the Choose of a new instance of plan planID with parameters, or nil when it
// cannot be placed now (its worker then finds out why).
type ChooseFor func(planID string, parameters json.RawMessage) Choose

// placeBatch bounds how many instances besides its own one placement places.
const placeBatch = 100

// lockUnplaced locks the other instances of backend $1 that wait to be placed, oldest first,
// passing over those another transaction holds.
const lockUnplaced = `
SELECT id, plan_id, parameters
FROM instances
WHERE backend = $1
    AND node IS NULL
    AND state = 'provisioning'
    AND id <> $2
ORDER BY created_at, id
LIMIT $3
FOR UPDATE SKIP LOCKED`

const setInstanceNodes = `
UPDATE instances
SET node = u.node, updated_at = now()
FROM unnest($1::text[], $2::text[]) AS u (id, node)
WHERE instances.id = u.id`

// unplaced is an instance that lockUnplaced found waiting to be placed.
type unplaced struct {
	ID         string          `db:"id"`
	PlanID     string          `db:"plan_id"`
	Parameters json.RawMessage `db:"parameters"`
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
	return s.AssignNodes(ctx, instanceID, backend, choose, nil)
}

// AssignNodes is AssignNode that, while it holds the placement lock, also places the other
// instances of the backend that wait to be placed (up to placeBatch, each as others chooses
// for it, counting the placements before it), so that under a burst of provisions one holder
// of the lock places many, and their workers find them placed without taking the lock. An
// instance that others cannot place, or whose choice refuses, is left to its own worker. Their
// workers read the node with the instance before they would place it.
func (s *Store) AssignNodes(ctx context.Context, instanceID, backend string, choose Choose, others ChooseFor) (string, error) {
	var node string
	var othersFlush *flush // the flush of the placements made for others
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if othersFlush != nil { // a run that was rolled back
			s.flushes.end(othersFlush, false)
			othersFlush = nil
		}
		var othersPlaced []string
		var err error
		node, othersPlaced, err = placeUnderLock(ctx, tx, instanceID, backend, choose, others)
		if err == nil && len(othersPlaced) > 0 {
			othersFlush = s.flushes.start(othersPlaced)
		}
		return err
	})
	if err == nil {
		// Until this returns, a crash of the state database may still lose the placement (this
		// one, or one that another transaction has just committed the same way): the caller
		// makes nothing on the node before.
		err = s.FlushPlacement(ctx, instanceID)
	}
	if othersFlush != nil {
		s.flushes.end(othersFlush, err == nil)
	}
	if err != nil {
		return "", fmt.Errorf("assign node to instance %s: %w", instanceID, err)
	}
	return node, nil
}

// FlushPlacement returns once the placement of instanceID is on disk: one that AssignNodes
// made for it, with the instance of another worker's, commits without a flush, and that worker
// may read it before the flush that follows; it must be on disk before the node is touched.
// When this process's AssignNodes placed it, its flush is waited for; otherwise every
// placement committed so far is flushed.
func (s *Store) FlushPlacement(ctx context.Context, instanceID string) error {
	if f := s.flushes.take(instanceID); f != nil {
		ok, err := f.wait(ctx)
		if err != nil {
			return fmt.Errorf("flush placement: %w", err)
		}
		if ok {
			return nil
		}
	}
	if _, err := s.stmts.on(nil).ExecContext(ctx, flushPlacement); err != nil {
		return fmt.Errorf("flush placement: %w", err)
	}
	return nil
}

// placeUnderLock is AssignNodes' transaction: under the placement lock it places the instance,
// and those others can place, and returns the instance's node and the others it placed.
func placeUnderLock(ctx context.Context, tx *sqlx.Tx, instanceID, backend string, choose Choose, others ChooseFor) (node string, othersPlaced []string, err error) {
	if _, err := tx.ExecContext(ctx, lockPlacementWithoutFlush, backend); err != nil {
		return "", nil, fmt.Errorf("lock placement: %w", err)
	}
	var rows []placed
	if err := tx.SelectContext(ctx, &rows, lockNodeAndCount, instanceID, backend); err != nil {
		return "", nil, fmt.Errorf("lock instance and count instances per node: %w", err)
	}
	i := slices.IndexFunc(rows, func(r placed) bool { return !r.Drained })
	if i < 0 {
		return "", nil, ErrNotFound
	}
	// Another worker may have placed it while we waited for the lock.
	if rows[i].Node != "" {
		return rows[i].Node, nil, nil
	}
	used, drained := countsOf(rows)
	node, err = chooseNode(used, drained, choose)
	if err != nil {
		return "", nil, err
	}
	used[node]++
	ids, nodes := pq.StringArray{instanceID}, pq.StringArray{node}
	if others != nil {
		var waiting []unplaced
		if err := tx.SelectContext(ctx, &waiting, lockUnplaced, backend, instanceID, placeBatch); err != nil {
			return "", nil, fmt.Errorf("lock the instances waiting to be placed: %w", err)
		}
		for _, w := range waiting {
			choose := others(w.PlanID, w.Parameters)
			if choose == nil {
				continue
			}
			if n, err := chooseNode(used, drained, choose); err == nil {
				used[n]++
				ids, nodes = append(ids, w.ID), append(nodes, n)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, setInstanceNodes, ids, nodes); err != nil {
		return "", nil, fmt.Errorf("set node: %w", err)
	}
	return node, ids[1:], nil
}
