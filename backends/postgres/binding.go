package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/sqlnode"
)

func bindingName(inst backends.Instance, b backends.Binding) string {
	return backends.Name("ob_b_", inst.ID, b.ID)
}

// Bind creates the binding's LOGIN role as a member of the instance's owner role, with
// b.Password, and makes its sessions act as the owner role, so that what one application
// creates is owned by the instance and usable by the next. A retry sets the same password
// again. The password reaches the server only as a SCRAM-SHA-256 verifier.
func (p *Postgres) Bind(ctx context.Context, req backends.BindRequest) (backends.BindResponse, error) {
	inst, b := req.Instance, req.Binding
	n, err := p.nodes.Get(inst.Node)
	if err != nil {
		return backends.BindResponse{}, err
	}
	verifier, err := scramVerifier(b.Password)
	if err != nil {
		return backends.BindResponse{}, backends.PasswordUnusable("PostgreSQL", err)
	}
	db, owner, role := databaseName(inst), ownerName(inst), bindingName(inst, b)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db, "role": role})

	err = n.locked(ctx, db, func(c *sql.Conn) error {
		exists, err := n.databaseExists(ctx, c, db, owner)
		if err != nil {
			return err
		}
		if !exists {
			return backends.Missing("database", db, n.Name)
		}
		if err := n.createBindingRole(ctx, log, c, role, owner, verifier); err != nil {
			return err
		}
		_, err = c.ExecContext(ctx, `ALTER ROLE `+pq.QuoteIdentifier(role)+` SET role = `+pq.QuoteLiteral(owner))
		if err != nil {
			return n.Fail("make role "+role+" act as role "+owner, err)
		}
		return nil
	})
	if err != nil {
		return backends.BindResponse{}, err
	}
	return backends.BindResponse{Credentials: n.credentials(db, role, b.Password)}, nil
}

const selectBindingRole = `
SELECT EXISTS (
    SELECT 1
    FROM pg_auth_members a
    JOIN pg_roles o ON o.oid = a.roleid
    WHERE a.member = r.oid
      AND o.rolname = $2
)
FROM pg_roles r
WHERE r.rolname = $1`

// bindingRole reports whether role exists; one that exists but is not a member of owner is a
// permanent error, since this broker did not create it for this instance.
func (n *node) bindingRole(ctx context.Context, c *sql.Conn, role, owner string) (bool, error) {
	var member bool
	err := c.QueryRowContext(ctx, selectBindingRole, role, owner).Scan(&member)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, n.Fail("look up role "+role, err)
	case !member:
		return true, backends.NameTaken("role", role, n.Name, "a role",
			fmt.Errorf("role %s is not a member of role %s", role, owner))
	}
	return true, nil
}

func (n *node) createBindingRole(ctx context.Context, log lager.Logger, c *sql.Conn, role, owner, verifier string) error {
	exists, err := n.bindingRole(ctx, c, role, owner)
	if err != nil {
		return err
	}
	if !exists {
		_, err := c.ExecContext(ctx, `CREATE ROLE `+pq.QuoteIdentifier(role)+
			` WITH LOGIN INHERIT PASSWORD `+pq.QuoteLiteral(verifier)+
			` IN ROLE `+pq.QuoteIdentifier(owner))
		if err == nil {
			log.Info("binding-role-created")
			return nil
		}
		if pq.As(err, pqerror.DuplicateObject, pqerror.UniqueViolation) == nil {
			return n.Fail("create role "+role, err)
		}
		// Created concurrently by a caller outside our lock: it must be ours to reuse it.
		if _, err := n.bindingRole(ctx, c, role, owner); err != nil {
			return err
		}
	}
	_, err = c.ExecContext(ctx, `ALTER ROLE `+pq.QuoteIdentifier(role)+
		` WITH LOGIN INHERIT PASSWORD `+pq.QuoteLiteral(verifier))
	if err != nil {
		return n.Fail("set the password of role "+role, err)
	}
	log.Info("binding-role-password-set")
	return nil
}

// credentials are what the application gets: hostname, port, name, username, password, uri
// and jdbcUrl, and the node's CA as certificates when it has one. The uri asks for
// sslmode=disable only when the broker's own admin URL does, and both URLs for
// sslmode=verify-full when the admin URL insists on TLS.
func (n *node) credentials(db, role, password string) backends.Credentials {
	d := sqlnode.Dialect{Scheme: "postgres", Subprotocol: "postgresql"}
	switch {
	case n.sslDisable:
		d.Query = "sslmode=disable"
	case n.clientTLS:
		d.Query, d.JDBCQuery = "sslmode=verify-full", "sslmode=verify-full"
	}
	return n.Credentials(d, db, role, password)
}

// Unbind takes LOGIN away from the binding role and ends its sessions, hands what it owns in
// the instance's database to the instance's owner role, drops what it owns and revokes what it
// holds in every other database it reached (see dropOwned), and drops it. It is not one
// transaction, so that a failure half-way still revokes what it can: the role loses LOGIN
// first. A role that is already gone counts as unbound.
func (p *Postgres) Unbind(ctx context.Context, req backends.UnbindRequest) error {
	inst, b := req.Instance, req.Binding
	n, err := p.nodes.Get(inst.Node)
	if err != nil {
		return err
	}
	db, owner, role := databaseName(inst), ownerName(inst), bindingName(inst, b)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"database": db, "role": role})

	return n.locked(ctx, db, func(c *sql.Conn) error {
		exists, err := n.bindingRole(ctx, c, role, owner)
		if err != nil || !exists {
			return err
		}
		// Its sessions go before REASSIGN OWNED, which would otherwise wait on their locks.
		if err := n.shutOut(ctx, log, c, []string{role}); err != nil {
			return err
		}
		dbExists, err := n.databaseExists(ctx, c, db, owner)
		if err != nil && !backends.IsPermanent(err) {
			return err
		}
		instanceDB := ""
		if dbExists && err == nil {
			instanceDB = db
		}
		if err := n.dropOwned(ctx, log, c, []string{role}, instanceDB, owner); err != nil {
			return err
		}
		return n.dropRole(ctx, log, c, role)
	})
}
