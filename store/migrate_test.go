package store_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Migrate", func() {
	var (
		replicaA, replicaB *store.Store
	)

	BeforeEach(func(ctx SpecContext) {
		name := fmt.Sprintf("omnibroker_store_migrate_%d_%s", GinkgoParallelProcess(), uuid.NewString()[:8])
		u := createDatabase(ctx, name)
		DeferCleanup(func(ctx SpecContext) { dropDatabase(ctx, name) })

		var err error
		replicaA, err = store.Open(ctx, u, keys)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(replicaA.Close)
		replicaB, err = store.Open(ctx, u, keys)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(replicaB.Close)
	})

	When("replicas start together on an empty database", func() {
		It("applies every migration once and leaves a working schema", func(ctx SpecContext) {
			var wg sync.WaitGroup
			errs := make([]error, 3)
			for i, s := range []*store.Store{replicaA, replicaB, replicaA} {
				wg.Go(func() { errs[i] = s.Migrate(ctx) })
			}
			wg.Wait()
			Expect(errs).To(HaveEach(BeNil()))

			var applied []int64
			Expect(replicaA.DB().SelectContext(ctx, &applied,
				"SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY id")).To(Succeed())
			_, latest, err := replicaA.SchemaVersion(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(latest).To(BeNumerically(">=", 10))
			Expect(applied).To(HaveLen(int(latest)), "each migration once")
			for i, v := range applied {
				Expect(v).To(Equal(int64(i+1)), "in order")
			}

			inst := newInstance()
			Expect(replicaB.CreateInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""))).To(Succeed())
			_, err = replicaA.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
		}, SpecTimeout(30*time.Second))
	})

	It("lets an instance be delete_failed and still rejects a state it does not know", func(ctx SpecContext) {
		Expect(replicaA.Migrate(ctx)).To(Succeed())
		inst := newInstance()
		Expect(replicaA.CreateInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""))).To(Succeed())

		_, err := replicaA.DB().ExecContext(ctx, "UPDATE instances SET state = $2 WHERE id = $1", inst.ID, store.InstanceDeleteFailed)
		Expect(err).NotTo(HaveOccurred())
		got, err := replicaA.GetInstance(ctx, inst.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.State).To(Equal(store.InstanceDeleteFailed))

		_, err = replicaA.DB().ExecContext(ctx, "UPDATE instances SET state = 'deleted' WHERE id = $1", inst.ID)
		Expect(err).To(MatchError(ContainSubstring("instances_state_check")))
	}, SpecTimeout(30*time.Second))

	It("runs each migration up, down and up again, and each down restores the schema before it", func(ctx SpecContext) {
		provider, err := replicaA.MigrationProvider()
		Expect(err).NotTo(HaveOccurred())
		Expect(provider.ListSources()).NotTo(BeEmpty())
		db := replicaA.DB()

		before, previous := schemaOf(ctx, db), int64(0)
		for _, source := range provider.ListSources() {
			version := source.Version
			By(fmt.Sprintf("migration %d up", version))
			Expect(provider.UpTo(ctx, version)).Error().NotTo(HaveOccurred())
			Expect(provider.GetDBVersion(ctx)).To(Equal(version))
			after := schemaOf(ctx, db)
			Expect(after).NotTo(Equal(before), "migration %d changes no schema", version)
			rows, newer := rowsOnlyAllowedBy[version]
			if newer {
				Expect(db.ExecContext(ctx, rows.write)).Error().NotTo(HaveOccurred())
			}

			By(fmt.Sprintf("migration %d down", version))
			Expect(provider.DownTo(ctx, previous)).Error().NotTo(HaveOccurred())
			Expect(provider.GetDBVersion(ctx)).To(Equal(previous))
			Expect(schemaOf(ctx, db)).To(Equal(before), "the down of migration %d leaves another schema than the one before it", version)
			if newer {
				var n int
				Expect(db.GetContext(ctx, &n, rows.check)).To(Succeed())
				Expect(n).To(Equal(rows.want), "the down of migration %d: %s", version, rows.check)
			}

			By(fmt.Sprintf("migration %d up again", version))
			Expect(provider.UpTo(ctx, version)).Error().NotTo(HaveOccurred())
			Expect(schemaOf(ctx, db)).To(Equal(after))
			before, previous = after, version
		}
		Expect(before).To(Equal(schemaOf(ctx, st.DB())), "one migration at a time ends where Migrate does")
	}, SpecTimeout(time.Minute))

	It("keeps the login names of the bindings recorded before migration 5, and goes down past it only once none named since is left", func(ctx SpecContext) {
		provider, err := replicaA.MigrationProvider()
		Expect(err).NotTo(HaveOccurred())
		db := replicaA.DB()
		Expect(provider.UpTo(ctx, 4)).Error().NotTo(HaveOccurred())
		Expect(db.ExecContext(ctx, `INSERT INTO instances (id, service_id, plan_id, organization_guid, space_guid, backend, state)
VALUES ('migration-5', 'service', 'small', 'org', 'space', 'redis', 'ready')`)).Error().NotTo(HaveOccurred())
		Expect(db.ExecContext(ctx, `INSERT INTO bindings (id, instance_id, service_id, plan_id, secret, secret_key_id, state)
VALUES ('old', 'migration-5', 'service', 'small', '\x00', 'key', 'failed')`)).Error().NotTo(HaveOccurred())

		Expect(provider.UpTo(ctx, 5)).Error().NotTo(HaveOccurred())
		newer := newBinding("migration-5")
		newer.ID = "new"
		Expect(replicaA.CreateBinding(ctx, newer, newOperation(store.OpBind, "migration-5", newer.ID))).To(Succeed())
		// Read with SQL: the store's own queries read the columns of later migrations.
		var legacy bool
		Expect(db.GetContext(ctx, &legacy, `SELECT legacy_name FROM bindings WHERE id = 'new'`)).To(Succeed())
		Expect(legacy).To(BeFalse())
		Expect(replicaA.BindingNames(ctx, "migration-5")).To(Equal([]store.BindingName{
			{ID: "new", LegacyName: false}, {ID: "old", LegacyName: true},
		}))

		_, err = provider.DownTo(ctx, 4)
		Expect(err).To(MatchError(ContainSubstring("unbind them first")))
		Expect(provider.GetDBVersion(ctx)).To(Equal(int64(5)))
		Expect(db.ExecContext(ctx, `DELETE FROM bindings WHERE id = 'new'`)).Error().NotTo(HaveOccurred())
		Expect(provider.DownTo(ctx, 4)).Error().NotTo(HaveOccurred())
	}, SpecTimeout(30*time.Second))

	Describe("SchemaVersion", func() {
		It("says how far the schema is migrated and how far this binary needs it, while another replica holds the migration lock", func(ctx SpecContext) {
			versions := func() []int64 {
				current, latest, err := replicaB.SchemaVersion(ctx)
				Expect(err).NotTo(HaveOccurred())
				return []int64{current, latest}
			}
			_, _, err := replicaA.SchemaVersion(ctx)
			Expect(err).To(HaveOccurred(), "a database that was never migrated")

			provider, err := replicaA.MigrationProvider()
			Expect(err).NotTo(HaveOccurred())
			sources := provider.ListSources()
			newest := sources[len(sources)-1].Version
			Expect(provider.UpTo(ctx, newest-1)).Error().NotTo(HaveOccurred())
			Expect(versions()).To(Equal([]int64{newest - 1, newest}))

			By("holding the migration lock in another session")
			conn, err := replicaA.DB().Conn(ctx)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(conn.Close)
			Expect(conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", store.MigrationLockID)).Error().NotTo(HaveOccurred())
			Expect(versions()).To(Equal([]int64{newest - 1, newest}))
			Expect(conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", store.MigrationLockID)).Error().NotTo(HaveOccurred())

			Expect(replicaB.Migrate(ctx)).To(Succeed())
			Expect(versions()).To(Equal([]int64{newest, newest}))
		}, SpecTimeout(30*time.Second))
	})

	When("the database is already migrated", func() {
		It("does nothing and succeeds", func(ctx SpecContext) {
			Expect(replicaA.Migrate(ctx)).To(Succeed())
			inst := newInstance()
			Expect(replicaA.CreateInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""))).To(Succeed())

			Expect(replicaB.Migrate(ctx)).To(Succeed())

			_, err := replicaB.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred(), "a second Migrate must keep the rows")
			var n int
			Expect(replicaA.DB().GetContext(ctx, &n, "SELECT count(*) FROM goose_db_version WHERE version_id = 1")).To(Succeed())
			Expect(n).To(Equal(1))
		}, SpecTimeout(30*time.Second))
	})
})

// rowsOnlyAllowedBy holds, per migration, rows that only the schema after it accepts: the test
// writes them after the up, so the down has to deal with them, and check counts what the down
// made of them.
var rowsOnlyAllowedBy = map[int64]struct {
	write, check string
	want         int
}{
	2: {
		write: `INSERT INTO instances (id, service_id, plan_id, organization_guid, space_guid, backend, state)
VALUES ('migration-2', 'service', 'small', 'org', 'space', 'postgresql', 'delete_failed')`,
		check: `SELECT count(*) FROM instances WHERE id = 'migration-2' AND state = 'failed'`,
		want:  1,
	},
	3: {
		write: `INSERT INTO operations (id, kind, instance_id, binding_id, state, max_attempts)
VALUES ('migration-3', 'restore', 'instance', 'binding', 'failed', 1)`,
		check: `SELECT count(*) FROM operations WHERE id = 'migration-3'`,
		want:  0,
	},
}

// describeSchema lists the public schema but goose's own table, a line per column, constraint
// and index, in a stable order.
const describeSchema = `
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type
    || ' nullable ' || is_nullable || ' default ' || COALESCE(column_default, '-')
FROM information_schema.columns
WHERE table_schema = 'public'
    AND table_name <> 'goose_db_version'
UNION ALL
SELECT 'constraint ' || c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
WHERE c.relnamespace = 'public'::regnamespace
    AND c.relname <> 'goose_db_version'
UNION ALL
SELECT 'index ' || indexdef
FROM pg_indexes
WHERE schemaname = 'public'
    AND tablename <> 'goose_db_version'
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'public'::regnamespace
    AND NOT t.tgisinternal
UNION ALL
SELECT 'function ' || p.oid::regprocedure::text
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace
ORDER BY 1`

func schemaOf(ctx context.Context, db *sqlx.DB) []string {
	lines := []string{}
	Expect(db.SelectContext(ctx, &lines, describeSchema)).To(Succeed())
	return lines
}
