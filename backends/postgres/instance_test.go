package postgres_test

import (
	"context"
	"encoding/json"
	"strings"

	"code.cloudfoundry.org/lager/v3"
	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

func extensionsIn(ctx SpecContext, dbname string) []string {
	return backendtest.QueryStrings(ctx, adminIn(ctx, dbname), `SELECT extname FROM pg_extension`)
}

// access is whether database dbname allowed connections, and whether PUBLIC had CONNECT on it,
// when the backend logged Message.
type access struct {
	Message       string
	AllowConn     bool
	PublicConnect bool
}

// watchAccess records the access to dbname at each of the log messages the backend writes
// between its statements while it opens a database. The backend logs on the calling goroutine,
// so each record shows the state between two statements.
func watchAccess(ctx context.Context, dbname string) *[]access {
	seen := new([]access)
	suite.Logger.RegisterSink(sinkFunc(func(l lager.LogFormat) {
		for _, m := range []string{"database-created", "public-access-revoked", "connection-limit-set"} {
			if !strings.HasSuffix(l.Message, "."+m) {
				continue
			}
			a := access{Message: m}
			Expect(suite.Admin.QueryRowContext(ctx, `
				SELECT datallowconn, has_database_privilege('public', datname, 'CONNECT')
				FROM pg_database WHERE datname = $1`, dbname).Scan(&a.AllowConn, &a.PublicConnect)).To(Succeed())
			*seen = append(*seen, a)
		}
	}))
	return seen
}

type sinkFunc func(lager.LogFormat)

func (f sinkFunc) Log(l lager.LogFormat) { f(l) }

// must drops the binding that bound returns alongside its credentials.
func must(_ backends.Binding, creds backends.Credentials) backends.Credentials { return creds }

func connectionLimitOf(ctx SpecContext, dbname string) int {
	var limit int
	Expect(suite.Admin.QueryRowContext(ctx, `SELECT datconnlimit FROM pg_database WHERE datname = $1`, dbname).Scan(&limit)).To(Succeed())
	return limit
}

var _ = Describe("Provision", func() {
	It("creates one database owned by the instance's owner role, closed to PUBLIC, with the plan's limit and the extensions asked for", func(ctx SpecContext) {
		inst := newInstance(map[string]any{"connection_limit": float64(7)}, "citext", "uuid-ossp")
		db := databaseName(inst)

		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())
		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())

		var owner string
		var publicConnect bool
		Expect(suite.Admin.QueryRowContext(ctx, `
			SELECT pg_get_userbyid(datdba), has_database_privilege('public', datname, 'CONNECT')
			FROM pg_database WHERE datname = $1`, db).Scan(&owner, &publicConnect)).To(Succeed())
		Expect(databaseCount(ctx, db)).To(Equal(1))
		Expect(owner).To(Equal(ownerName(inst)))
		Expect(publicConnect).To(BeFalse())
		Expect(connectionLimitOf(ctx, db)).To(Equal(7))
		Expect(extensionsIn(ctx, db)).To(ContainElements("citext", "uuid-ossp"))

		var canLogin bool
		Expect(suite.Admin.QueryRowContext(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, owner).Scan(&canLogin)).To(Succeed())
		Expect(canLogin).To(BeFalse())
	})

	It("never opens the database to PUBLIC, not even between creating it and revoking PUBLIC's access", func(ctx SpecContext) {
		inst := newInstance(map[string]any{"connection_limit": 4})
		seen := watchAccess(ctx, databaseName(inst))

		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(*seen).To(Equal([]access{
			{"database-created", false, true},
			{"public-access-revoked", false, false},
			{"connection-limit-set", true, false},
		}))
		mustLogin(ctx, must(suite.Bound(ctx, inst)))
	})

	It("leaves a database that a crash left closed, or that was opened to PUBLIC, open to the bindings alone when run again", func(ctx SpecContext) {
		inst := provisioned(ctx, map[string]any{"connection_limit": 6})
		db := pq.QuoteIdentifier(databaseName(inst))
		_, err := suite.Admin.ExecContext(ctx, `ALTER DATABASE `+db+` WITH ALLOW_CONNECTIONS false CONNECTION LIMIT -1`)
		Expect(err).NotTo(HaveOccurred())
		_, err = suite.Admin.ExecContext(ctx, `GRANT ALL ON DATABASE `+db+` TO PUBLIC`)
		Expect(err).NotTo(HaveOccurred())
		seen := watchAccess(ctx, databaseName(inst))

		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(*seen).To(Equal([]access{
			{"public-access-revoked", false, false},
			{"connection-limit-set", true, false},
		}))
		Expect(connectionLimitOf(ctx, databaseName(inst))).To(Equal(6))
		mustLogin(ctx, must(suite.Bound(ctx, inst)))
	})

	When("the same instance is provisioned by several workers at once", func() {
		It("succeeds for all of them and leaves one database", func(ctx SpecContext) {
			inst := newInstance(map[string]any{"connection_limit": 3}, "pg_trgm")
			backendtest.AtOnce(4, func() error { return suite.Calls().Provision(suite.Logged(ctx), inst) })
			Expect(databaseCount(ctx, databaseName(inst))).To(Equal(1))
			Expect(connectionLimitOf(ctx, databaseName(inst))).To(Equal(3))
			Expect(extensionsIn(ctx, databaseName(inst))).To(ContainElement("pg_trgm"))
		})
	})

	DescribeTable("reads connection_limit however the number was decoded",
		func(ctx SpecContext, limit any) {
			inst := provisioned(ctx, map[string]any{"connection_limit": limit})
			Expect(connectionLimitOf(ctx, databaseName(inst))).To(Equal(5))
		},
		Entry("a JSON float64", float64(5)),
		Entry("an int", 5),
		Entry("a json.Number", json.Number("5")),
	)

	It("leaves the database without a limit when the plan sets none", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		Expect(connectionLimitOf(ctx, databaseName(inst))).To(Equal(-1))
	})

	When("a database of that name belongs to someone else", func() {
		It("fails permanently, creates nothing, and deprovision leaves that database alone", func(ctx SpecContext) {
			inst := newInstance(nil)
			db := databaseName(inst)
			_, err := suite.Admin.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(db)+` TEMPLATE template0`)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) {
				_, err := suite.Admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(db))
				Expect(err).NotTo(HaveOccurred())
			})

			err = suite.Calls().Provision(suite.Logged(ctx), inst)
			Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
			Expect(backendtest.Description(err)).To(ContainSubstring("taken by an object this broker does not own"))
			Expect(roleExists(ctx, ownerName(inst))).To(BeFalse())

			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
			Expect(databaseCount(ctx, db)).To(Equal(1))
		})
	})
})

var _ = Describe("Update", func() {
	It("applies the new plan's connection limit and creates newly asked-for extensions, keeping the old ones", func(ctx SpecContext) {
		inst := provisioned(ctx, map[string]any{"connection_limit": float64(5)}, "citext")
		db := databaseName(inst)

		inst.Plan = "large"
		inst.PlanConfig = map[string]any{"connection_limit": float64(20)}
		inst.Parameters["extensions"] = anyList("hstore", "pgcrypto")
		Expect(suite.Calls().Update(suite.Logged(ctx), inst, "small")).To(Succeed())
		Expect(suite.Calls().Update(suite.Logged(ctx), inst, "small")).To(Succeed())

		Expect(connectionLimitOf(ctx, db)).To(Equal(20))
		Expect(extensionsIn(ctx, db)).To(ContainElements("citext", "hstore", "pgcrypto"))
	})

	It("creates the extensions the plan now gives every instance, as a maintenance upgrade", func(ctx SpecContext) {
		inst := provisioned(ctx, map[string]any{"connection_limit": float64(5)})
		db := databaseName(inst)
		_, creds := suite.Bound(ctx, inst)

		inst.PlanConfig = map[string]any{"connection_limit": float64(8), "extensions": anyList("pg_trgm", "uuid-ossp")}
		backendtest.AtOnce(3, func() error { return suite.Calls().Upgrade(suite.Logged(ctx), inst) })

		Expect(connectionLimitOf(ctx, db)).To(Equal(8))
		Expect(extensionsIn(ctx, db)).To(ContainElements("pg_trgm", "uuid-ossp"))
		Expect(mustLogin(ctx, creds).PingContext(ctx)).To(Succeed(), "the binding made before still logs in")
	})

	DescribeTable("refuses, for good, a plan's extensions that are not a list of offered names",
		func(ctx SpecContext, exts any) {
			suite.Calls().ExpectSettingRefused(suite.Logged(ctx), provisioned(ctx, nil), "extensions", exts)
		},
		Entry("a string", "citext"),
		Entry("an extension not offered", anyList("plpython3u")),
		Entry("a number in the list", []any{"citext", 3}),
	)

	It("fails permanently for an instance whose database is gone", func(ctx SpecContext) {
		inst := newInstance(nil)
		err := suite.Calls().Update(suite.Logged(ctx), inst, "small")
		Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
		Expect(backendtest.Description(err)).To(ContainSubstring("does not exist on node pg-local"))
	})
})

var _ = Describe("Deprovision", func() {
	It("drops the database under a live session, the leftover binding roles and the owner role", func(ctx SpecContext) {
		inst := provisioned(ctx, nil)
		b1, creds1 := suite.Bound(ctx, inst)
		b2, creds2 := suite.Bound(ctx, inst)

		live := backendtest.LiveSession(ctx, mustLogin(ctx, creds1))

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(databaseCount(ctx, databaseName(inst))).To(Equal(0))
		Expect(roleExists(ctx, ownerName(inst))).To(BeFalse())
		Expect(roleExists(ctx, bindingName(inst, b1))).To(BeFalse())
		Expect(roleExists(ctx, bindingName(inst, b2))).To(BeFalse())
		Expect(live.PingContext(ctx)).NotTo(Succeed())
		_, err := login(ctx, creds2["uri"].(string))
		Expect(err).To(HaveOccurred())

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
	})

	When("a DROP DATABASE of an earlier attempt was cut short", func() {
		It("drops the database that it left invalid, and the roles, instead of failing every retry", func(ctx SpecContext) {
			inst := provisioned(ctx, nil)
			b, _ := suite.Bound(ctx, inst)
			// PostgreSQL (from 15.4) marks a database invalid, datconnlimit -2, before it removes
			// its files, and a DROP DATABASE cancelled or ended after that leaves it so; this is
			// that state, written the way the server writes it.
			_, err := suite.Admin.ExecContext(ctx, `UPDATE pg_database SET datconnlimit = -2 WHERE datname = $1`, databaseName(inst))
			Expect(err).NotTo(HaveOccurred())

			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

			Expect(databaseCount(ctx, databaseName(inst))).To(Equal(0))
			Expect(roleExists(ctx, ownerName(inst))).To(BeFalse())
			Expect(roleExists(ctx, bindingName(inst, b))).To(BeFalse())
		})
	})

	It("succeeds for an instance that was never provisioned", func(ctx SpecContext) {
		inst := newInstance(nil)
		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
	})
})

var _ = Describe("Orphans and usage", func() {
	plain := func(ctx context.Context) backends.Instance { return provisioned(ctx, nil) }
	suite.ItRemovesOrphans("pg-local", plain, backendtest.Notes(mustLogin))
	suite.ItReportsUsage(plain, backendtest.Notes(mustLogin), "database size")
})
