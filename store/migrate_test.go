package store_test

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
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
			Expect(applied).To(Equal([]int64{1, 2, 3}))

			inst := newInstance()
			Expect(replicaB.CreateInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""))).To(Succeed())
			_, err := replicaA.GetInstance(ctx, inst.ID)
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
