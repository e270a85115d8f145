package store

import (
	"errors"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// Sentinel errors for callers to test with errors.Is.
var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a row with that primary key already exists.
	ErrConflict = errors.New("already exists")
	// ErrBusy: another operation on the same instance is queued or running.
	ErrBusy = errors.New("another operation is in progress")
	// ErrLeaseLost: the fenced write found the operation no longer held by this
	// (id, attempt, lease owner, state = running); another worker owns it now.
	ErrLeaseLost = errors.New("lease lost")
)

// The constraint names that turn a unique or foreign key violation into a sentinel error.
const (
	instancesPKey          = "instances_pkey"
	bindingsPKey           = "bindings_pkey"
	bindingsInstanceFKey   = "bindings_instance_id_fkey"
	operationsPKey         = "operations_pkey"
	operationsActiveUnique = "operations_active_instance_key"
)

// violation maps a constraint violation to ErrConflict, ErrBusy or ErrNotFound, and returns
// any other error unchanged.
func violation(err error) error {
	pqErr := pq.As(err, pqerror.UniqueViolation, pqerror.ForeignKeyViolation)
	if pqErr == nil {
		return err
	}
	switch pqErr.Constraint {
	case instancesPKey, bindingsPKey, operationsPKey:
		return ErrConflict
	case operationsActiveUnique:
		return ErrBusy
	case bindingsInstanceFKey:
		return ErrNotFound
	}
	return err
}
