package postgres_test

import (
	"context"
	"database/sql"
	"strings"

	"code.cloudfoundry.org/lager/v3"
	"github.com/google/uuid"
	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

// A binding role can connect to every database PUBLIC may connect to (postgres, template1, and
// any a DBA left open), and there it can leave objects that depend on it, or (through its
// default SET role) on the owner role: default privileges and large objects need no privilege
// at all, tables need CREATE on a schema. Unbind and Deprovision must remove them, or DROP ROLE
// fails and the role stays behind.

const (
	defaultPrivileges = `ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC`
	largeObject       = `SELECT lo_create(0)`
	table             = `CREATE TABLE left_behind (id int)`
)

// openToPublic stands for "a fresh database in which PUBLIC may connect and create tables", as
// the public schema of every database was before PostgreSQL 15.
const openToPublic = ""

var leftovers = []TableEntry{
	Entry("default privileges in postgres, as the owner role", "postgres", true, defaultPrivileges),
	Entry("default privileges in postgres, after SET ROLE NONE", "postgres", false, defaultPrivileges),
	Entry("a large object in postgres, as the owner role", "postgres", true, largeObject),
	Entry("a large object in postgres, after SET ROLE NONE", "postgres", false, largeObject),
	Entry("a table in a database open to PUBLIC, as the owner role", openToPublic, true, table),
	Entry("a table in a database open to PUBLIC, after SET ROLE NONE", openToPublic, false, table),
}

var _ = Describe("What a binding leaves in other databases", func() {
	DescribeTable("Deprovision removes it along with every role of the instance",
		func(ctx SpecContext, where string, asOwner bool, stmt string) {
			inst := scrubbedInstance(ctx)
			where = databaseOrOpen(ctx, where)
			b1, session := leaveBehind(ctx, inst, where, asOwner, stmt)
			b2, _ := suite.Bound(ctx, inst.Instance)
			inst.Bindings(b1, b2)

			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst.Instance)).To(Succeed())

			Expect(session.PingContext(ctx)).NotTo(Succeed())
			Expect(databaseCount(ctx, databaseName(inst.Instance))).To(Equal(0))
			Expect(roleExists(ctx, ownerName(inst.Instance))).To(BeFalse())
			Expect(roleExists(ctx, bindingName(inst.Instance, b1))).To(BeFalse())
			Expect(roleExists(ctx, bindingName(inst.Instance, b2))).To(BeFalse())
			if stmt == table {
				Expect(tableExists(ctx, where, "left_behind")).To(BeFalse())
			}
			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst.Instance)).To(Succeed())
		},
		leftovers,
	)

	DescribeTable("Unbind removes what the binding role left, and Deprovision what the owner role left",
		func(ctx SpecContext, where string, asOwner bool, stmt string) {
			inst := scrubbedInstance(ctx)
			where = databaseOrOpen(ctx, where)
			b, session := leaveBehind(ctx, inst, where, asOwner, stmt)
			inst.Bindings(b)

			Expect(suite.Calls().Unbind(suite.Logged(ctx), inst.Instance, b)).To(Succeed())

			Expect(session.PingContext(ctx)).NotTo(Succeed())
			Expect(roleExists(ctx, bindingName(inst.Instance, b))).To(BeFalse())
			if stmt == table && !asOwner {
				// Not the instance's data: dropped, not handed to the owner role.
				Expect(tableExists(ctx, where, "left_behind")).To(BeFalse())
			}
			Expect(suite.Calls().Unbind(suite.Logged(ctx), inst.Instance, b)).To(Succeed())

			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst.Instance)).To(Succeed())
			Expect(databaseCount(ctx, databaseName(inst.Instance))).To(Equal(0))
			Expect(roleExists(ctx, ownerName(inst.Instance))).To(BeFalse())
			if stmt == table {
				Expect(tableExists(ctx, where, "left_behind")).To(BeFalse())
			}
		},
		leftovers,
	)

	When("a database the binding left something in no longer allows connections", func() {
		It("fails Deprovision for a retry with every role already unable to log in, and finishes when run again", func(ctx SpecContext) {
			inst := scrubbedInstance(ctx)
			where := publicDatabase(ctx)
			b1, session := leaveBehind(ctx, inst, where, false, largeObject)
			b2, creds2 := suite.Bound(ctx, inst.Instance)
			inst.Bindings(b1, b2)
			adminExec(ctx, "postgres", `ALTER DATABASE `+pq.QuoteIdentifier(where)+` WITH ALLOW_CONNECTIONS false`)

			err := suite.Calls().Deprovision(suite.Logged(ctx), inst.Instance)
			Expect(err).To(HaveOccurred())
			Expect(backends.IsPermanent(err)).To(BeFalse())
			Expect(backendtest.Description(err)).To(ContainSubstring("still owns objects"))

			Expect(session.PingContext(ctx)).NotTo(Succeed())
			Expect(roleExists(ctx, bindingName(inst.Instance, b1))).To(BeTrue())
			for _, b := range []backends.Binding{b1, b2} { // b2 may be dropped already
				var canLogin bool
				Expect(suite.Admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1 AND rolcanlogin)`,
					bindingName(inst.Instance, b)).Scan(&canLogin)).To(Succeed())
				Expect(canLogin).To(BeFalse(), "role %s can still log in", bindingName(inst.Instance, b))
			}
			_, err = login(ctx, withDatabase(creds2["uri"].(string), "postgres"))
			Expect(err).To(HaveOccurred())

			adminExec(ctx, "postgres", `ALTER DATABASE `+pq.QuoteIdentifier(where)+` WITH ALLOW_CONNECTIONS true`)
			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst.Instance)).To(Succeed())
			Expect(databaseCount(ctx, databaseName(inst.Instance))).To(Equal(0))
			Expect(roleExists(ctx, ownerName(inst.Instance))).To(BeFalse())
			Expect(roleExists(ctx, bindingName(inst.Instance, b1))).To(BeFalse())
			Expect(roleExists(ctx, bindingName(inst.Instance, b2))).To(BeFalse())
		})
	})
})

// scrubbed is a provisioned instance whose roles the spec's last cleanup removes by hand, as the
// admin, should the backend have left them: a failing spec must not leave roles on a shared server.
type scrubbed struct {
	backends.Instance
	bindings *[]backends.Binding
}

func (s scrubbed) Bindings(bs ...backends.Binding) { *s.bindings = append(*s.bindings, bs...) }

func scrubbedInstance(ctx SpecContext) scrubbed {
	s := scrubbed{bindings: new([]backends.Binding)}
	// Registered first, so it runs after every other cleanup of the spec.
	DeferCleanup(func(ctx SpecContext) {
		if s.ID == "" {
			return
		}
		_, err := suite.Admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(databaseName(s.Instance))+` WITH (FORCE)`)
		Expect(err).NotTo(HaveOccurred())
		var roles []string
		for _, b := range *s.bindings {
			roles = append(roles, bindingName(s.Instance, b))
		}
		for _, role := range append(roles, ownerName(s.Instance)) {
			if !roleExists(ctx, role) {
				continue
			}
			adminExec(ctx, "postgres", `DROP OWNED BY `+pq.QuoteIdentifier(role))
			_, err := suite.Admin.ExecContext(ctx, `DROP ROLE `+pq.QuoteIdentifier(role))
			Expect(err).NotTo(HaveOccurred())
		}
	})
	s.Instance = provisioned(ctx, nil)
	return s
}

// leaveBehind binds inst, logs in with the binding's own credentials to database where, drops
// the default SET role unless asOwner, and runs stmt there. It returns the binding and the
// session, which stays open.
func leaveBehind(ctx SpecContext, inst scrubbed, where string, asOwner bool, stmt string) (backends.Binding, *sql.Conn) {
	b, creds := suite.Bound(ctx, inst.Instance)
	inst.Bindings(b)
	session := backendtest.Session(ctx, mustLoginTo(ctx, creds, where))
	leftBy := ownerName(inst.Instance)
	if !asOwner {
		_, err := session.ExecContext(ctx, `SET ROLE NONE`)
		Expect(err).NotTo(HaveOccurred())
		leftBy = bindingName(inst.Instance, b)
	}
	_, err := session.ExecContext(ctx, stmt)
	Expect(err).NotTo(HaveOccurred())
	Expect(dependencies(ctx, where, leftBy)).To(BeNumerically(">", 0),
		"%q in database %s left nothing that depends on role %s", stmt, where, leftBy)
	return b, session
}

func mustLoginTo(ctx context.Context, creds backends.Credentials, dbname string) *sql.DB {
	db, err := login(ctx, withDatabase(creds["uri"].(string), dbname))
	Expect(err).NotTo(HaveOccurred())
	return db
}

// dependencies counts what depends on role in database dbname.
func dependencies(ctx context.Context, dbname, role string) int {
	var n int
	Expect(suite.Admin.QueryRowContext(ctx, `
		SELECT count(*)
		FROM pg_shdepend s
		JOIN pg_database d ON d.oid = s.dbid
		JOIN pg_roles r ON r.oid = s.refobjid
		WHERE s.refclassid = 'pg_authid'::regclass
		  AND d.datname = $1
		  AND r.rolname = $2`, dbname, role).Scan(&n)).To(Succeed())
	return n
}

func databaseOrOpen(ctx SpecContext, where string) string {
	if where == openToPublic {
		return publicDatabase(ctx)
	}
	return where
}

// publicDatabase creates a database in which PUBLIC may connect and create tables in schema
// public, dropped after the spec.
func publicDatabase(ctx SpecContext) string {
	name := "obtest_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
	_, err := suite.Admin.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)+` TEMPLATE template0`)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		_, err := suite.Admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(name)+` WITH (FORCE)`)
		Expect(err).NotTo(HaveOccurred())
	})
	adminExec(ctx, name, `GRANT CREATE ON SCHEMA public TO PUBLIC`)
	return name
}

// adminExec runs stmt as the admin in database dbname, on a connection closed right after.
func adminExec(ctx context.Context, dbname, stmt string) {
	db, err := sql.Open("postgres", withDatabase(suite.AdminURL, dbname))
	Expect(err).NotTo(HaveOccurred())
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	Expect(err).NotTo(HaveOccurred(), "%s in database %s", stmt, dbname)
}

func tableExists(ctx context.Context, dbname, name string) bool {
	db, err := sql.Open("postgres", withDatabase(suite.AdminURL, dbname))
	Expect(err).NotTo(HaveOccurred())
	defer db.Close()
	var exists bool
	Expect(db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+name).Scan(&exists)).To(Succeed())
	return exists
}

// The databases PUBLIC may connect to are where a binding role reaches beyond its own: Ping
// names them to the operator, whose they are to close.
var _ = Describe("Ping", func() {
	It("warns once, naming the databases PUBLIC may connect to, which are the operator's to close, and no instance's", func(ctx SpecContext) {
		open := "aaa_ob_public_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
		adminExec(ctx, "postgres", `CREATE DATABASE `+pq.QuoteIdentifier(open))
		DeferCleanup(func(ctx SpecContext) { adminExec(ctx, "postgres", `DROP DATABASE `+pq.QuoteIdentifier(open)) })
		inst := provisioned(ctx, nil)
		// An adapter of its own: the suite's may have warned already.
		p := suite.Open(backends.Server{Name: "pg-fresh", AdminURL: suite.AdminURL})

		Expect(p.Ping(suite.Logged(ctx), "pg-fresh")).To(Succeed())
		Expect(p.Ping(suite.Logged(ctx), "pg-fresh")).To(Succeed())

		var warnings []lager.LogFormat
		for _, l := range suite.Logger.Logs() {
			if strings.HasSuffix(l.Message, ".databases-open-to-public") {
				warnings = append(warnings, l)
			}
		}
		Expect(warnings).To(HaveLen(1))
		Expect(warnings[0].Data).To(HaveKeyWithValue("node", "pg-fresh"))
		Expect(warnings[0].Data["databases"]).To(ContainElement(open))
		Expect(warnings[0].Data["databases"]).NotTo(ContainElement(databaseName(inst)))
		Expect(warnings[0].Data["count"]).To(BeNumerically(">=", 2), "postgres as installed, and the spec's")
		Expect(string(suite.Logger.Buffer().Contents())).NotTo(ContainSubstring("postgres://"))
	})
})
