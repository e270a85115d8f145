package store

import (
	"context"
	"fmt"
	"time"
)

// BindingRef names one binding of one instance.
type BindingRef struct {
	InstanceID string `db:"instance_id"`
	BindingID  string `db:"binding_id"`
}

const selectBoundBindings = `
SELECT b.instance_id, b.id AS binding_id
FROM bindings b
JOIN instances i ON i.id = b.instance_id
WHERE i.backend = $1
    AND i.node IS NOT NULL
    AND i.state IN ('ready', 'updating')
    AND b.state = 'bound'
    AND (b.expires_at IS NULL OR b.expires_at > now())
    AND NOT EXISTS (
        SELECT 1
        FROM operations o
        WHERE o.instance_id = b.instance_id
            AND o.binding_id = b.id
            AND o.kind = 'restore'
            AND o.state = 'failed'
            AND o.finished_at > now() - $2::interval
    )
ORDER BY b.instance_id, b.id`

// BoundBindings lists the live bindings of backend, those whose login its nodes should hold:
// every binding in state bound of an instance on a node of backend that is ready or
// updating. Bindings being created or deleted, failed ones and those of instances being
// provisioned or deprovisioned are left out; their own operations deal with them. So are
// bindings whose restore failed less than quiet ago, and those whose lifetime has run out:
// their login is to be removed, not restored.
func (s *Store) BoundBindings(ctx context.Context, backend string, quiet time.Duration) ([]BindingRef, error) {
	var refs []BindingRef
	if err := s.db.SelectContext(ctx, &refs, selectBoundBindings, backend, interval(quiet)); err != nil {
		return nil, fmt.Errorf("list bound bindings of backend %s: %w", backend, err)
	}
	return refs, nil
}
