package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/omnibroker/omnibroker/backends"
)

// databaseName and ownerName derive the instance's object names from its id.
func databaseName(inst backends.Instance) string { return backends.Name("ob_", inst.ID) }
func ownerName(inst backends.Instance) string    { return backends.Name("ob_o_", inst.ID) }

// Provision creates the instance's owner role and database, keeps PUBLIC out of the database,
// sets the plan's connection limit and creates the requested extensions. The database is
// created closed to every session and opened only once PUBLIC has lost its access, so no one
// else can connect to it in between, not even after a crash half-way. It is idempotent; a
// database of that name owned by another role is a permanent error and is left alone.
func (p *Postgres) Provision(ctx context.Context, req backends.ProvisionRequest) (backends.ProvisionResponse, error) {
	inst := req.Instance
	n, limit, exts, err := p.settings(inst)
	if err != nil {
		return backends.ProvisionResponse{}, err
	}
	db, owner := databaseName(inst), ownerName(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db, "owner-role": owner})

	return backends.ProvisionResponse{}, n.locked(ctx, db, func(c *sql.Conn) error {
		exists, err := n.databaseExists(ctx, c, db, owner)
		if err != nil {
			return err
		}
		if err := n.createOwnerRole(ctx, log, c, owner); err != nil {
			return err
		}
		if !exists {
			if err := n.createDatabase(ctx, log, c, db, owner); err != nil {
				return err
			}
		}
		if err := n.openToBindings(ctx, log, c, db, limit); err != nil {
			return err
		}
		stmts := extensionStatements(exts)
		stmts = append(stmts,
			statement{`REVOKE ALL ON SCHEMA public FROM PUBLIC`, "revoke PUBLIC's access to schema public of database " + db},
			statement{`ALTER SCHEMA public OWNER TO ` + pq.QuoteIdentifier(owner), "give schema public of database " + db + " to its owner role"},
		)
		return n.execInDatabase(ctx, log, db, stmts)
	})
}

// Update applies the plan's connection limit and creates the extensions the plan and the user
// now ask for. It never drops an extension: data may depend on it. The binding roles are
// members of the owner role and take what it has, so they need nothing of their own.
func (p *Postgres) Update(ctx context.Context, req backends.UpdateRequest) (backends.UpdateResponse, error) {
	inst := req.Instance
	n, limit, exts, err := p.settings(inst)
	if err != nil {
		return backends.UpdateResponse{}, err
	}
	db, owner := databaseName(inst), ownerName(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db})

	return backends.UpdateResponse{}, n.locked(ctx, db, func(c *sql.Conn) error {
		exists, err := n.databaseExists(ctx, c, db, owner)
		if err != nil {
			return err
		}
		if !exists {
			return backends.Missing("database", db, n.Name)
		}
		if err := n.openToBindings(ctx, log, c, db, limit); err != nil {
			return err
		}
		return n.execInDatabase(ctx, log, db, extensionStatements(exts))
	})
}

// Deprovision first takes LOGIN away from the instance's binding roles (and its owner role)
// and ends their sessions, in every database, so that a failure further on leaves no way in.
// It then drops the instance's database, drops what these roles still own and revokes what
// they hold in every other database they reached (PUBLIC may connect to postgres and
// template1, where an application can leave default privileges or large objects), and drops
// the roles. What is already gone counts as done, so a re-run after a crash half-way finishes
// the job; a database of that name owned by another role is not this instance's and is left
// alone.
func (p *Postgres) Deprovision(ctx context.Context, req backends.DeprovisionRequest) error {
	inst := req.Instance
	n, err := p.nodes.Get(inst.Node)
	if err != nil {
		return err
	}
	db, owner := databaseName(inst), ownerName(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db, "owner-role": owner})

	return n.locked(ctx, db, func(c *sql.Conn) error {
		exists, err := n.databaseExists(ctx, c, db, owner)
		switch {
		case backends.IsPermanent(err):
			log.Info("database-not-ours-left-alone")
			exists = false
		case err != nil:
			return err
		}
		bindings, err := n.bindingRoles(ctx, c, owner)
		if err != nil {
			return err
		}
		var ownerExists bool
		if err := c.QueryRowContext(ctx, selectRoleExists, owner).Scan(&ownerExists); err != nil {
			return n.Fail("look up role "+owner, err)
		}
		roles := slices.Clone(bindings)
		if ownerExists {
			roles = append(roles, owner)
		}
		if err := n.shutOut(ctx, log, c, roles); err != nil {
			return err
		}
		if exists {
			if err := n.dropDatabase(ctx, log, c, db); err != nil {
				return err
			}
		}
		if err := n.dropOwned(ctx, log, c, roles, "", ""); err != nil {
			return err
		}
		for _, role := range bindings {
			if err := n.dropRole(ctx, log, c, role); err != nil {
				return err
			}
		}
		return n.dropRole(ctx, log, c, owner)
	})
}

const selectDatabaseOwner = `
SELECT pg_get_userbyid(datdba)
FROM pg_database
WHERE datname = $1`

// databaseExists reports whether database db exists; one owned by another role than owner is a
// permanent error, since the name is taken by something this broker did not create.
func (n *node) databaseExists(ctx context.Context, c *sql.Conn, db, owner string) (bool, error) {
	var got string
	err := c.QueryRowContext(ctx, selectDatabaseOwner, db).Scan(&got)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, n.Fail("look up database "+db, err)
	case got != owner:
		return true, backends.NameTaken("database", db, n.Name, "an object",
			fmt.Errorf("database %s is owned by role %s, not %s", db, got, owner))
	}
	return true, nil
}

const selectRoleExists = `
SELECT EXISTS (
    SELECT 1
    FROM pg_roles
    WHERE rolname = $1
)`

func (n *node) createOwnerRole(ctx context.Context, log lager.Logger, c *sql.Conn, owner string) error {
	var exists bool
	if err := c.QueryRowContext(ctx, selectRoleExists, owner).Scan(&exists); err != nil {
		return n.Fail("look up role "+owner, err)
	}
	if exists {
		return nil
	}
	_, err := c.ExecContext(ctx, `CREATE ROLE `+pq.QuoteIdentifier(owner)+` NOLOGIN`)
	// Another broker that does not share our lock (an older replica) may have created it
	// just now; a concurrent insert into pg_authid can also surface as a unique violation.
	if pq.As(err, pqerror.DuplicateObject, pqerror.UniqueViolation) != nil {
		return nil
	}
	if err != nil {
		return n.Fail("create role "+owner, err)
	}
	log.Info("owner-role-created")
	return nil
}

const selectTemplateLocale = `
SELECT datcollate, datctype
FROM pg_database
WHERE datname = 'template0'`

// createDatabase creates db from template0, because a session left open on template1 would
// block a copy of it, and closed to all connections: PUBLIC may connect to a new database until
// its access is revoked, and openToBindings opens it after that. CREATE DATABASE has no IF
// NOT EXISTS and cannot run in a transaction, so a duplicate is settled by looking at who owns
// the database that won.
func (n *node) createDatabase(ctx context.Context, log lager.Logger, c *sql.Conn, db, owner string) error {
	var collate, ctype string
	if err := c.QueryRowContext(ctx, selectTemplateLocale).Scan(&collate, &ctype); err != nil {
		return n.Fail("look up the locale of template0", err)
	}
	_, err := c.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(db)+
		` OWNER `+pq.QuoteIdentifier(owner)+
		` TEMPLATE template0 ENCODING 'UTF8' ALLOW_CONNECTIONS false`+
		` LC_COLLATE `+pq.QuoteLiteral(collate)+
		` LC_CTYPE `+pq.QuoteLiteral(ctype))
	if pq.As(err, pqerror.DuplicateDatabase, pqerror.DuplicateObject, pqerror.UniqueViolation) != nil {
		exists, err := n.databaseExists(ctx, c, db, owner)
		if err == nil && !exists {
			err = n.Fail("create database "+db, errors.New("database reported as duplicate but not found"))
		}
		return err
	}
	if err != nil {
		return n.Fail("create database "+db, err)
	}
	log.Info("database-created")
	return nil
}

// openToBindings revokes PUBLIC's access to db, then opens db to connections with the plan's
// connection limit: in this order, whatever state a crash left db in, only the instance's
// roles (and the admin) can ever connect to it.
func (n *node) openToBindings(ctx context.Context, log lager.Logger, c *sql.Conn, db string, limit int) error {
	if _, err := c.ExecContext(ctx, `REVOKE ALL ON DATABASE `+pq.QuoteIdentifier(db)+` FROM PUBLIC`); err != nil {
		return n.Fail("revoke PUBLIC's access to database "+db, err)
	}
	log.Info("public-access-revoked")
	_, err := c.ExecContext(ctx, `ALTER DATABASE `+pq.QuoteIdentifier(db)+
		` WITH ALLOW_CONNECTIONS true CONNECTION LIMIT `+strconv.Itoa(limit))
	if err != nil {
		return n.Fail("set the connection limit of database "+db, err)
	}
	log.Info("connection-limit-set", lager.Data{"connection-limit": limit})
	return nil
}

const terminateDatabaseSessions = `
SELECT count(pg_terminate_backend(pid))
FROM pg_stat_activity
WHERE datname = $1
  AND pid <> pg_backend_pid()`

// selectDatabaseInvalid tells whether a database is invalid: PostgreSQL (from 15.4) marks a
// database so, datconnlimit -2, before it removes its files, and a DROP DATABASE cancelled or
// ended after that (a lost lease, a shutdown) leaves it so.
const selectDatabaseInvalid = `
SELECT datconnlimit = -2
FROM pg_database
WHERE datname = $1`

// dropDatabase closes db to new sessions, ends those on it and drops it. An invalid database
// is dropped at once: it takes no session, and ALTER DATABASE on it is a FATAL error that
// ends the admin session, which lib/pq reports as nothing but driver.ErrBadConn, so that every
// retry of the deprovision would fail the same way.
func (n *node) dropDatabase(ctx context.Context, log lager.Logger, c *sql.Conn, db string) error {
	q := pq.QuoteIdentifier(db)
	var invalid bool
	err := c.QueryRowContext(ctx, selectDatabaseInvalid, db).Scan(&invalid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return n.Fail("look up database "+db, err)
	}
	ended := 0
	if !invalid {
		_, err := c.ExecContext(ctx, `ALTER DATABASE `+q+` WITH ALLOW_CONNECTIONS false CONNECTION LIMIT 0`)
		if err != nil && pq.As(err, pqerror.InvalidCatalogName) == nil {
			return n.Fail("close database "+db+" to new sessions", err)
		}
		if err := c.QueryRowContext(ctx, terminateDatabaseSessions, db).Scan(&ended); err != nil {
			return n.Fail("end the sessions on database "+db, err)
		}
	}
	if _, err := c.ExecContext(ctx, `DROP DATABASE IF EXISTS `+q+` WITH (FORCE)`); err != nil {
		return n.Fail("drop database "+db, err)
	}
	log.Info("database-dropped", lager.Data{"sessions-ended": ended, "was-invalid": invalid})
	return nil
}

const selectBindingRoles = `
SELECT coalesce(array_agg(DISTINCT m.rolname ORDER BY m.rolname), '{}')
FROM pg_auth_members a
JOIN pg_roles m ON m.oid = a.member
JOIN pg_roles o ON o.oid = a.roleid
WHERE o.rolname = $1
  AND starts_with(m.rolname, 'ob_b_')`

// bindingRoles lists the binding roles that are members of owner. Unbind makes a role NOLOGIN
// before it drops it, so an interrupted unbind leaves a NOLOGIN member: it is listed too.
func (n *node) bindingRoles(ctx context.Context, c *sql.Conn, owner string) ([]string, error) {
	var roles []string
	if err := c.QueryRowContext(ctx, selectBindingRoles, owner).Scan(pq.Array(&roles)); err != nil {
		return nil, n.Fail("list the binding roles of role "+owner, err)
	}
	return roles, nil
}

func (n *node) dropRole(ctx context.Context, log lager.Logger, c *sql.Conn, role string) error {
	var ended int
	if err := c.QueryRowContext(ctx, terminateRoleSessions, pq.Array([]string{role})).Scan(&ended); err != nil {
		return n.Fail("end the sessions of role "+role, err)
	}
	if _, err := c.ExecContext(ctx, `DROP ROLE IF EXISTS `+pq.QuoteIdentifier(role)); err != nil {
		if pq.As(err, pqerror.DependentObjectsStillExist) != nil {
			return n.Fail("drop role "+role, backends.Transient(
				fmt.Sprintf("role %s on node %s still owns objects or holds privileges that the broker could not remove, such as in a database that allows no connections", role, n.Name), err))
		}
		return n.Fail("drop role "+role, err)
	}
	log.Info("role-dropped", lager.Data{"role": role, "sessions-ended": ended})
	return nil
}

type statement struct {
	sql    string
	action string
}

func extensionStatements(exts []string) []statement {
	stmts := make([]statement, 0, len(exts))
	for _, e := range exts {
		stmts = append(stmts, statement{`CREATE EXTENSION IF NOT EXISTS ` + pq.QuoteIdentifier(e), "create extension " + e})
	}
	return stmts
}

// execInDatabase runs stmts in database db as the admin, one after the other, on a connection
// of its own that is closed afterwards, so no idle session stays on the instance's database.
func (n *node) execInDatabase(ctx context.Context, log lager.Logger, db string, stmts []statement) error {
	if len(stmts) == 0 {
		return nil
	}
	if err := n.runInDatabase(ctx, db, stmts); err != nil {
		return err
	}
	log.Info("database-set-up", lager.Data{"statements": len(stmts)})
	return nil
}

// runInDatabase is execInDatabase without the log line.
func (n *node) runInDatabase(ctx context.Context, db string, stmts []statement) error {
	pool, err := n.openDatabase(db)
	if err != nil {
		return n.Fail("connect to database "+db, err)
	}
	defer pool.Close()
	for _, s := range stmts {
		if _, err := pool.ExecContext(ctx, s.sql); err != nil {
			return n.Fail(s.action, err)
		}
	}
	return nil
}

// settings reads what Provision and Update apply, before any connection is made: the node,
// the plan's connection limit and the extensions of the plan and of the user's asking.
func (p *Postgres) settings(inst backends.Instance) (*node, int, []string, error) {
	n, err := p.nodes.Get(inst.Node)
	if err != nil {
		return nil, 0, nil, err
	}
	limit, err := connectionLimit(inst.Plan, inst.PlanConfig)
	if err != nil {
		return nil, 0, nil, err
	}
	exts, err := extensions(inst)
	if err != nil {
		return nil, 0, nil, err
	}
	return n, limit, exts, nil
}
