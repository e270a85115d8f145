package postgres

import (
	"fmt"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/omnibroker/omnibroker/backends"
)

// fail turns an error met while the node was doing action (a verb phrase such as "create the
// database") into one that carries a sentence for last_operation: the node and the cause in
// plain words, never driver text, which can quote a DSN. Errors that already carry a sentence
// pass through unchanged, unless the context ended: then that is the cause worth telling. None
// of these are permanent: an operator can fix each of them, and a retry then succeeds.
func (n *node) fail(action string, err error) error {
	return backends.Fail(err, func(err error) string { return n.sentence(action, err) })
}

func (n *node) sentence(action string, err error) string {
	if s := backends.TransportSentence(n.name, err); s != "" {
		return s
	}
	if e := pq.As(err); e != nil {
		switch {
		case e.Code.Class() == pqerror.ClassInvalidAuthorizationSpecification,
			e.Code == pqerror.InvalidPassword:
			return fmt.Sprintf("node %s rejected the broker's login", n.name)
		case e.Code == pqerror.TooManyConnections:
			return fmt.Sprintf("node %s ran out of connections", n.name)
		case e.Code.Class() == pqerror.ClassInsufficientResources:
			return fmt.Sprintf("node %s ran out of resources (disk, memory or connections)", n.name)
		case e.Code == pqerror.QueryCanceled:
			return fmt.Sprintf("node %s cancelled the statement to %s", n.name, action)
		case e.Code.Class() == pqerror.ClassOperatorIntervention:
			return fmt.Sprintf("node %s is starting up or shutting down", n.name)
		case e.Code.Class() == pqerror.ClassConnectionException:
			return fmt.Sprintf("node %s dropped the connection", n.name)
		case e.Code == pqerror.InsufficientPrivilege:
			return fmt.Sprintf("the broker's admin role on node %s lacks a privilege it needs to %s", n.name, action)
		case e.Code.Class() == pqerror.ClassInvalidCatalogName:
			return fmt.Sprintf("node %s could not %s: a database is missing", n.name, action)
		}
		return fmt.Sprintf("node %s failed to %s", n.name, action)
	}
	return fmt.Sprintf("node %s failed to %s", n.name, action)
}
