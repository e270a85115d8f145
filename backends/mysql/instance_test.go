package mysql_test

import (
	"context"
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

func charsetOf(ctx SpecContext, dbname string) string {
	var charset string
	Expect(suite.Admin.QueryRowContext(ctx, `SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, dbname).Scan(&charset)).To(Succeed())
	return charset
}

var _ = Describe("Provision", func() {
	It("creates one utf8mb4 database, and succeeds again when it exists", func(ctx SpecContext) {
		inst := newInstance(nil)

		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())
		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(databaseExists(ctx, databaseName(inst))).To(BeTrue())
		Expect(charsetOf(ctx, databaseName(inst))).To(Equal("utf8mb4"))
		Expect(string(suite.Logger.Buffer().Contents())).To(ContainSubstring("database-created"))
		Expect(string(suite.Logger.Buffer().Contents())).To(ContainSubstring("database-exists"))
	})

	When("the same instance is provisioned by several workers at once", func() {
		It("succeeds for all of them and leaves one database", func(ctx SpecContext) {
			inst := newInstance(nil)
			backendtest.AtOnce(4, func() error { return suite.Calls().Provision(suite.Logged(ctx), inst) })
			Expect(databaseExists(ctx, databaseName(inst))).To(BeTrue())
		})
	})
})

var _ = Describe("Update", func() {
	It("applies the new plan's max_user_connections to the users of existing bindings", func(ctx SpecContext) {
		inst := provisioned(ctx, map[string]any{"max_user_connections": float64(5)})
		b1, _ := suite.Bound(ctx, inst)
		b2, creds2 := suite.Bound(ctx, inst)
		Expect(maxUserConnectionsOf(ctx, userName(inst, b1))).To(Equal(5))

		inst.Plan = "large"
		inst.PlanConfig = map[string]any{"max_user_connections": float64(40)}
		Expect(suite.Calls().Update(suite.Logged(ctx), inst, "small")).To(Succeed())
		Expect(suite.Calls().Update(suite.Logged(ctx), inst, "small")).To(Succeed())

		Expect(maxUserConnectionsOf(ctx, userName(inst, b1))).To(Equal(40))
		Expect(maxUserConnectionsOf(ctx, userName(inst, b2))).To(Equal(40))
		mustLogin(ctx, creds2)

		_, creds3 := suite.Bound(ctx, inst)
		Expect(maxUserConnectionsOf(ctx, creds3["username"].(string))).To(Equal(40))
	})

	It("fails permanently for an instance whose database is gone", func(ctx SpecContext) {
		inst := newInstance(nil)
		err := suite.Calls().Update(suite.Logged(ctx), inst, "small")
		Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
		Expect(backendtest.Description(err)).To(ContainSubstring("does not exist on node mysql-local"))
	})
})

var _ = Describe("Deprovision", func() {
	It("drops exactly the users of the instance's recorded bindings, sparing those of an instance whose old login names began alike", func(ctx SpecContext) {
		suite.Calls().ExpectDeprovisionSpares(suite.Logged(ctx), backendtest.CollidingIDs, "mysql-local", nil,
			func(ctx context.Context, creds backends.Credentials) error {
				db, err := login(ctx, creds, creds["name"].(string))
				if err != nil {
					return err
				}
				return db.PingContext(ctx)
			})
	})

	It("drops the database under a live connection, and the binding users with their connections", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		b1, creds1 := suite.Bound(ctx, inst)
		b2, creds2 := suite.Bound(ctx, inst)

		live := backendtest.LiveSession(ctx, mustLogin(ctx, creds1))
		tx, err := live.BeginTx(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = tx.Rollback() })
		_, err = tx.ExecContext(ctx, `INSERT INTO kept_open VALUES (1)`)
		Expect(err).NotTo(HaveOccurred())

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(databaseExists(ctx, databaseName(inst))).To(BeFalse())
		Expect(userExists(ctx, userName(inst, b1))).To(BeFalse())
		Expect(userExists(ctx, userName(inst, b2))).To(BeFalse())
		Expect(live.PingContext(ctx)).NotTo(Succeed())
		_, err = login(ctx, creds2, "")
		expectLoginRefused(err)

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
	})

	When("a Bind was cut short, or ran out of attempts, between CREATE USER and GRANT", func() {
		It("drops the user it left without privileges, and ends its connections", func(ctx SpecContext) {
			inst := provisioned(ctx, nil)
			b := newBinding()
			backendtest.Record(inst.ID, b)
			orphan := userName(inst, b)
			adminExec(ctx, "CREATE USER `"+orphan+"`@'%' IDENTIFIED BY '"+b.Password+"'")
			DeferCleanup(func(ctx SpecContext) { adminExec(ctx, "DROP USER IF EXISTS `"+orphan+"`@'%'") })
			app, err := login(ctx, credentialsOf(orphan, b.Password, ""), "")
			Expect(err).NotTo(HaveOccurred(), "the orphan logs in")
			session := backendtest.Session(ctx, app)

			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

			Expect(userExists(ctx, orphan)).To(BeFalse())
			Expect(session.PingContext(ctx)).NotTo(Succeed())
			_, err = login(ctx, credentialsOf(orphan, b.Password, ""), "")
			expectLoginRefused(err)
		})
	})

	It("leaves alone a user named as a recorded binding's that holds privileges on another database", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		other := provisioned(ctx, nil)
		b := newBinding()
		backendtest.Record(inst.ID, b)
		user := userName(inst, b)
		adminExec(ctx, "CREATE USER `"+user+"`@'%' IDENTIFIED BY 'someoneElses123'")
		DeferCleanup(func(ctx SpecContext) { adminExec(ctx, "DROP USER IF EXISTS `"+user+"`@'%'") })
		adminExec(ctx, "GRANT SELECT ON `"+escapedDatabaseName(other)+"`.* TO `"+user+"`@'%'")

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(databaseExists(ctx, databaseName(inst))).To(BeFalse())
		Expect(userExists(ctx, user)).To(BeTrue())
	})

	It("ends an operator's connection to the database but keeps the operator's user", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		db := databaseName(inst)
		password, err := backends.NewPassword()
		Expect(err).NotTo(HaveOccurred())
		operator := "obtest_" + db[len(db)-16:]
		adminExec(ctx, "CREATE USER `"+operator+"`@'%' IDENTIFIED BY '"+password+"'")
		DeferCleanup(func(ctx SpecContext) { adminExec(ctx, "DROP USER IF EXISTS `"+operator+"`@'%'") })
		adminExec(ctx, "GRANT SELECT ON `"+db+"`.* TO `"+operator+"`@'%'")
		session := backendtest.Session(ctx, mustLogin(ctx, backends.Credentials{
			"hostname": "127.0.0.1", "port": 3306, "username": operator, "password": password, "name": db,
		}))

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(databaseExists(ctx, db)).To(BeFalse())
		Expect(session.PingContext(ctx)).NotTo(Succeed())
		Expect(userExists(ctx, operator)).To(BeTrue())
	})

	It("succeeds for an instance that was never provisioned", func(ctx SpecContext) {
		inst := newInstance(nil)
		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
	})
})

var _ = DescribeTable("reads max_user_connections however the number was decoded",
	func(ctx SpecContext, limit any, want int) {
		inst := provisioned(ctx, map[string]any{"max_user_connections": limit})
		b, _ := suite.Bound(ctx, inst)
		Expect(maxUserConnectionsOf(ctx, userName(inst, b))).To(Equal(want))
	},
	Entry("a JSON float64", float64(5), 5),
	Entry("an int", 7, 7),
	Entry("a json.Number", json.Number("9"), 9),
	Entry("nothing: the default", nil, 20),
)

var _ = Describe("Orphans and usage", func() {
	plain := func(ctx context.Context) backends.Instance { return provisioned(ctx, nil) }
	suite.ItRemovesOrphans("mysql-local", plain, backendtest.Notes(mustLogin))
	suite.ItReportsUsage(plain, backendtest.Notes(mustLogin), "database size")
})
