package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/sqlnode"
)

// Bind creates the binding's user with b.Password, limited to the plan's max_user_connections,
// and grants it every privilege on the instance's database and on nothing else. A retry, or a
// call that raced another, sets the same password and limit again, and so does one after a
// call cut short between creating the user and granting it. The password reaches the server
// only as its mysql_native_password hash.
func (m *MySQL) Bind(ctx context.Context, req backends.BindRequest) (backends.BindResponse, error) {
	inst, b := req.Instance, req.Binding
	n, limit, err := m.settings(inst)
	if err != nil {
		return backends.BindResponse{}, err
	}
	if err := checkPassword(b.Password); err != nil {
		return backends.BindResponse{}, backends.PasswordUnusable("MariaDB", err)
	}
	db, user := databaseName(inst), backends.UserName(inst.ID, b)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db, "user": user})

	err = n.locked(ctx, db, func(c *sql.Conn) error {
		exists, err := n.databaseExists(ctx, c, db)
		if err != nil {
			return err
		}
		if !exists {
			return backends.Missing("database", db, n.Name)
		}
		userExists, err := n.bindingUser(ctx, c, user, db)
		if err != nil {
			return err
		}
		// The hash is upper-case hex: it needs no escaping.
		identified := ` IDENTIFIED BY PASSWORD '` + nativePasswordHash(b.Password) + `'` +
			` WITH MAX_USER_CONNECTIONS ` + strconv.Itoa(limit)
		if !userExists {
			if _, err := c.ExecContext(ctx, `CREATE USER IF NOT EXISTS `+account(user)+identified); err != nil {
				return n.Fail("create user "+user, err)
			}
			log.Info("user-created")
		}
		// Also after CREATE USER: IF NOT EXISTS leaves a user created meanwhile as it was.
		if _, err := c.ExecContext(ctx, `ALTER USER `+account(user)+identified); err != nil {
			return n.Fail("set the password of user "+user, err)
		}
		log.Info("user-password-set", lager.Data{"max-user-connections": limit})
		if _, err := c.ExecContext(ctx, `GRANT ALL PRIVILEGES ON `+quoteIdentifier(grantPattern(db))+`.* TO `+account(user)); err != nil {
			return n.Fail("grant user "+user+" its privileges on database "+db, err)
		}
		log.Info("privileges-granted")
		return nil
	})
	if err != nil {
		return backends.BindResponse{}, err
	}
	return backends.BindResponse{Credentials: n.credentials(db, user, b.Password)}, nil
}

const selectBindingUser = `
SELECT
    EXISTS (
        SELECT 1
        FROM mysql.user
        WHERE User = ?
          AND Host = '%'
    ),
    EXISTS (
        SELECT 1
        FROM mysql.db
        WHERE User = ?
          AND Host = '%'
          AND Db NOT IN (?, ?)
    )`

// bindingUser reports whether user exists; one that holds privileges on another database than
// db is a permanent error, since this broker did not create it for this instance.
func (n *node) bindingUser(ctx context.Context, c *sql.Conn, user, db string) (bool, error) {
	var exists, elsewhere bool
	err := c.QueryRowContext(ctx, selectBindingUser, user, user, grantPattern(db), db).Scan(&exists, &elsewhere)
	switch {
	case err != nil:
		return false, n.Fail("look up user "+user, err)
	case elsewhere:
		return true, backends.NameTaken("user", user, n.Name, "a user",
			fmt.Errorf("user %s holds privileges on a database other than %s", user, db))
	}
	return exists, nil
}

// credentials are what the application gets: hostname, port, name, username, password, uri
// and jdbcUrl, and the node's CA as certificates when it has one. When the admin URL insists
// on TLS, both URLs ask for TLS with the server's certificate and host name verified, as
// MySQL's clients spell it: ssl-mode=VERIFY_IDENTITY in the uri, sslMode in the jdbcUrl.
func (n *node) credentials(db, user, password string) backends.Credentials {
	d := sqlnode.Dialect{Scheme: "mysql", Query: "reconnect=true", Subprotocol: "mysql"}
	if n.clientTLS {
		d.Query += "&ssl-mode=VERIFY_IDENTITY"
		d.JDBCQuery = "sslMode=VERIFY_IDENTITY"
	}
	return n.Credentials(d, db, user, password)
}

// Unbind drops the binding's user, then ends its connections, so the application loses its
// access at once. A user that is already gone counts as unbound; one that holds privileges on
// another database is not this binding's and is left alone.
func (m *MySQL) Unbind(ctx context.Context, req backends.UnbindRequest) error {
	inst, b := req.Instance, req.Binding
	n, err := m.nodes.Get(inst.Node)
	if err != nil {
		return err
	}
	db, user := databaseName(inst), backends.UserName(inst.ID, b)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db, "user": user})

	return n.locked(ctx, db, func(c *sql.Conn) error {
		if _, err := n.bindingUser(ctx, c, user, db); err != nil {
			return err
		}
		return n.dropUser(ctx, log, c, user)
	})
}
