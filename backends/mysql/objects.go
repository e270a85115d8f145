package mysql

import (
	"context"
	"database/sql"

	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/omnibroker/omnibroker/backends"
)

// selectObjects lists the node's users and databases that may carry the broker's naming,
// users first, the order in which RemoveObject may drop them; ListObjects keeps those that do.
const selectObjects = `
SELECT kind, name
FROM (
    SELECT DISTINCT 'user' AS kind, User AS name, 0 AS rank
    FROM mysql.user
    WHERE Host = '%'
      AND User LIKE 'ob\_%'
    UNION ALL
    SELECT 'database', SCHEMA_NAME, 1
    FROM information_schema.SCHEMATA
    WHERE SCHEMA_NAME LIKE 'ob\_%'
) o
ORDER BY rank, name`

// ours reports whether o carries the broker's naming.
func ours(o backends.Object) bool {
	switch o.Kind {
	case backends.ObjectUser:
		return backends.IsUserName(o.Name)
	case backends.ObjectDatabase:
		return backends.IsName("ob_", o.Name)
	}
	return false
}

// ListObjects lists the binding users and instance databases on the node.
func (m *MySQL) ListObjects(ctx context.Context, req backends.ListObjectsRequest) (backends.ListObjectsResponse, error) {
	n, err := m.nodes.Get(req.Node)
	if err != nil {
		return backends.ListObjectsResponse{}, err
	}
	return n.ListObjects(ctx, selectObjects, "users and databases", ours)
}

// Owned names the instance's database and each binding's user.
func (m *MySQL) Owned(req backends.OwnedRequest) backends.OwnedResponse {
	return backends.LoginsOwned(req, backends.Object{Kind: backends.ObjectDatabase, Name: databaseName(req.Instance)})
}

// RemoveObject drops a user as Unbind does or a database as Deprovision does, ending their
// connections, under the lock Deprovision takes for a database, and one of the user's own.
func (m *MySQL) RemoveObject(ctx context.Context, req backends.RemoveObjectRequest) error {
	n, err := m.nodes.Get(req.Node)
	if err != nil {
		return err
	}
	o := req.Object
	if !ours(o) {
		return backends.NotOurs(n.Name, o)
	}
	log := lagerctx.FromContext(ctx)
	return n.locked(ctx, o.Name, func(c *sql.Conn) error {
		if o.Kind == backends.ObjectUser {
			return n.dropUser(ctx, log, c, o.Name)
		}
		return n.dropDatabase(ctx, log, c, o.Name)
	})
}
