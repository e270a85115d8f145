package store

import (
	"context"
	"fmt"

	"github.com/lib/pq"
)

// UsageSample is how many instance ids each Usage row carries, the oldest first: enough for
// an operator to look one up, few enough for a line of a report.
const UsageSample = 5

// selectUsage groups every instance row by what a catalog edit can take away from it: its
// backend, its node ("" before placement), its plan, the server version it asked for ($1
// names the parameter; "" when it asked for none or for a non-string) and its state.
const selectUsage = `
SELECT backend, node, plan_id, version, state,
    count(*) AS instances,
    (array_agg(id ORDER BY created_at, id))[1:$2] AS instance_ids
FROM (
    SELECT id, backend, COALESCE(node, '') AS node, plan_id, state, created_at,
        CASE WHEN jsonb_typeof(parameters -> $1::text) = 'string'
            THEN parameters ->> $1::text
            ELSE ''
        END AS version
    FROM instances
) i
GROUP BY backend, node, plan_id, version, state
ORDER BY backend, node, plan_id, version, state`

// Usage is how many instance rows share a backend, a node, a plan, an asked-for version and a
// state, as InstanceUsage counts them.
type Usage struct {
	Backend string `db:"backend"`
	// Node is "" for instances not placed yet.
	Node   string `db:"node"`
	PlanID string `db:"plan_id"`
	// Version is the server version the instances asked for when they were created, "" for
	// none (their plan's default_version then applies).
	Version   string        `db:"version"`
	State     InstanceState `db:"state"`
	Instances int           `db:"instances"`
	// InstanceIDs are up to UsageSample of the instances, the oldest first.
	InstanceIDs pq.StringArray `db:"instance_ids"`
}

// InstanceUsage counts every instance row, whatever its state, by backend, node, plan, the
// version it asked for in the instance parameter versionKey (catalog.VersionParameter), and
// state: what a check of a catalog against live state compares. It reads in one statement
// and changes nothing.
func (s *Store) InstanceUsage(ctx context.Context, versionKey string) ([]Usage, error) {
	var usage []Usage
	if err := s.db.SelectContext(ctx, &usage, selectUsage, versionKey, UsageSample); err != nil {
		return nil, fmt.Errorf("count instances by backend, node, plan and version: %w", err)
	}
	return usage, nil
}
