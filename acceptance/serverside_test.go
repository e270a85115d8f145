package acceptance_test

// Server-side checks: what a broker left on the backend servers and in its state database.

import (
	"context"
	"database/sql"
	"time"

	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// backendDatabase is the name of the PostgreSQL database the broker creates for an instance.
func backendDatabase(instanceID string) string { return backendName("ob_", instanceID) }

func databaseExists(name string) bool {
	GinkgoHelper()
	var n int
	Expect(adminDB.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n)).To(Succeed())
	return n > 0
}

func roleExists(name string) bool {
	GinkgoHelper()
	var n int
	Expect(adminDB.QueryRow(`SELECT count(*) FROM pg_roles WHERE rolname = $1`, name).Scan(&n)).To(Succeed())
	return n > 0
}

// connect logs in with an application's uri; it returns the connection (closed when the
// spec ends) or the error of logging in.
func connect(uri string) (*sql.DB, error) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := testkit.PostgresLogin(ctx, GinkgoT(), uri)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func mustConnect(uri string) *sql.DB {
	GinkgoHelper()
	db, err := connect(uri)
	Expect(err).NotTo(HaveOccurred(), "logging in with the binding's uri")
	return db
}

// dropLeftoverDatabase drops the instance's backend database when the spec ends, in case a
// failed spec left it behind on the shared server; a passing spec has removed it already.
func dropLeftoverDatabase(instanceID string) {
	DeferCleanup(func() {
		_, err := adminDB.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(backendDatabase(instanceID)) + " WITH (FORCE)")
		Expect(err).NotTo(HaveOccurred())
	})
}

// placementLock holds, in its own transaction on a broker's state database, the advisory
// lock a worker takes before it places a new instance on a node. While it is held every
// provision of the catalog's postgres backend stays running in its worker: real delay,
// without a fake.
type placementLock struct{ *testkit.PlacementLock }

// holdPlacementLock takes the placement lock of the postgres backend on state and releases
// it when the current node ends, unless the spec released it first.
func holdPlacementLock(state stateDB) placementLock {
	GinkgoHelper()
	return placementLock{testkit.HoldPlacementLock(GinkgoT(), state.open(), "postgres")}
}

// release lets the waiting provisions go on; only its first call does anything.
func (l placementLock) release() { l.Release() }

// releaseAfter releases the lock after d, from a goroutine of its own, while the spec is
// blocked in a request.
func (l placementLock) releaseAfter(d time.Duration) { l.ReleaseAfter(d) }

// count runs a query of one integer on db.
func count(db *sql.DB, query string, args ...any) int {
	GinkgoHelper()
	var n int
	Expect(db.QueryRow(query, args...).Scan(&n)).To(Succeed(), query)
	return n
}

// expectNoInstanceStored checks in the state database that nothing was recorded for the
// instance: no instance row and no operation. GET cannot tell, since it answers 404 to an
// instance that is still provisioning, or whose provision failed, too.
func expectNoInstanceStored(state *sql.DB, instanceID string) {
	GinkgoHelper()
	Expect(count(state, `SELECT count(*) FROM instances WHERE id = $1`, instanceID)).To(BeZero(), "an instance row was stored")
	Expect(count(state, `SELECT count(*) FROM operations WHERE instance_id = $1`, instanceID)).To(BeZero(), "an operation was stored for the instance")
}

// expectNoBindingStored is expectNoInstanceStored for a binding: no binding row and no
// operation on it.
func expectNoBindingStored(state *sql.DB, bindingID string) {
	GinkgoHelper()
	Expect(count(state, `SELECT count(*) FROM bindings WHERE id = $1`, bindingID)).To(BeZero(), "a binding row was stored")
	Expect(count(state, `SELECT count(*) FROM operations WHERE binding_id = $1`, bindingID)).To(BeZero(), "an operation was stored for the binding")
}

// operationStates returns the states of the instance's operations of kind, oldest first.
func operationStates(state *sql.DB, instanceID, kind string) []string {
	GinkgoHelper()
	return queryStrings(state, `SELECT state FROM operations WHERE instance_id = $1 AND kind = $2 ORDER BY created_at`, instanceID, kind)
}

// queryStrings runs query, which returns one text column, on db and returns its values in the
// order of the rows.
func queryStrings(db *sql.DB, query string, args ...any) []string {
	GinkgoHelper()
	values, err := testkit.QueryStrings(context.Background(), db, query, args...)
	Expect(err).NotTo(HaveOccurred())
	return values
}

// heldCall makes the postgres provision of instance id stop inside its backend call: a
// transaction of the spec's own creates the instance's owner role and does not commit, so the
// adapter's CREATE ROLE of that name waits for it. release rolls it back; waiting tells whether
// the adapter's statement is still waiting on the node.
func heldCall(id string) (waiting func() bool, release func()) {
	GinkgoHelper()
	owner := backendName("ob_o_", id)
	dropLeftoverDatabase(id)
	tx, err := adminDB.Begin()
	Expect(err).NotTo(HaveOccurred())
	_, err = tx.Exec(`CREATE ROLE ` + pq.QuoteIdentifier(owner) + ` NOLOGIN`)
	Expect(err).NotTo(HaveOccurred())
	release = func() { _ = tx.Rollback() }
	DeferCleanup(release)
	waiting = func() bool {
		return count(adminDB, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND position($1 IN query) > 0`, `CREATE ROLE `+pq.QuoteIdentifier(owner)) > 0
	}
	return waiting, release
}
