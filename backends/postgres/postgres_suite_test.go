package postgres_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/postgres"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestPostgres(t *testing.T) { testkit.RunSuite(t, "Postgres Backend Suite") }

var suite = backendtest.NewSuite("postgres", testkit.Postgres, testkit.PostgresAdmin, postgres.New, "pg-local",
	backendtest.ClosedNode("pg-closed", "postgres", "postgres", "/postgres?sslmode=disable"))

// newInstance returns an instance with a fresh id on pg-local, deprovisioned after the spec,
// which then checks that nothing of it is left.
func newInstance(planConfig map[string]any, extensions ...string) backends.Instance {
	inst := suite.Calls().NewInstance("pg-local", planConfig, func(ctx context.Context, inst backends.Instance) {
		Expect(databaseCount(ctx, databaseName(inst))).To(Equal(0))
		Expect(roleExists(ctx, ownerName(inst))).To(BeFalse())
	})
	if len(extensions) > 0 {
		inst.Parameters["extensions"] = anyList(extensions...)
	}
	return inst
}

func provisioned(ctx context.Context, planConfig map[string]any, extensions ...string) backends.Instance {
	inst := newInstance(planConfig, extensions...)
	Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())
	return inst
}

func newBinding() backends.Binding { return backendtest.NewBinding() }

func anyList(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// login connects with uri as an application would and returns the pool, closed after the spec.
func login(ctx context.Context, uri string) (*sql.DB, error) {
	GinkgoHelper()
	return testkit.PostgresLogin(ctx, GinkgoT(), uri)
}

func mustLogin(ctx context.Context, creds backends.Credentials) *sql.DB {
	db, err := login(ctx, creds["uri"].(string))
	Expect(err).NotTo(HaveOccurred())
	return db
}

// withDatabase returns uri with its database replaced by dbname.
func withDatabase(uri, dbname string) string {
	u, err := url.Parse(uri)
	Expect(err == nil).To(BeTrue(), "the URL parses") // url.Parse's error would quote the password
	u.Path = "/" + dbname
	return u.String()
}

// adminIn connects as the admin to database dbname.
func adminIn(ctx context.Context, dbname string) *sql.DB {
	db, err := login(ctx, withDatabase(suite.AdminURL, dbname))
	Expect(err).NotTo(HaveOccurred())
	return db
}

func databaseName(inst backends.Instance) string { return backends.Name("ob_", inst.ID) }
func ownerName(inst backends.Instance) string    { return backends.Name("ob_o_", inst.ID) }
func bindingName(inst backends.Instance, b backends.Binding) string {
	return backends.Name("ob_b_", inst.ID, b.ID)
}

func roleExists(ctx context.Context, role string) bool {
	var exists bool
	Expect(suite.Admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists)).To(Succeed())
	return exists
}

func databaseCount(ctx context.Context, dbname string) int {
	var n int
	Expect(suite.Admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, dbname).Scan(&n)).To(Succeed())
	return n
}
