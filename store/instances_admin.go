package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// InstanceFilter narrows ListInstances: "" (or no plan id) matches any.
type InstanceFilter struct {
	Backend string
	Node    string
	PlanIDs []string
	State   InstanceState
	// Limit bounds how many it lists; 0 for no bound.
	Limit int
}

// InstanceSummary is an instance as the operator's listing shows it: what its row says of
// where it is and in what state, without the platform's parameters and context, how many
// bindings it has, and its latest operation on the instance itself (LastKind "" when it has
// none). Its JSON is that of the listing (`instances --json`), which says the version asked for
// and the latest operation in its own way.
type InstanceSummary struct {
	ID                 string        `db:"id" json:"id"`
	PlanID             string        `db:"plan_id" json:"plan_id"`
	Backend            string        `db:"backend" json:"backend"`
	Node               string        `db:"node" json:"node"`
	State              InstanceState `db:"state" json:"state"`
	MaintenanceVersion string        `db:"maintenance_version" json:"maintenance_version"`
	Bindings           int           `db:"bindings" json:"bindings"`
	CreatedAt          time.Time     `db:"created_at" json:"created_at"`
	// VersionParameter is the version its parameters asked for, "" for none.
	VersionParameter string         `db:"version_parameter" json:"-"`
	LastKind         OperationKind  `db:"last_kind" json:"-"`
	LastState        OperationState `db:"last_state" json:"-"`
}

const selectInstanceSummaries = `
SELECT i.id, i.plan_id, i.backend, COALESCE(i.node, '') AS node, i.state,
    COALESCE(i.maintenance_version, '') AS maintenance_version,
    COALESCE(i.parameters->>'version', '') AS version_parameter, i.created_at,
    (SELECT count(*) FROM bindings b WHERE b.instance_id = i.id) AS bindings,
    COALESCE(o.kind, '') AS last_kind, COALESCE(o.state, '') AS last_state
FROM instances i
LEFT JOIN LATERAL (
    SELECT kind, state
    FROM operations
    WHERE instance_id = i.id
        AND binding_id IS NULL
    ORDER BY created_at DESC, id DESC
    LIMIT 1
) o ON true
WHERE ($1 = '' OR i.backend = $1)
    AND ($2 = '' OR i.node = $2)
    AND (COALESCE(cardinality($3::text[]), 0) = 0 OR i.plan_id = ANY($3))
    AND ($4 = '' OR i.state = $4)
ORDER BY i.created_at, i.id
LIMIT $5`

// ListInstances lists the instances f matches, oldest first, in whatever state.
func (s *Store) ListInstances(ctx context.Context, f InstanceFilter) ([]InstanceSummary, error) {
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	out := []InstanceSummary{}
	err := s.db.SelectContext(ctx, &out, selectInstanceSummaries, f.Backend, f.Node, pq.StringArray(f.PlanIDs), string(f.State), limit)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// BindingSummary is a binding as the operator shows it with its instance (`instances show`),
// and its JSON: what it is and when it expires, without its secrets, parameters and context.
type BindingSummary struct {
	ID        string       `db:"id" json:"id"`
	State     BindingState `db:"state" json:"state"`
	AppGUID   string       `db:"app_guid" json:"app_guid,omitempty"`
	CreatedAt time.Time    `db:"created_at" json:"created_at"`
	ExpiresAt *time.Time   `db:"expires_at" json:"expires_at,omitempty"`
}

const selectInstanceBindings = `
SELECT id, state, app_guid, created_at, expires_at
FROM bindings
WHERE instance_id = $1
ORDER BY created_at, id`

// BindingsOf lists every binding of the instance, whatever its state, oldest first.
func (s *Store) BindingsOf(ctx context.Context, instanceID string) ([]BindingSummary, error) {
	out := []BindingSummary{}
	if err := s.db.SelectContext(ctx, &out, selectInstanceBindings, instanceID); err != nil {
		return nil, fmt.Errorf("list the bindings of instance %s: %w", instanceID, err)
	}
	return out, nil
}

// ForgetInstance deletes the instance row and its binding rows, in whatever state, from the
// state database alone, in one transaction under the instance's lock, and returns the instance
// and the names of the bindings it deleted, so that the caller can name what may be left on
// the node. Its operations stay, as those of a deprovision do. ErrNotFound when the instance
// is not there, ErrBusy when an operation of it or of one of its bindings is queued or running
// (nothing is deleted then).
func (s *Store) ForgetInstance(ctx context.Context, id string) (Instance, []BindingName, error) {
	var inst Instance
	var names []BindingName
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := lockInstance(ctx, tx, id, ""); err != nil {
			return err
		}
		if err := checkIdle(ctx, tx, id, ""); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &inst, selectInstance, id); err != nil {
			return fmt.Errorf("read instance: %w", err)
		}
		names = []BindingName{}
		if err := tx.SelectContext(ctx, &names, selectBindingNames, id); err != nil {
			return fmt.Errorf("list bindings: %w", err)
		}
		// The bindings go with the instance (ON DELETE CASCADE), as on a deprovision.
		if _, err := tx.NamedExecContext(ctx, deleteInstance, outcome{InstanceID: id}); err != nil {
			return fmt.Errorf("delete instance: %w", err)
		}
		return nil
	})
	if err != nil {
		return Instance{}, nil, fmt.Errorf("forget instance %s: %w", id, err)
	}
	return inst, names, nil
}
