package mysql

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"
	gomysql "github.com/go-sql-driver/mysql"

	"github.com/omnibroker/omnibroker/backends"
)

// databaseName derives the instance's database name from its id.
func databaseName(inst backends.Instance) string { return backends.Name("ob_", inst.ID) }

// grantPattern is database db as GRANT and mysql.db spell it. There a database name is a LIKE
// pattern: unescaped, the underscore of "ob_" matches any character, and a binding could
// create databases beside its own (obX…) and fill them.
func grantPattern(db string) string {
	return strings.NewReplacer(`\`, `\\`, `_`, `\_`, `%`, `\%`).Replace(db)
}

// Provision creates the instance's database in utf8mb4. It is idempotent: a database of that
// name is taken to be this instance's, since the name is a hash of its id. The plan's settings
// are checked first, so that a plan that could never be bound fails before anything is made.
func (m *MySQL) Provision(ctx context.Context, req backends.ProvisionRequest) (backends.ProvisionResponse, error) {
	inst := req.Instance
	n, _, err := m.settings(inst)
	if err != nil {
		return backends.ProvisionResponse{}, err
	}
	db := databaseName(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db})

	return backends.ProvisionResponse{}, n.locked(ctx, db, func(c *sql.Conn) error {
		res, err := c.ExecContext(ctx, `CREATE DATABASE IF NOT EXISTS `+quoteIdentifier(db)+` CHARACTER SET utf8mb4`)
		if err != nil {
			return n.Fail("create database "+db, err)
		}
		if created, _ := res.RowsAffected(); created > 0 {
			log.Info("database-created")
		} else {
			log.Info("database-exists")
		}
		return nil
	})
}

// Update applies the new plan's max_user_connections to the users of the instance's existing
// bindings; the database itself has nothing a plan changes.
func (m *MySQL) Update(ctx context.Context, req backends.UpdateRequest) (backends.UpdateResponse, error) {
	inst := req.Instance
	n, limit, err := m.settings(inst)
	if err != nil {
		return backends.UpdateResponse{}, err
	}
	db := databaseName(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db})

	return backends.UpdateResponse{}, n.locked(ctx, db, func(c *sql.Conn) error {
		exists, err := n.databaseExists(ctx, c, db)
		if err != nil {
			return err
		}
		if !exists {
			return backends.Missing("database", db, n.Name)
		}
		users, err := n.recordedUsers(ctx, log, c, inst, req.Bindings, db)
		if err != nil {
			return err
		}
		for _, user := range users {
			_, err := c.ExecContext(ctx, `ALTER USER IF EXISTS `+account(user)+` WITH MAX_USER_CONNECTIONS `+strconv.Itoa(limit))
			if err != nil {
				return n.Fail("set the connection limit of user "+user, err)
			}
		}
		log.Info("connection-limit-set", lager.Data{"max-user-connections": limit, "users": len(users)})
		return nil
	})
}

// Deprovision drops the users of the instance's recorded bindings (see recordedUsers) and ends their
// connections, ends every other connection that uses the database, and drops it. Users go
// first, so that a failure further on leaves no way in. What is already gone counts as done,
// so a re-run after a crash half-way finishes the job. Only users this broker names are
// dropped; any other user an operator granted access to the database keeps its account.
func (m *MySQL) Deprovision(ctx context.Context, req backends.DeprovisionRequest) error {
	inst := req.Instance
	n, err := m.nodes.Get(inst.Node)
	if err != nil {
		return err
	}
	db := databaseName(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db})

	return n.locked(ctx, db, func(c *sql.Conn) error {
		users, err := n.recordedUsers(ctx, log, c, inst, req.Bindings, db)
		if err != nil {
			return err
		}
		for _, user := range users {
			if err := n.dropUser(ctx, log, c, user); err != nil {
				return err
			}
		}
		return n.dropDatabase(ctx, log.WithData(lager.Data{"users-dropped": len(users)}), c, db)
	})
}

// dropDatabase ends every other connection that uses db and drops it; one that is gone counts
// as dropped.
func (n *node) dropDatabase(ctx context.Context, log lager.Logger, c *sql.Conn, db string) error {
	ended, err := n.kill(ctx, c, selectDatabaseSessions, db, "end the connections to database "+db)
	if err != nil {
		return err
	}
	if _, err := c.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdentifier(db)); err != nil {
		return n.Fail("drop database "+db, err)
	}
	log.Info("database-dropped", lager.Data{"database": db, "connections-ended": ended})
	return nil
}

const selectDatabaseExists = `
SELECT COUNT(*)
FROM information_schema.SCHEMATA
WHERE SCHEMA_NAME = ?`

func (n *node) databaseExists(ctx context.Context, c *sql.Conn, db string) (bool, error) {
	var count int
	if err := c.QueryRowContext(ctx, selectDatabaseExists, db).Scan(&count); err != nil {
		return false, n.Fail("look up database "+db, err)
	}
	return count > 0, nil
}

// selectRecordedUsers takes the database's GRANT pattern and name (the name too, should one
// have been granted unescaped by hand), then the user names to look for; the list of their
// placeholders and the closing parenthesis follow.
const selectRecordedUsers = `
SELECT
    u.User,
    EXISTS (
        SELECT 1
        FROM mysql.db d
        WHERE d.User = u.User
          AND d.Host = '%'
          AND d.Db NOT IN (?, ?)
    )
FROM mysql.user u
WHERE u.Host = '%'
  AND u.User IN (`

// recordedUsers lists the users of the instance's recorded bindings that exist, found by their
// exact names, with privileges or without, as a Bind cut short between CREATE USER and GRANT
// leaves them. A user that holds privileges on another database is not the instance's: it is
// left out, and logged.
func (n *node) recordedUsers(ctx context.Context, log lager.Logger, c *sql.Conn, inst backends.Instance, bindings []backends.Binding, db string) ([]string, error) {
	if len(bindings) == 0 {
		return nil, nil
	}
	args := []any{grantPattern(db), db}
	for _, b := range bindings {
		args = append(args, backends.UserName(inst.ID, b))
	}
	query := selectRecordedUsers + strings.Repeat("?, ", len(bindings)-1) + "?)\nORDER BY u.User"
	rows, err := c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, n.Fail("list the users of database "+db, err)
	}
	defer rows.Close()
	var users []string
	for rows.Next() {
		var (
			user      string
			elsewhere bool
		)
		if err := rows.Scan(&user, &elsewhere); err != nil {
			return nil, n.Fail("list the users of database "+db, err)
		}
		if elsewhere {
			log.Info("user-not-ours-left-alone", lager.Data{"user": user})
			continue
		}
		users = append(users, user)
	}
	if err := rows.Err(); err != nil {
		return nil, n.Fail("list the users of database "+db, err)
	}
	return users, nil
}

// dropUser drops user, then ends its connections: in this order no new one can start in
// between. A user already gone still has its connections ended, in case a crash came between.
func (n *node) dropUser(ctx context.Context, log lager.Logger, c *sql.Conn, user string) error {
	if _, err := c.ExecContext(ctx, `DROP USER IF EXISTS `+account(user)); err != nil {
		return n.Fail("drop user "+user, err)
	}
	ended, err := n.kill(ctx, c, selectUserSessions, user, "end the connections of user "+user)
	if err != nil {
		return err
	}
	log.Info("user-dropped", lager.Data{"user": user, "connections-ended": ended})
	return nil
}

const selectUserSessions = `
SELECT ID
FROM information_schema.PROCESSLIST
WHERE USER = ?
  AND ID <> CONNECTION_ID()`

const selectDatabaseSessions = `
SELECT ID
FROM information_schema.PROCESSLIST
WHERE DB = ?
  AND ID <> CONNECTION_ID()`

// kill ends the connections that query lists for arg and returns how many it ended. One that
// ended by itself meanwhile counts as ended.
func (n *node) kill(ctx context.Context, c *sql.Conn, query, arg, action string) (int, error) {
	rows, err := c.QueryContext(ctx, query, arg)
	if err != nil {
		return 0, n.Fail(action, err)
	}
	var ids []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return 0, n.Fail(action, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, n.Fail(action, err)
	}
	if err := rows.Err(); err != nil {
		return 0, n.Fail(action, err)
	}
	for _, id := range ids {
		_, err := c.ExecContext(ctx, `KILL CONNECTION ?`, id)
		if e, ok := errors.AsType[*gomysql.MySQLError](err); ok && e.Number == erNoSuchThread {
			continue
		}
		if err != nil {
			return 0, n.Fail(action, err)
		}
	}
	return len(ids), nil
}

// settings reads what Provision, Update and Bind apply, before any connection is made: the
// node and the plan's max_user_connections.
func (m *MySQL) settings(inst backends.Instance) (*node, int, error) {
	n, err := m.nodes.Get(inst.Node)
	if err != nil {
		return nil, 0, err
	}
	limit, err := maxUserConnections(inst.Plan, inst.PlanConfig)
	if err != nil {
		return nil, 0, err
	}
	return n, limit, nil
}
