package mysql_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/mysql"
)

var _ = Describe("Bind", func() {
	It("returns credentials with which an application creates a table that the next binding can use", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		b1, uri, _, app2 := suite.ExpectBindsSharingTables(ctx, inst, expectedCredentials(inst), mustLogin, `CREATE TABLE notes (id int AUTO_INCREMENT PRIMARY KEY, body text)`, "from app 1 😀")
		Expect(uri.RawQuery).To(Equal("reconnect=true"))
		Expect(userName(inst, b1)).To(MatchRegexp(`^ob_[a-z2-7]{26}$`))
		Expect(len(userName(inst, b1))).To(BeNumerically("<=", 32))

		var body string
		Expect(app2.QueryRowContext(ctx, `SELECT body FROM notes WHERE id = 1`).Scan(&body)).To(Succeed())
		Expect(body).To(Equal("from app 1 😀"))
	})

	It("sets the same password again when retried, even after the password was changed", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		b, first := suite.Bound(ctx, inst)
		adminExec(ctx, "ALTER USER `"+userName(inst, b)+"`@'%' IDENTIFIED BY 'changedByHand123'")
		_, err := login(ctx, first, "")
		Expect(err).To(HaveOccurred())

		again, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
		Expect(err).NotTo(HaveOccurred())
		for _, key := range []string{"hostname", "port", "name", "username"} {
			Expect(again[key]).To(Equal(first[key]), key)
		}
		for _, key := range []string{"password", "uri", "jdbcUrl"} {
			Expect(again[key] == first[key]).To(BeTrue(), "%s differs", key)
		}
		mustLogin(ctx, again)
	})

	When("two workers bind the same binding at once", func() {
		It("succeeds for both with one user that logs in", func(ctx SpecContext) {
			inst := provisioned(ctx, nil)
			b := newBinding()
			var wg sync.WaitGroup
			creds := make([]backends.Credentials, 2)
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() { creds[i], errs[i] = suite.Calls().Bind(suite.Logged(ctx), inst, b) })
			}
			wg.Wait()
			Expect(errs[0]).NotTo(HaveOccurred())
			Expect(errs[1]).NotTo(HaveOccurred())
			var users int
			Expect(suite.Admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM mysql.user WHERE User = ?`, userName(inst, b)).Scan(&users)).To(Succeed())
			Expect(users).To(Equal(1))
			mustLogin(ctx, creds[0])
			mustLogin(ctx, creds[1])
		})
	})

	It("limits the user to the plan's max_user_connections", func(ctx SpecContext) {
		inst := provisioned(ctx, map[string]any{"max_user_connections": float64(2)})
		_, creds := suite.Bound(ctx, inst)
		app := mustLogin(ctx, creds)
		var conns []*sql.Conn
		for range 2 {
			conns = append(conns, backendtest.Session(ctx, app))
		}
		_, err := app.Conn(ctx)
		Expect(serverError(err)).To(BeEquivalentTo(1226), "%v", err) // ER_USER_LIMIT_REACHED
		Expect(conns).To(HaveLen(2))
	})

	It("stores the password's hash, never the password, and logs no password", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		b, _ := suite.Bound(ctx, inst)

		var stored, serverHash, plugin string
		Expect(suite.Admin.QueryRowContext(ctx, `SELECT authentication_string, plugin, PASSWORD(?) FROM mysql.user WHERE User = ? AND Host = '%'`,
			b.Password, userName(inst, b)).Scan(&stored, &plugin, &serverHash)).To(Succeed())
		Expect(stored == serverHash).To(BeTrue(), "the stored hash is not PASSWORD() of the binding's password")
		Expect(mysql.NativePasswordHash(b.Password) == serverHash).To(BeTrue(), "the hash differs from PASSWORD()")
		Expect(plugin).To(Equal("mysql_native_password"))
		Expect(string(suite.Logger.Buffer().Contents())).To(ContainSubstring("user-created"))
		backendtest.ExpectHidden(string(suite.Logger.Buffer().Contents()), b.Password, "the log")
	})

	It("gives no sight of, or access to, another instance's database, and no way to create one", func(ctx SpecContext) {
		a := provisioned(ctx, nil)
		other := provisioned(ctx, nil)
		_, credsA := suite.Bound(ctx, a)
		adminExec(ctx, "CREATE TABLE `"+databaseName(other)+"`.secrets (s text)")

		app := mustLogin(ctx, credsA)
		Expect(backendtest.QueryStrings(ctx, app, `SHOW DATABASES`)).To(ConsistOf("information_schema", databaseName(a)))

		session := backendtest.Session(ctx, app)
		_, err := session.ExecContext(ctx, "USE `"+databaseName(other)+"`")
		Expect(serverError(err)).To(BeEquivalentTo(1044), "%v", err)
		_, err = session.ExecContext(ctx, "SELECT * FROM `"+databaseName(other)+"`.secrets")
		Expect(serverError(err)).To(BeEquivalentTo(1142), "%v", err)
		_, err = login(ctx, credsA, databaseName(other))
		Expect(serverError(err)).To(BeEquivalentTo(1044), "%v", err)

		// "_" matches any character in a database-level grant unless escaped.
		sibling := "obX" + strings.TrimPrefix(databaseName(a), "ob_")
		DeferCleanup(func(ctx SpecContext) { adminExec(ctx, "DROP DATABASE IF EXISTS `"+sibling+"`") })
		_, err = session.ExecContext(ctx, "CREATE DATABASE `"+sibling+"`")
		Expect(serverError(err)).To(BeEquivalentTo(1044), "%v", err)
	})

	It("fails permanently for an instance that has no database", func(ctx SpecContext) {
		inst := newInstance(nil)
		_, err := suite.Calls().Bind(suite.Logged(ctx), inst, newBinding())
		Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
		Expect(backendtest.Description(err)).To(ContainSubstring("does not exist on node mysql-local"))
	})

	When("a user of that name holds privileges on another database", func() {
		It("fails permanently, and Unbind leaves that user alone", func(ctx SpecContext) {
			inst := provisioned(ctx, nil)
			other := provisioned(ctx, nil)
			b := newBinding()
			adminExec(ctx, "CREATE USER `"+userName(inst, b)+"`@'%' IDENTIFIED BY 'someoneElses123'")
			DeferCleanup(func(ctx SpecContext) { adminExec(ctx, "DROP USER IF EXISTS `"+userName(inst, b)+"`@'%'") })
			adminExec(ctx, "GRANT SELECT ON `"+databaseName(other)+"`.* TO `"+userName(inst, b)+"`@'%'")

			_, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
			Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
			Expect(backendtest.Description(err)).To(ContainSubstring("is taken by a user this broker does not own"))

			err = suite.Calls().Unbind(suite.Logged(ctx), inst, b)
			Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
			Expect(userExists(ctx, userName(inst, b))).To(BeTrue())
		})
	})

	When("a Bind was cut short after it created the user, before it granted the user anything", func() {
		It("finishes the job when retried: the user gets the binding's password, limit and privileges", func(ctx SpecContext) {
			inst := provisioned(ctx, nil)
			b := newBinding()
			adminExec(ctx, "CREATE USER `"+userName(inst, b)+"`@'%' IDENTIFIED BY 'leftByACrash123'")

			creds, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
			Expect(err).NotTo(HaveOccurred())

			_, err = mustLogin(ctx, creds).ExecContext(ctx, `CREATE TABLE after_a_crash (id int)`)
			Expect(err).NotTo(HaveOccurred())
			Expect(maxUserConnectionsOf(ctx, userName(inst, b))).To(Equal(20))
		})
	})

	DescribeTable("refuses a password the broker did not make, before any connection is made",
		func(ctx SpecContext, password string) {
			inst := backends.Instance{ID: "some-id", Node: "mysql-closed", Plan: "small"}
			_, err := suite.Calls().Bind(suite.Logged(ctx), inst, backends.Binding{ID: "b", Password: password})
			Expect(backends.IsPermanent(err)).To(BeTrue())
			Expect(backendtest.Description(err)).To(Equal("the binding's password cannot be used for MariaDB"))
		},
		Entry("empty", ""),
		Entry("with a quote", "abc'def"),
		Entry("with a backslash", `abc\def`),
	)
})

var _ = Describe("Unbind", func() {
	suite.ItUnbinds("closes the binding's open connection, refuses its login, and keeps the data for the other bindings",
		func(ctx context.Context) backends.Instance { return provisioned(ctx, nil) },
		func(ctx context.Context, inst backends.Instance, first, other backendtest.Bound) backendtest.Unbound {
			session := backendtest.LiveSession(ctx, mustLogin(ctx, first.Credentials))
			_, err := session.ExecContext(ctx, `INSERT INTO kept_open VALUES (7)`)
			Expect(err).NotTo(HaveOccurred())
			return backendtest.Unbound{
				Ended: func(ctx context.Context) { Expect(session.PingContext(ctx)).NotTo(Succeed()) },
				Gone: func(ctx context.Context) {
					_, err := login(ctx, first.Credentials, "")
					expectLoginRefused(err)
					Expect(userExists(ctx, userName(inst, first.Binding))).To(BeFalse())
					Expect(sessionsOf(ctx, userName(inst, first.Binding))).To(Equal(0))
				},
				Kept: func(ctx context.Context) {
					var id int
					Expect(mustLogin(ctx, other.Credentials).QueryRowContext(ctx, `SELECT id FROM kept_open`).Scan(&id)).To(Succeed())
					Expect(id).To(Equal(7))
				},
			}
		})

	It("ends the connections of a user that a crash left behind after dropping it", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		b, creds := suite.Bound(ctx, inst)
		session := backendtest.Session(ctx, mustLogin(ctx, creds))
		adminExec(ctx, "DROP USER `"+userName(inst, b)+"`@'%'")
		Expect(session.PingContext(ctx)).To(Succeed())

		Expect(suite.Calls().Unbind(suite.Logged(ctx), inst, b)).To(Succeed())

		Expect(session.PingContext(ctx)).NotTo(Succeed())
	})
})

func sessionsOf(ctx context.Context, user string) int {
	var n int
	Expect(suite.Admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?`, user).Scan(&n)).To(Succeed())
	return n
}

// credentialsOf are credentials as Bind returns them, for a user made by hand.
func credentialsOf(user, password, dbname string) backends.Credentials {
	return backends.Credentials{"hostname": "127.0.0.1", "port": 3306, "username": user, "password": password, "name": dbname}
}

// escapedDatabaseName is inst's database as a GRANT names it, its underscores escaped.
func escapedDatabaseName(inst backends.Instance) string {
	return strings.ReplaceAll(databaseName(inst), "_", `\_`)
}

// expectedCredentials says what the credentials of a binding of inst hold.
func expectedCredentials(inst backends.Instance) func(backends.Binding) backendtest.SQLCredentials {
	return func(b backends.Binding) backendtest.SQLCredentials {
		return backendtest.SQLCredentials{Type: "mysql", Host: "127.0.0.1", Port: 3306, Name: databaseName(inst),
			Username: userName(inst, b), Password: b.Password, Scheme: "mysql", JDBC: "mysql"}
	}
}
