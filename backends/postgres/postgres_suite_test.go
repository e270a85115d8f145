package postgres_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	"code.cloudfoundry.org/lager/v3/lagerctx"
	"code.cloudfoundry.org/lager/v3/lagertest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/postgres"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestPostgres(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Postgres Backend Suite")
}

const closedNodePassword = backendtest.ClosedNodePassword

var (
	adminURL string
	admin    *sql.DB
	backend  *postgres.Postgres
	logger   *lagertest.TestLogger
)

var _ = BeforeSuite(func() {
	adminURL = testkit.Postgres.URL()
	admin = testkit.PostgresAdmin(GinkgoT(), testkit.Postgres)

	backend = testkit.OpenAdapter(GinkgoT(), postgres.New, "pg-local",
		backends.Server{Name: "pg-local", AdminURL: adminURL},
		backends.Server{Name: "pg-closed", AdminURL: "postgres://postgres:" + closedNodePassword + "@127.0.0.1:1/postgres?sslmode=disable"})
})

var _ = BeforeEach(func() {
	logger = lagertest.NewTestLogger("postgres-test")
})

// logged returns ctx carrying this spec's test logger, as the worker hands its session on.
func logged(ctx context.Context) context.Context {
	return lagerctx.NewContext(ctx, logger)
}

// newInstance returns an instance with a fresh id on pg-local, deprovisioned after the spec,
// which then checks that nothing of it is left.
func newInstance(planConfig map[string]any, extensions ...string) backends.Instance {
	inst := calls(backend).NewInstance("pg-local", planConfig, func(ctx context.Context, inst backends.Instance) {
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
	Expect(calls(backend).Provision(logged(ctx), inst)).To(Succeed())
	return inst
}

func newBinding() backends.Binding { return backendtest.NewBinding() }

// bound binds a new binding to inst, logged with the spec's logger.
func bound(ctx context.Context, inst backends.Instance) (backends.Binding, backends.Credentials) {
	return calls(backend).Bound(logged(ctx), inst)
}

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
	db, err := login(ctx, withDatabase(adminURL, dbname))
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
	Expect(admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists)).To(Succeed())
	return exists
}

func databaseCount(ctx context.Context, dbname string) int {
	var n int
	Expect(admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, dbname).Scan(&n)).To(Succeed())
	return n
}
