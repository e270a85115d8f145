package postgres

import (
	"context"
	"database/sql"
	"strings"

	"code.cloudfoundry.org/lager/v3"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// A binding role may connect to every database PUBLIC may connect to (postgres and template1
// by default), and there, as itself or as the owner role it acts as, leave objects that depend
// on the role: default privileges and large objects need no privilege at all, tables need
// CREATE on a schema. DROP ROLE fails while anything depends on the role, in any database, so
// Unbind and Deprovision clean every database where the catalog records a dependency.

const terminateRoleSessions = `
SELECT count(pg_terminate_backend(pid))
FROM pg_stat_activity
WHERE usename = ANY($1)
  AND pid <> pg_backend_pid()`

// shutOut takes LOGIN away from roles and ends their sessions on every database, so that what
// follows can fail half-way without leaving a way in. A role already gone is skipped.
func (n *node) shutOut(ctx context.Context, log lager.Logger, c *sql.Conn, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	for _, role := range roles {
		_, err := c.ExecContext(ctx, `ALTER ROLE `+pq.QuoteIdentifier(role)+` NOLOGIN`)
		if err != nil && pq.As(err, pqerror.UndefinedObject) == nil {
			return n.Fail("stop role "+role+" from logging in", err)
		}
	}
	var ended int
	if err := c.QueryRowContext(ctx, terminateRoleSessions, pq.Array(roles)).Scan(&ended); err != nil {
		return n.Fail("end the sessions of "+describeRoles(roles), err)
	}
	log.Info("roles-shut-out", lager.Data{"roles": roles, "sessions-ended": ended})
	return nil
}

// selectDependentDatabases lists the databases where any role of $1 owns an object or holds a
// privilege, and database $2 whether or not it does. A dependency on a shared object (a
// privilege on a database, say) is listed under the admin connection's own database, since
// DROP OWNED revokes those in whichever database it runs.
const selectDependentDatabases = `
SELECT d.datname, d.datallowconn, d.datname = current_database()
FROM pg_database d
WHERE d.datname = $2
   OR EXISTS (
        SELECT 1
        FROM pg_shdepend s
        WHERE s.refclassid = 'pg_authid'::regclass
          AND s.refobjid IN (SELECT oid FROM pg_roles WHERE rolname = ANY($1))
          AND (s.dbid = d.oid OR (s.dbid = 0 AND d.datname = current_database())))
ORDER BY d.datname`

type dependentDatabase struct {
	name      string
	allowConn bool
	current   bool // the database of the admin connection
}

func (n *node) dependentDatabases(ctx context.Context, c *sql.Conn, roles []string, instanceDB string) ([]dependentDatabase, error) {
	rows, err := c.QueryContext(ctx, selectDependentDatabases, pq.Array(roles), instanceDB)
	if err != nil {
		return nil, n.Fail("list the databases where "+describeRoles(roles)+" "+own(roles)+" objects", err)
	}
	defer rows.Close()
	var dbs []dependentDatabase
	for rows.Next() {
		var d dependentDatabase
		if err := rows.Scan(&d.name, &d.allowConn, &d.current); err != nil {
			return nil, n.Fail("list the databases where "+describeRoles(roles)+" "+own(roles)+" objects", err)
		}
		dbs = append(dbs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, n.Fail("list the databases where "+describeRoles(roles)+" "+own(roles)+" objects", err)
	}
	return dbs, nil
}

// dropOwned removes what roles own and revokes what they hold, in every database where they
// have any and in instanceDB (the instance's own database, "" if there is none). In instanceDB,
// what they own is the instance's data: it is first handed to owner with REASSIGN OWNED. In any
// other database it is not, and DROP OWNED drops it. The roles must be shut out already.
// Databases that allow no connections (template0) are skipped: DROP ROLE then says what is left.
func (n *node) dropOwned(ctx context.Context, log lager.Logger, c *sql.Conn, roles []string, instanceDB, owner string) error {
	if len(roles) == 0 {
		return nil
	}
	dbs, err := n.dependentDatabases(ctx, c, roles, instanceDB)
	if err != nil {
		return err
	}
	quoted := make([]string, len(roles))
	for i, r := range roles {
		quoted[i] = pq.QuoteIdentifier(r)
	}
	by := strings.Join(quoted, ", ")
	for _, d := range dbs {
		if !d.allowConn {
			log.Info("database-without-connections-skipped", lager.Data{"in-database": d.name})
			continue
		}
		var stmts []statement
		reassign := d.name == instanceDB
		if reassign {
			stmts = append(stmts, statement{`REASSIGN OWNED BY ` + by + ` TO ` + pq.QuoteIdentifier(owner),
				"hand what " + describeRoles(roles) + " " + own(roles) + " in database " + d.name + " to role " + owner})
		}
		stmts = append(stmts, statement{`DROP OWNED BY ` + by,
			"drop what " + describeRoles(roles) + " " + own(roles) + " in database " + d.name})
		if d.current {
			err = n.execOn(ctx, c, stmts)
		} else {
			err = n.runInDatabase(ctx, d.name, stmts)
		}
		// Dropped or closed since it was listed: DROP ROLE says so if that leaves anything.
		if pq.As(err, pqerror.InvalidCatalogName, pqerror.ObjectNotInPrerequisiteState) != nil {
			log.Info("database-gone-skipped", lager.Data{"in-database": d.name})
			continue
		}
		if err != nil {
			return err
		}
		log.Info("owned-objects-dropped", lager.Data{"in-database": d.name, "reassigned": reassign})
	}
	return nil
}

func (n *node) execOn(ctx context.Context, c *sql.Conn, stmts []statement) error {
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s.sql); err != nil {
			return n.Fail(s.action, err)
		}
	}
	return nil
}

func describeRoles(roles []string) string {
	if len(roles) == 1 {
		return "role " + roles[0]
	}
	return "roles " + strings.Join(roles, ", ")
}

func own(roles []string) string {
	if len(roles) == 1 {
		return "owns"
	}
	return "own"
}
