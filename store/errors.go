package store

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"slices"

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
	// ErrBusy means an operation that excludes the new one is queued or running: any
	// operation of the instance, for one on the instance itself; one on the instance itself
	// or on the same binding, for one on a binding.
	ErrBusy = errors.New("another operation is in progress")
	// ErrLeaseLost means the fenced write found the operation no longer held by this
	// (id, attempt, lease owner, state = running); another worker owns it now.
	ErrLeaseLost = errors.New("lease lost")
)

// The constraint names that turn a unique or foreign key violation into a sentinel error.
const (
	instancesPKey           = "instances_pkey"
	bindingsPKey            = "bindings_pkey"
	bindingsInstanceFKey    = "bindings_instance_id_fkey"
	operationsPKey          = "operations_pkey"
	operationsActiveOld     = "operations_active_instance_key" // until migration 9
	operationsActiveOwn     = "operations_active_own_key"
	operationsActiveBinding = "operations_active_binding_key"
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
	case operationsActiveOld, operationsActiveOwn, operationsActiveBinding:
		return ErrBusy
	case bindingsInstanceFKey:
		return ErrInstanceNotFound
	}
	return err
}

// transientClasses and transientCodes are the SQLSTATEs of failures a new try may get past:
// a connection that broke or was refused, a transaction aborted for a deadlock or a
// serialization failure, a server out of connections or memory, one shutting down or
// starting up.
var (
	transientClasses = []pqerror.Class{
		pqerror.ClassConnectionException, pqerror.ClassTransactionRollback, pqerror.ClassInsufficientResources,
	}
	transientCodes = []pqerror.Code{pqerror.AdminShutdown, pqerror.CrashShutdown, pqerror.CannotConnectNow}
)

// Transient tells whether err is a failure of the state database that the same call may get
// past when tried again: a broken, reset or refused connection, a server that is starting up,
// shutting down or out of connections, a deadlock or serialization failure that outlasted
// inTx's own retries. It is false for the sentinel errors of this package, for a Store that
// was closed, and for the caller's own errors.
func Transient(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	e := pq.As(err)
	return e != nil && (slices.Contains(transientClasses, e.Code.Class()) || slices.Contains(transientCodes, e.Code))
}
