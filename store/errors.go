package store

import (
	"errors"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// Sentinel errors for callers to test with errors.Is. Each has one meaning.
var (
	// ErrNotFound means the row asked for does not exist: no instance, binding or operation
	// with that id (a binding is looked for under its own instance).
	ErrNotFound = errors.New("not found")
	// ErrInstanceNotFound means CreateBinding was given an instance id that no instance row
	// has, so there is nothing to bind to.
	ErrInstanceNotFound = errors.New("the binding's instance does not exist")
	// ErrNotBound means a restore found its binding no longer bound, or the binding's
	// instance no longer ready or updating: an unbind, a failure or a deprovision has moved
	// on from it since it was listed.
	ErrNotBound = errors.New("the binding is no longer bound")
	// ErrNothingToClaim means Claim found no queued operation whose run_after has come.
	ErrNothingToClaim = errors.New("nothing to claim")
	// ErrConflict means a row with that primary key already exists.
	ErrConflict = errors.New("already exists")
	// ErrBusy means another operation on the same instance is queued or running.
	ErrBusy = errors.New("another operation is in progress")
	// ErrLeaseLost means the fenced write found the operation no longer held by this
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

// violation maps a constraint violation to ErrConflict, ErrBusy or ErrInstanceNotFound, and
// returns any other error unchanged.
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
		return ErrInstanceNotFound
	}
	return err
}
