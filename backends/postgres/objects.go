package postgres

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/omnibroker/omnibroker/backends"
)

// selectObjects lists the node's databases and roles named as this adapter names them: the
// databases owned by their own owner role, then binding roles, then owner roles, the order in
// which RemoveObject may drop them.
const selectObjects = `
SELECT kind, name
FROM (
    SELECT 'database' AS kind, datname AS name, 0 AS rank
    FROM pg_database
    WHERE datname ~ '^ob_[0-9a-f]{24}$'
      AND pg_get_userbyid(datdba) = 'ob_o_' || substr(datname, 4)
    UNION ALL
    SELECT 'role', rolname, CASE WHEN starts_with(rolname, 'ob_b_') THEN 1 ELSE 2 END
    FROM pg_roles
    WHERE rolname ~ '^ob_[bo]_[0-9a-f]{24}$'
) o
ORDER BY rank, name`

// ListObjects lists the instance databases, owner roles and binding roles on the node.
func (p *Postgres) ListObjects(ctx context.Context, req backends.ListObjectsRequest) (backends.ListObjectsResponse, error) {
	n, err := p.nodes.Get(req.Node)
	if err != nil {
		return backends.ListObjectsResponse{}, err
	}
	return n.ListObjects(ctx, selectObjects, "databases and roles", func(backends.Object) bool { return true })
}

// Owned names the instance's database and owner role, and each binding's role.
func (p *Postgres) Owned(req backends.OwnedRequest) backends.OwnedResponse {
	res := backends.OwnedResponse{
		Instance: []backends.Object{
			{Kind: backends.ObjectDatabase, Name: databaseName(req.Instance)},
			{Kind: backends.ObjectRole, Name: ownerName(req.Instance)},
		},
		Bindings: map[string][]backends.Object{},
	}
	for _, b := range req.Bindings {
		res.Bindings[b.ID] = []backends.Object{{Kind: backends.ObjectRole, Name: bindingName(req.Instance, b)}}
	}
	return res
}

const selectOwnerOf = `
SELECT o.rolname
FROM pg_auth_members a
JOIN pg_roles m ON m.oid = a.member
JOIN pg_roles o ON o.oid = a.roleid
WHERE m.rolname = $1
  AND o.rolname ~ '^ob_o_[0-9a-f]{24}$'
ORDER BY o.rolname
LIMIT 1`

// RemoveObject drops a database as Deprovision does, or a role as Unbind does: its logins and
// sessions end first, what a binding role owns in its instance's database is handed to the
// owner role (the instance's data stays), and what it owns elsewhere is dropped. It holds the
// lock of the instance the name belongs to, so it never interleaves with a call for it.
func (p *Postgres) RemoveObject(ctx context.Context, req backends.RemoveObjectRequest) error {
	n, err := p.nodes.Get(req.Node)
	if err != nil {
		return err
	}
	o := req.Object
	log := lagerctx.FromContext(ctx)
	switch {
	case o.Kind == backends.ObjectDatabase && backends.IsName("ob_", o.Name):
		return n.locked(ctx, o.Name, func(c *sql.Conn) error {
			exists, err := n.databaseExists(ctx, c, o.Name, "ob_o_"+o.Name[len("ob_"):])
			if backends.IsPermanent(err) {
				return backends.NotOurs(n.Name, o)
			}
			if err != nil || !exists {
				return err
			}
			return n.dropDatabase(ctx, log, c, o.Name)
		})
	case o.Kind == backends.ObjectRole && backends.IsName("ob_o_", o.Name):
		return n.locked(ctx, "ob_"+o.Name[len("ob_o_"):], func(c *sql.Conn) error {
			return n.removeRole(ctx, log, c, o.Name, "", "")
		})
	case o.Kind == backends.ObjectRole && backends.IsName("ob_b_", o.Name):
		var owner string
		err := n.DB.QueryRowContext(ctx, selectOwnerOf, o.Name).Scan(&owner)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return n.Fail("look up the owner role of role "+o.Name, err)
		}
		key := o.Name
		if owner != "" {
			key = "ob_" + strings.TrimPrefix(owner, "ob_o_")
		}
		return n.locked(ctx, key, func(c *sql.Conn) error {
			instanceDB := ""
			if owner != "" {
				if exists, err := n.databaseExists(ctx, c, key, owner); exists && err == nil {
					instanceDB = key
				} else if err != nil && !backends.IsPermanent(err) {
					return err
				}
			}
			return n.removeRole(ctx, log, c, o.Name, instanceDB, owner)
		})
	}
	return backends.NotOurs(n.Name, o)
}

// removeRole shuts role out, drops what it owns (handing what it owns in instanceDB, if not
// "", to owner) and drops it. A role that is gone counts as removed.
func (n *node) removeRole(ctx context.Context, log lager.Logger, c *sql.Conn, role, instanceDB, owner string) error {
	var exists bool
	if err := c.QueryRowContext(ctx, selectRoleExists, role).Scan(&exists); err != nil {
		return n.Fail("look up role "+role, err)
	}
	if !exists {
		return nil
	}
	if err := n.shutOut(ctx, log, c, []string{role}); err != nil {
		return err
	}
	if err := n.dropOwned(ctx, log, c, []string{role}, instanceDB, owner); err != nil {
		return err
	}
	return n.dropRole(ctx, log, c, role)
}
