package store

import (
	"context"
	"fmt"
)

// selectExpiredBindings lists in the order they expired the bindings whose login an expire
// operation should remove: bound, past expires_at, of an instance that is ready or updating.
// An instance being deprovisioned takes its bindings' logins with it.
const selectExpiredBindings = `
SELECT b.instance_id, b.id AS binding_id
FROM bindings b
JOIN instances i ON i.id = b.instance_id
WHERE b.state = 'bound'
    AND b.expires_at <= now()
    AND i.state IN ('ready', 'updating')
ORDER BY b.expires_at
LIMIT $1`

// ExpiredBindings lists at most limit bound bindings whose lifetime has run out, the oldest
// first. It reads no secret.
func (s *Store) ExpiredBindings(ctx context.Context, limit int) ([]BindingRef, error) {
	refs := []BindingRef{}
	if err := s.db.SelectContext(ctx, &refs, selectExpiredBindings, limit); err != nil {
		return nil, fmt.Errorf("list expired bindings: %w", err)
	}
	return refs, nil
}

const deleteExpiredBinding = `
DELETE FROM bindings
WHERE instance_id = $1
    AND id = $2
    AND state = 'expired'`

// DeleteExpiredBinding deletes the binding when it is expired: its expire operation has removed
// its login, so nothing is left to do on a backend. ErrNotFound when there is no such binding,
// or it is not expired (any more).
func (s *Store) DeleteExpiredBinding(ctx context.Context, instanceID, bindingID string) error {
	res, err := s.db.ExecContext(ctx, deleteExpiredBinding, instanceID, bindingID)
	if err == nil {
		err = oneRow(res, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete expired binding %s: %w", bindingID, err)
	}
	return nil
}
