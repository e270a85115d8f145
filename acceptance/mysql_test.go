package acceptance_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/url"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

var _ = Describe("MySQL", func() {
	When("Cloud Foundry drives a MariaDB instance from provision to deprovision", func() {
		It("creates a database two apps share, shuts an unbound app out at once, and removes every trace", func(ctx SpecContext) {
			cf := shared.client()
			admin := mysqlAdmin()
			id, b1, b2 := newID(), newID(), newID()
			dbName := backendDatabase(id)
			dropLeftoverMySQL(admin, id)

			By("provisioning")
			cf.provisionReady(id, mysqlPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, mysqlPlan)
			Expect(mysqlCount(admin, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ? AND DEFAULT_CHARACTER_SET_NAME = 'utf8mb4'`, dbName)).
				To(Equal(1), "utf8mb4 database %s exists", dbName)

			By("binding a first app")
			creds1 := cf.bindReady(id, b1, mysqlPlan, newID())
			DeferCleanup(cf.unbindGone, id, b1, mysqlPlan)
			expectMySQLCredentials(creds1, id)
			user1 := creds1.str("username")
			Expect(mysqlCount(admin, `SELECT max_user_connections FROM mysql.user WHERE User = ? AND Host = '%'`, user1)).
				To(Equal(5), "the plan's max_user_connections")

			By("creating a table and a row as the first app, through its uri")
			app1 := mysqlLogin(ctx, creds1.str("uri"))
			_, err := app1.ExecContext(ctx, `CREATE TABLE greetings (text varchar(64) NOT NULL)`)
			Expect(err).NotTo(HaveOccurred())
			_, err = app1.ExecContext(ctx, `INSERT INTO greetings (text) VALUES ('hello ☃')`)
			Expect(err).NotTo(HaveOccurred())
			held, err := app1.Conn(ctx)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { _ = held.Close() }) // the server ends it

			By("seeing no other database")
			Expect(databasesSeenBy(ctx, app1)).To(ConsistOf("information_schema", dbName))

			By("binding a second app, which reads and writes the first app's table through its jdbcUrl")
			creds2 := cf.bindReady(id, b2, mysqlPlan, newID())
			DeferCleanup(cf.unbindGone, id, b2, mysqlPlan)
			expectMySQLCredentials(creds2, id)
			Expect(creds2.str("username")).NotTo(Equal(user1))
			Expect(creds2.str("password") != creds1.str("password")).To(BeTrue(), "the two apps have different passwords")
			app2 := mysqlLogin(ctx, mysqlURIOfJDBC(creds2.str("jdbcUrl")))
			var text string
			Expect(app2.QueryRowContext(ctx, `SELECT text FROM greetings`).Scan(&text)).To(Succeed())
			Expect(text).To(Equal("hello ☃"))
			_, err = app2.ExecContext(ctx, `INSERT INTO greetings (text) VALUES ('again')`)
			Expect(err).NotTo(HaveOccurred())

			By("unbinding the first app: its open connection is closed and its login refused")
			Expect(held.PingContext(ctx)).To(Succeed())
			cf.unbindGone(id, b1, mysqlPlan)
			Expect(held.PingContext(ctx)).NotTo(Succeed(), "the first app's open connection is closed")
			_, err = mysqlTryLogin(ctx, creds1.str("uri"))
			expectMySQLLoginRefused(err)
			Expect(mysqlCount(admin, `SELECT COUNT(*) FROM mysql.user WHERE User = ?`, user1)).To(BeZero(), "the first app's user is dropped")
			Expect(mysqlCount(admin, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?`, user1)).To(BeZero(), "no connection of the first app is left")
			Expect(app2.QueryRowContext(ctx, `SELECT COUNT(*) FROM greetings`).Scan(new(int))).To(Succeed(), "the second app keeps its access")

			By("unbinding the second app, as Cloud Foundry does before deleting a service")
			cf.unbindGone(id, b2, mysqlPlan)
			_, err = mysqlTryLogin(ctx, creds2.str("uri"))
			expectMySQLLoginRefused(err)

			By("deprovisioning")
			r := cf.deprovision(id, mysqlPlan, true)
			Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted), r.String())
			if r.Status == http.StatusAccepted {
				expectSucceeded(cf.awaitInstance(id, mysqlPlan, operationOf(r)))
			}
			Expect(mysqlCount(admin, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, dbName)).To(BeZero(), "database %s is dropped", dbName)
			Expect(mysqlCount(admin, `SELECT COUNT(*) FROM mysql.user WHERE User IN (?, ?)`, user1, creds2.str("username"))).To(BeZero(), "no user of the instance is left")
			Expect(mysqlCount(admin, `SELECT COUNT(*) FROM mysql.db WHERE Db IN (?, ?)`, dbName, mysqlGrantPattern(dbName))).To(BeZero(), "no privilege on the database is left")
			expectJSONObject(cf.deprovision(id, mysqlPlan, true), http.StatusGone)
		})
	})

	When("an instance is deprovisioned while an app is still bound and connected", func() {
		It("ends the app's connection and drops its user with the database, and a user a Bind cut short left without privileges", func(ctx SpecContext) {
			cf := shared.client()
			admin := mysqlAdmin()
			id, bindingID := newID(), newID()
			dbName := backendDatabase(id)
			dropLeftoverMySQL(admin, id)

			cf.provisionReady(id, mysqlPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, mysqlPlan)
			creds := cf.bindReady(id, bindingID, mysqlPlan, newID())
			held, err := mysqlLogin(ctx, creds.str("uri")).Conn(ctx)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { _ = held.Close() })

			_, err = held.ExecContext(ctx, `CREATE TABLE open_work (id int)`)
			Expect(err).NotTo(HaveOccurred())

			By("leaving a binding's user without privileges, as a Bind cut short after CREATE USER would")
			orphan := cf.bindReady(id, newID(), mysqlPlan, newID()).str("username")
			_, err = admin.ExecContext(ctx, "REVOKE ALL PRIVILEGES ON `"+mysqlGrantPattern(dbName)+"`.* FROM `"+orphan+"`@'%'")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { _, _ = admin.Exec("DROP USER IF EXISTS `" + orphan + "`@'%'") })

			By("deprovisioning without unbinding first, as a platform that skips unbind would")
			cf.deprovisionGone(id, mysqlPlan)

			Expect(held.PingContext(ctx)).NotTo(Succeed(), "the app's open connection is closed")
			_, err = mysqlTryLogin(ctx, creds.str("uri"))
			expectMySQLLoginRefused(err)
			Expect(mysqlCount(admin, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, dbName)).To(BeZero(), "database %s is dropped", dbName)
			Expect(mysqlCount(admin, `SELECT COUNT(*) FROM mysql.user WHERE User = ?`, creds.str("username"))).To(BeZero(), "the app's user is dropped")
			Expect(mysqlCount(admin, `SELECT COUNT(*) FROM mysql.user WHERE User = ?`, orphan)).To(BeZero(), "the user without privileges is dropped")
		})
	})
})

// expectMySQLCredentials checks each credential of a binding of instance id on MariaDB on its
// own, never printing a password or a URL that holds one.
func expectMySQLCredentials(creds credentials, id string) {
	GinkgoHelper()
	dbName := backendDatabase(id)
	Expect(creds.str("hostname")).To(Equal("127.0.0.1"))
	Expect(creds["port"]).To(BeEquivalentTo(3306))
	Expect(creds.str("name")).To(Equal(dbName))
	user, password := creds.str("username"), creds.str("password")
	Expect(user).To(MatchRegexp(loginPattern))
	Expect(len(user)).To(BeNumerically("<=", 32), "MariaDB user names may be 80 characters, MySQL's 32")
	Expect(len(password) == 32 && strings.Trim(password, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == "").
		To(BeTrue(), "the password is 32 base62 characters")

	u := parseURLWithSecret(creds.str("uri"), "the uri")
	Expect(u.Scheme).To(Equal("mysql"))
	Expect(u.Host).To(Equal("127.0.0.1:3306"))
	Expect(u.Path).To(Equal("/" + dbName))
	Expect(u.User.Username()).To(Equal(user))
	uriPassword, _ := u.User.Password()
	Expect(uriPassword == password).To(BeTrue(), "the uri carries the password")
	Expect(u.RawQuery).To(Equal("reconnect=true"))

	jdbc := creds.str("jdbcUrl")
	Expect(strings.HasPrefix(jdbc, "jdbc:mysql://127.0.0.1:3306/"+dbName+"?")).To(BeTrue(), "the jdbcUrl names the host, port and database")
	ju := parseURLWithSecret(strings.TrimPrefix(jdbc, "jdbc:"), "the jdbcUrl")
	Expect(ju.Query().Get("user")).To(Equal(user))
	Expect(ju.Query().Get("password") == password).To(BeTrue(), "the jdbcUrl carries the password")
}

// mysqlURIOfJDBC turns jdbc:mysql://host:port/db?user=u&password=p into the uri form, as a
// Java driver would read it.
func mysqlURIOfJDBC(jdbc string) string {
	GinkgoHelper()
	u := parseURLWithSecret(strings.TrimPrefix(jdbc, "jdbc:"), "the jdbcUrl")
	q := u.Query()
	u.User = url.UserPassword(q.Get("user"), q.Get("password"))
	u.RawQuery = ""
	return u.String()
}

// mysqlConfig reads a mysql:// URL as an application would. Parameters such as reconnect=true
// belong to other clients (Rails) and are left out.
func mysqlConfig(uri string) *gomysql.Config {
	GinkgoHelper()
	cfg, err := testkit.MySQLConfig(uri)
	Expect(err).NotTo(HaveOccurred(), "a mysql:// URL")
	return cfg
}

// mysqlTryLogin logs in with uri; it returns the pool (closed when the spec ends) or the error
// of logging in.
func mysqlTryLogin(ctx context.Context, uri string) (*sql.DB, error) {
	GinkgoHelper()
	return testkit.MySQLLogin(ctx, GinkgoT(), mysqlConfig(uri))
}

func mysqlLogin(ctx context.Context, uri string) *sql.DB {
	GinkgoHelper()
	db, err := mysqlTryLogin(ctx, uri)
	Expect(err).NotTo(HaveOccurred(), "logging in with the binding's credentials")
	return db
}

// expectMySQLLoginRefused checks that err is the server refusing a login: MariaDB answers
// 1045, or 1698 when the account does not exist.
func expectMySQLLoginRefused(err error) {
	GinkgoHelper()
	e, ok := errors.AsType[*gomysql.MySQLError](err)
	Expect(ok).To(BeTrue(), "the login is refused by the server: %v", err)
	Expect(e.Number).To(BeElementOf(uint16(1045), uint16(1698)), "%v", err)
}

// mysqlAdmin connects to the broker's MariaDB node as its admin, to check what the broker did.
func mysqlAdmin() *sql.DB {
	GinkgoHelper()
	db, err := mysqlTryLogin(context.Background(), mysqlAdminURL)
	Expect(err).NotTo(HaveOccurred(), "MariaDB must be reachable at OMNIBROKER_TEST_MYSQL_URL")
	db.SetMaxOpenConns(2)
	return db
}

func mysqlCount(db *sql.DB, query string, args ...any) int {
	GinkgoHelper()
	var n int
	Expect(db.QueryRow(query, args...).Scan(&n)).To(Succeed(), query)
	return n
}

func databasesSeenBy(ctx context.Context, db *sql.DB) []string {
	GinkgoHelper()
	names, err := testkit.QueryStrings(ctx, db, `SHOW DATABASES`)
	Expect(err).NotTo(HaveOccurred())
	return names
}

// mysqlGrantPattern is dbName as a database-level grant spells it, with its underscores escaped.
func mysqlGrantPattern(dbName string) string { return strings.ReplaceAll(dbName, "_", `\_`) }

// parseURLWithSecret parses a URL that carries a password. url.Parse's error quotes the whole
// URL, so a failure says only what did not parse.
func parseURLWithSecret(s, what string) *url.URL {
	GinkgoHelper()
	u, err := url.Parse(s)
	Expect(err == nil).To(BeTrue(), "%s does not parse as a URL", what)
	return u
}

// dropLeftoverMySQL drops the database of instance id and the users granted it when the
// spec ends, in case a failed spec left them behind on the shared server; a passing spec has
// removed them already.
func dropLeftoverMySQL(admin *sql.DB, id string) {
	dbName := backendDatabase(id)
	DeferCleanup(func() {
		for _, u := range queryStrings(admin, `SELECT User FROM mysql.db WHERE Host = '%' AND Db = ?`, mysqlGrantPattern(dbName)) {
			_, err := admin.Exec("DROP USER IF EXISTS `" + u + "`@'%'")
			Expect(err).NotTo(HaveOccurred())
		}
		_, err := admin.Exec("DROP DATABASE IF EXISTS `" + dbName + "`")
		Expect(err).NotTo(HaveOccurred())
	})
}
