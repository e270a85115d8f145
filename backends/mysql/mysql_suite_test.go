package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"strconv"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/mysql"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestMySQL(t *testing.T) { testkit.RunSuite(t, "MySQL Backend Suite") }

var suite = backendtest.NewSuite("mysql", testkit.MySQL, testkit.MySQLAdmin, mysql.New, "mysql-local",
	backendtest.ClosedNode("mysql-closed", "mysql", "root", "/"))

// newInstance returns an instance with a fresh id on mysql-local, deprovisioned after the spec,
// which then checks that its database is gone.
func newInstance(planConfig map[string]any) backends.Instance {
	return suite.Calls().NewInstance("mysql-local", planConfig, func(ctx context.Context, inst backends.Instance) {
		Expect(databaseExists(ctx, databaseName(inst))).To(BeFalse())
	})
}

func provisioned(ctx context.Context, planConfig map[string]any) backends.Instance {
	inst := newInstance(planConfig)
	Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())
	return inst
}

func newBinding() backends.Binding { return backendtest.NewBinding() }

// login connects with the credentials' hostname, port, username, password and database
// (dbname, "" for none), as an application would, and returns the pool, closed after the spec.
func login(ctx context.Context, creds backends.Credentials, dbname string) (*sql.DB, error) {
	cfg := gomysql.NewConfig()
	cfg.User = creds["username"].(string)
	cfg.Passwd = creds["password"].(string)
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(creds["hostname"].(string), strconv.Itoa(creds["port"].(int)))
	cfg.DBName = dbname
	return testkit.MySQLLogin(ctx, GinkgoT(), cfg)
}

func mustLogin(ctx context.Context, creds backends.Credentials) *sql.DB {
	db, err := login(ctx, creds, creds["name"].(string))
	Expect(err).NotTo(HaveOccurred())
	return db
}

// serverError is the server's error number in err, or 0.
func serverError(err error) uint16 {
	if e, ok := errors.AsType[*gomysql.MySQLError](err); ok {
		return e.Number
	}
	return 0
}

// expectLoginRefused checks that err is the server refusing a login: MariaDB answers 1698
// instead of 1045 when the account does not exist and its plugin cannot be known.
func expectLoginRefused(err error) {
	Expect(serverError(err)).To(BeElementOf(uint16(1045), uint16(1698)), "%v", err)
}

func databaseName(inst backends.Instance) string { return backends.Name("ob_", inst.ID) }

func userName(inst backends.Instance, b backends.Binding) string {
	return backends.UserName(inst.ID, b)
}

func databaseExists(ctx context.Context, dbname string) bool {
	var n int
	Expect(suite.Admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, dbname).Scan(&n)).To(Succeed())
	return n > 0
}

func userExists(ctx context.Context, user string) bool {
	var n int
	Expect(suite.Admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM mysql.user WHERE User = ?`, user).Scan(&n)).To(Succeed())
	return n > 0
}

func maxUserConnectionsOf(ctx context.Context, user string) int {
	var n int
	Expect(suite.Admin.QueryRowContext(ctx, `SELECT max_user_connections FROM mysql.user WHERE User = ? AND Host = '%'`, user).Scan(&n)).To(Succeed())
	return n
}

// adminExec runs stmt as the admin.
func adminExec(ctx context.Context, stmt string, args ...any) {
	_, err := suite.Admin.ExecContext(ctx, stmt, args...)
	Expect(err).NotTo(HaveOccurred(), stmt)
}
