package postgres

import (
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/omnibroker/omnibroker/backends"
)

// cause reads a PostgreSQL error into the words last_operation shows: the node and the cause
// in plain words, never driver text, which can quote a DSN.
func cause(err error) backends.Cause {
	if c := backends.TransportCause(err); c != "" {
		return c
	}
	e := pq.As(err)
	switch {
	case e == nil:
		return backends.FailedTo
	case e.Code.Class() == pqerror.ClassInvalidAuthorizationSpecification, e.Code == pqerror.InvalidPassword:
		return backends.LoginRejected
	case e.Code == pqerror.TooManyConnections:
		return backends.OutOfConnections
	case e.Code.Class() == pqerror.ClassInsufficientResources:
		return backends.OutOfResources
	case e.Code == pqerror.QueryCanceled:
		return backends.StatementCancelled
	case e.Code.Class() == pqerror.ClassOperatorIntervention:
		return backends.ShuttingDown
	case e.Code.Class() == pqerror.ClassConnectionException:
		return backends.Dropped
	case e.Code == pqerror.InsufficientPrivilege:
		return backends.LacksPrivilege
	case e.Code.Class() == pqerror.ClassInvalidCatalogName:
		return backends.DatabaseMissing
	}
	return backends.FailedTo
}
