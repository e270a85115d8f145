package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// RepairOutcome is how a repair an operator asked for went, as far as the one who asked knows.
type RepairOutcome string

const (
	// RepairRequested: written before the repair starts; a row left so is a repair whose
	// process stopped before it could say how it went.
	RepairRequested RepairOutcome = "requested"
	// RepairQueued: handed to the queue; its operation's state says how it ends.
	RepairQueued RepairOutcome = "queued"
	// RepairDone: made in the state database, with nothing for a worker to do.
	RepairDone RepairOutcome = "done"
	// RepairRefused: not made, because the state it found does not allow it (an operation
	// running, a state it does not apply to); Detail says which.
	RepairRefused RepairOutcome = "refused"
	// RepairFailed: it could not be made, or its operation failed while the one who asked
	// waited for it.
	RepairFailed RepairOutcome = "failed"
)

// Repair is one repair an operator asked for, through the CLI (Via "cli", RequestedBy the OS
// user) or the operator API (Via "api", RequestedBy the API user).
type Repair struct {
	ID          string `db:"id" json:"id"`
	RequestedBy string `db:"requested_by" json:"requested_by"`
	Via         string `db:"via" json:"via"`
	// Action is what was asked, as the command says it: "orphans purge", "nodes drain", ….
	Action string `db:"action" json:"action"`
	// Target is what it acts on: an object's address, an operation, an instance or a node.
	Target      string        `db:"target" json:"target"`
	OperationID string        `db:"operation_id" json:"operation_id,omitempty"`
	Outcome     RepairOutcome `db:"outcome" json:"outcome"`
	Detail      string        `db:"detail" json:"detail,omitempty"`
	// OperationState is the state of its operation now, when it has one.
	OperationState OperationState `db:"operation_state" json:"operation_state,omitempty"`
	RequestedAt    time.Time      `db:"requested_at" json:"requested_at"`
	FinishedAt     *time.Time     `db:"finished_at" json:"finished_at,omitempty"`
}

const insertRepair = `
INSERT INTO repairs (id, requested_by, via, action, target)
VALUES ($1, $2, $3, $4, $5)
RETURNING requested_at`

// StartRepair records that who (through via, "cli" or "api") asked for action on target, before
// it is made, and returns the row (outcome RepairRequested).
func (s *Store) StartRepair(ctx context.Context, requestedBy, via, action, target string) (Repair, error) {
	r := Repair{ID: uuid.NewString(), RequestedBy: requestedBy, Via: via, Action: action, Target: target, Outcome: RepairRequested}
	if err := s.db.QueryRowxContext(ctx, insertRepair, r.ID, requestedBy, via, action, target).Scan(&r.RequestedAt); err != nil {
		return Repair{}, fmt.Errorf("record repair %s of %s: %w", action, target, err)
	}
	return r, nil
}

const finishRepair = `
UPDATE repairs
SET outcome = $2, operation_id = NULLIF($3, ''), detail = $4, finished_at = now()
WHERE id = $1`

// FinishRepair records how repair id went: its outcome, the operation it queued (or ""), and a
// sentence for a person (never a credential).
func (s *Store) FinishRepair(ctx context.Context, id string, outcome RepairOutcome, operationID, detail string) error {
	if _, err := s.db.ExecContext(ctx, finishRepair, id, outcome, operationID, detail); err != nil {
		return fmt.Errorf("record how repair %s went: %w", id, err)
	}
	return nil
}

const selectRepairs = `
SELECT r.id, r.requested_by, r.via, r.action, r.target, COALESCE(r.operation_id, '') AS operation_id,
    r.outcome, r.detail, COALESCE(o.state, '') AS operation_state, r.requested_at, r.finished_at
FROM repairs r
LEFT JOIN operations o ON o.id = r.operation_id
WHERE r.requested_at >= $1
ORDER BY r.requested_at DESC, r.id
LIMIT $2`

// Repairs lists the repairs asked for since since, newest first, at most limit of them, each
// with the state its operation is in now.
func (s *Store) Repairs(ctx context.Context, since time.Time, limit int) ([]Repair, error) {
	repairs := []Repair{}
	if err := s.db.SelectContext(ctx, &repairs, selectRepairs, since, limit); err != nil {
		return nil, fmt.Errorf("list repairs: %w", err)
	}
	return repairs, nil
}
