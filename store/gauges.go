package store

import (
	"context"
	"fmt"
	"time"
)

// The state's gauges (queue depth, instances, bindings, instances per node) are read from the
// state database, which every replica shares: if each replica exported them, a sum over
// replicas would count every row once per replica. So only one exports them, the one whose
// Session holds the gauges lock, a session-level advisory lock: it is taken at a scrape when
// free and held until the session ends (its process stops or dies, its connection breaks),
// when the next replica to be scraped takes it over.

// takeGaugesLock tries the gauges lock. Its key is a hash of its own name, as the placement
// lock's; a tie is a random 63-bit key, which the hash is as good as never equal to.
const takeGaugesLock = `SELECT pg_try_advisory_lock(hashtextextended('omnibroker-gauges', 0))`

// LeadsGauges reports whether this session holds the gauges lock, taking it when it is free:
// true means its replica is the one to export the state's gauges. Once taken the lock stays
// with the session; a session that has ended reports false with ErrSessionLost.
func (se *Session) LeadsGauges(ctx context.Context) (bool, error) {
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.conn == nil {
		return false, ErrSessionLost
	}
	if se.gauges {
		return true, nil
	}
	var taken bool
	err := se.conn.GetContext(ctx, &taken, takeGaugesLock)
	if connectionLost(err) {
		se.discard()
		return false, fmt.Errorf("%w: %w", ErrSessionLost, err)
	}
	if err != nil {
		return false, fmt.Errorf("take gauges lock: %w", err)
	}
	se.gauges = taken
	return taken, nil
}

// QueueGauge is how many operations of Kind are in State (queued or running).
type QueueGauge struct {
	State OperationState `db:"state"`
	Kind  OperationKind  `db:"kind"`
	Count int            `db:"n"`
	// Oldest is the age of the oldest of them, from its creation, in seconds.
	Oldest float64 `db:"oldest"`
}

// InstanceGauge is how many instances of PlanID in State are on Node ("" while not placed)
// of Backend.
type InstanceGauge struct {
	PlanID  string        `db:"plan_id"`
	State   InstanceState `db:"state"`
	Backend string        `db:"backend"`
	Node    string        `db:"node"`
	Count   int           `db:"n"`
}

// BindingGauge is how many bindings of PlanID are in State.
type BindingGauge struct {
	PlanID string       `db:"plan_id"`
	State  BindingState `db:"state"`
	Count  int          `db:"n"`
}

// Gauges is what the state database holds, counted for the metrics.
type Gauges struct {
	Queue     []QueueGauge
	Instances []InstanceGauge
	Bindings  []BindingGauge
}

// OldestQueued is the age of the oldest queued operation, 0 when none is queued; it counts
// from the operation's creation, so one that waits out a retry's backoff ages too.
func (g Gauges) OldestQueued() time.Duration {
	var oldest float64
	for _, q := range g.Queue {
		if q.State == OpQueued {
			oldest = max(oldest, q.Oldest)
		}
	}
	return time.Duration(oldest * float64(time.Second))
}

// countQueue reads only the active operations, through operations_claim_idx (state first),
// however many finished ones the table holds.
const countQueue = `
SELECT state, kind, count(*) AS n, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest
FROM operations
WHERE state IN ('queued', 'running')
GROUP BY state, kind`

const countInstances = `
SELECT plan_id, state, backend, COALESCE(node, '') AS node, count(*) AS n
FROM instances
GROUP BY plan_id, state, backend, node`

const countBindings = `
SELECT plan_id, state, count(*) AS n
FROM bindings
GROUP BY plan_id, state`

// ReadGauges counts the queue, the instances and the bindings: three statements, each one
// pass over what it counts, for a scrape of the replica that LeadsGauges (which caches them).
func (s *Store) ReadGauges(ctx context.Context) (Gauges, error) {
	var g Gauges
	if err := s.db.SelectContext(ctx, &g.Queue, countQueue); err != nil {
		return Gauges{}, fmt.Errorf("count operations: %w", err)
	}
	if err := s.db.SelectContext(ctx, &g.Instances, countInstances); err != nil {
		return Gauges{}, fmt.Errorf("count instances: %w", err)
	}
	if err := s.db.SelectContext(ctx, &g.Bindings, countBindings); err != nil {
		return Gauges{}, fmt.Errorf("count bindings: %w", err)
	}
	return g, nil
}
