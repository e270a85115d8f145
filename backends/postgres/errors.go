package postgres

import (
	"errors"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/omnibroker/omnibroker/backends"
)

// causeOfCode and causeOfClass word the PostgreSQL errors a node gives, by SQLSTATE; a code
// is looked up before its class.
var (
	causeOfCode = map[pqerror.Code]backends.Cause{
		pqerror.InvalidPassword:       backends.LoginRejected,
		pqerror.TooManyConnections:    backends.OutOfConnections,
		pqerror.QueryCanceled:         backends.StatementCancelled,
		pqerror.InsufficientPrivilege: backends.LacksPrivilege,
	}
	causeOfClass = map[pqerror.Class]backends.Cause{
		pqerror.ClassInvalidAuthorizationSpecification: backends.LoginRejected,
		pqerror.ClassInsufficientResources:             backends.OutOfResources,
		pqerror.ClassOperatorIntervention:              backends.ShuttingDown,
		pqerror.ClassConnectionException:               backends.Dropped,
		pqerror.ClassInvalidCatalogName:                backends.DatabaseMissing,
	}
)

// cause reads a PostgreSQL error into the words last_operation shows: the node and the cause
// in plain words, never driver text, which can quote a DSN.
func cause(err error) backends.Cause {
	if c := backends.TransportCause(err); c != "" {
		return c
	}
	if errors.Is(err, pq.ErrSSLNotSupported) {
		return backends.NotTLS
	}
	e := pq.As(err)
	if e == nil {
		return backends.FailedTo
	}
	if c, ok := causeOfCode[e.Code]; ok {
		return c
	}
	if c, ok := causeOfClass[e.Code.Class()]; ok {
		return c
	}
	return backends.FailedTo
}
