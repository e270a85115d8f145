package postgres_test

import (
	"context"
	"database/sql"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

var _ = Describe("Bind", func() {
	It("returns credentials with which an application creates a table that the next binding can use", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		_, uri, app1, _ := suite.ExpectBindsSharingTables(ctx, inst, expectedCredentials(inst), mustLogin, `CREATE TABLE notes (id serial PRIMARY KEY, body text)`, "from app 1")
		Expect(uri.Query().Get("sslmode")).To(Equal("disable"))

		var tableOwner string
		Expect(app1.QueryRowContext(ctx, `SELECT tableowner FROM pg_tables WHERE tablename = 'notes'`).Scan(&tableOwner)).To(Succeed())
		Expect(tableOwner).To(Equal(ownerName(inst)))
	})

	It("sets the same password again when retried", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		b, first := suite.Bound(ctx, inst)

		again, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(Equal(first))
		mustLogin(ctx, again)
	})

	It("stores a SCRAM-SHA-256 verifier, never the password, and logs no password", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		b, _ := suite.Bound(ctx, inst)

		var stored string
		Expect(suite.Admin.QueryRowContext(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, bindingName(inst, b)).Scan(&stored)).To(Succeed())
		Expect(stored).To(HavePrefix("SCRAM-SHA-256$4096:"))
		Expect(stored).NotTo(ContainSubstring(b.Password))
		Expect(string(suite.Logger.Buffer().Contents())).To(ContainSubstring("binding-role-created"))
		Expect(string(suite.Logger.Buffer().Contents())).NotTo(ContainSubstring(b.Password))
	})

	It("gives no access to another instance's database", func(ctx SpecContext) {
		a := provisioned(ctx, nil)
		b := provisioned(ctx, nil)
		_, credsA := suite.Bound(ctx, a)

		_, err := login(ctx, withDatabase(credsA["uri"].(string), databaseName(b)))
		Expect(pq.As(err, pqerror.InsufficientPrivilege)).NotTo(BeNil(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("permission denied for database"))
	})

	It("fails permanently for an instance that has no database", func(ctx SpecContext) {
		inst := newInstance(nil)
		_, err := suite.Calls().Bind(suite.Logged(ctx), inst, newBinding())
		Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
	})
})

var _ = Describe("Unbind", func() {
	suite.ItUnbinds("ends the binding's sessions and logins, and keeps what it created for the other bindings",
		func(ctx context.Context) backends.Instance { return provisioned(ctx, nil) },
		func(ctx context.Context, inst backends.Instance, first, other backendtest.Bound) backendtest.Unbound {
			session := backendtest.LiveSession(ctx, mustLogin(ctx, first.Credentials))
			// An object the binding role owns itself, not through the owner role: REASSIGN OWNED
			// moves it. (RESET ROLE would return to the role's default, the owner role.)
			_, err := session.ExecContext(ctx, `SET ROLE NONE`)
			Expect(err).NotTo(HaveOccurred())
			_, err = session.ExecContext(ctx, `CREATE TABLE own (body text); INSERT INTO own VALUES ('mine')`)
			Expect(err).NotTo(HaveOccurred())
			inDatabase := adminIn(ctx, databaseName(inst))
			Expect(tableOwner(ctx, inDatabase, "own")).To(Equal(bindingName(inst, first.Binding)))
			Expect(tableOwner(ctx, inDatabase, "kept_open")).To(Equal(ownerName(inst)))
			return backendtest.Unbound{
				Ended: func(ctx context.Context) { Expect(session.PingContext(ctx)).NotTo(Succeed()) },
				Gone: func(ctx context.Context) {
					_, err := login(ctx, first.Credentials["uri"].(string))
					Expect(err).To(HaveOccurred())
					Expect(roleExists(ctx, bindingName(inst, first.Binding))).To(BeFalse())
				},
				Kept: func(ctx context.Context) {
					app2 := mustLogin(ctx, other.Credentials)
					var n int
					Expect(app2.QueryRowContext(ctx, `SELECT count(*) FROM kept_open`).Scan(&n)).To(Succeed())
					var body string
					Expect(app2.QueryRowContext(ctx, `SELECT body FROM own`).Scan(&body)).To(Succeed())
					Expect(body).To(Equal("mine"))
					Expect(tableOwner(ctx, app2, "own")).To(Equal(ownerName(inst)))
					_, err := app2.ExecContext(ctx, `INSERT INTO own VALUES ('theirs')`)
					Expect(err).NotTo(HaveOccurred())
				},
			}
		})
})

func tableOwner(ctx context.Context, db *sql.DB, table string) string {
	var owner string
	Expect(db.QueryRowContext(ctx, `SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = $1`, table).Scan(&owner)).To(Succeed())
	return owner
}

// expectedCredentials says what the credentials of a binding of inst hold.
func expectedCredentials(inst backends.Instance) func(backends.Binding) backendtest.SQLCredentials {
	return func(b backends.Binding) backendtest.SQLCredentials {
		return backendtest.SQLCredentials{Type: "postgresql", Host: "127.0.0.1", Port: 5432, Name: databaseName(inst),
			Username: bindingName(inst, b), Password: b.Password, Scheme: "postgres", JDBC: "postgresql"}
	}
}
