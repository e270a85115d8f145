package store_test

import (
	"encoding/json"
	"errors"
	"sync"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
	"github.com/omnibroker/omnibroker/store"
)

// leastUsed picks the node of nodes with the fewest instances, the first on a tie.
func leastUsed(nodes ...string) func(map[string]int, map[string]bool) (string, error) {
	return func(used map[string]int, _ map[string]bool) (string, error) {
		best := nodes[0]
		for _, n := range nodes[1:] {
			if used[n] < used[best] {
				best = n
			}
		}
		return best, nil
	}
}

var _ = Describe("AssignNode", func() {
	var backend string

	BeforeEach(func() {
		backend = "backend-" + uuid.NewString()
	})

	createOn := func(ctx SpecContext) store.Instance {
		inst := newInstance()
		inst.Backend = backend
		Expect(st.CreateInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""))).To(Succeed())
		return inst
	}

	When("twenty workers place twenty instances at once", func() {
		It("never overfills a node: each of two ends with ten", func(ctx SpecContext) {
			var instances []store.Instance
			for range 20 {
				instances = append(instances, createOn(ctx))
			}
			var (
				wg     sync.WaitGroup
				placed = make([]string, len(instances))
				errs   = make([]error, len(instances))
			)
			for i, inst := range instances {
				wg.Go(func() {
					placed[i], errs[i] = st.AssignNode(ctx, inst.ID, backend, leastUsed("node-1", "node-2"))
				})
			}
			wg.Wait()
			Expect(errs).To(HaveEach(BeNil()))

			var counts []struct {
				Node string `db:"node"`
				N    int    `db:"n"`
			}
			Expect(st.DB().SelectContext(ctx, &counts,
				"SELECT node, count(*) AS n FROM instances WHERE backend = $1 GROUP BY node ORDER BY node", backend)).To(Succeed())
			Expect(counts).To(HaveLen(2))
			Expect(counts[0].Node).To(Equal("node-1"))
			Expect(counts[0].N).To(Equal(10))
			Expect(counts[1].Node).To(Equal("node-2"))
			Expect(counts[1].N).To(Equal(10))

			for i, inst := range instances {
				got, err := st.GetInstance(ctx, inst.ID)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.Node).To(Equal(placed[i]))
			}
		})
	})

	It("places with its own instance the others of the backend waiting to be placed, each counted before the next", func(ctx SpecContext) {
		waiting := []store.Instance{createOn(ctx), createOn(ctx), createOn(ctx)}
		refused := waiting[2]
		inst := createOn(ctx)
		var plans []string
		others := func(planID string, parameters json.RawMessage) store.Choose {
			plans = append(plans, planID)
			if string(parameters) == `{"refuse": true}` {
				return func(map[string]int, map[string]bool) (string, error) { return "", errors.New("full") }
			}
			return leastUsed("node-1", "node-2")
		}
		_, err := st.DB().ExecContext(ctx, `UPDATE instances SET parameters = '{"refuse": true}' WHERE id = $1`, refused.ID)
		Expect(err).NotTo(HaveOccurred())

		Expect(st.AssignNodes(ctx, inst.ID, backend, leastUsed("node-1", "node-2"), others)).To(Equal("node-1"))
		Expect(plans).To(Equal([]string{"small", "small", "small"}), "asked for each waiting instance, with its plan")
		nodes := map[string]string{}
		for _, w := range waiting {
			got, err := st.GetInstance(ctx, w.ID)
			Expect(err).NotTo(HaveOccurred())
			nodes[w.ID] = got.Node
		}
		Expect(nodes[waiting[0].ID]).To(Equal("node-2"), "the placement before it counted")
		Expect(nodes[waiting[1].ID]).To(Equal("node-1"))
		Expect(nodes[refused.ID]).To(BeEmpty(), "left to its own worker, which hears why")

		By("its own worker finding it placed")
		Expect(st.AssignNode(ctx, waiting[0].ID, backend, leastUsed("node-1"))).To(Equal("node-2"))
	})

	It("makes the placements it makes for others durable with its own flush, which their workers wait for rather than flushing again", func(ctx SpecContext) {
		// A store of its own, so that its pool can be closed: what FlushPlacement still does then
		// needs no round trip.
		own := openStore(GinkgoT(), databaseURL, keys)
		waiting, inst := createOn(ctx), createOn(ctx)
		others := func(string, json.RawMessage) store.Choose { return leastUsed("node-1") }
		Expect(own.AssignNodes(ctx, inst.ID, backend, leastUsed("node-1"), others)).To(Equal("node-1"))
		elsewhere := createOn(ctx)
		Expect(st.AssignNodes(ctx, createOn(ctx).ID, backend, leastUsed("node-1"), others)).To(Equal("node-1"))
		Expect(own.Close()).To(Succeed())

		Expect(own.FlushPlacement(ctx, waiting.ID)).To(Succeed(), "placed by this process, its flush done")
		Expect(own.FlushPlacement(ctx, waiting.ID)).NotTo(Succeed(), "asked again: flushes itself")
		Expect(own.FlushPlacement(ctx, elsewhere.ID)).NotTo(Succeed(), "placed by another process: flushes itself")
	})

	It("counts only the instances of its own backend", func(ctx SpecContext) {
		other := newInstance()
		other.Backend = "other-" + uuid.NewString()
		Expect(st.CreateInstance(ctx, other, newOperation(store.OpProvision, other.ID, ""))).To(Succeed())
		Expect(st.AssignNode(ctx, other.ID, other.Backend, leastUsed("node-1"))).To(Equal("node-1"))

		inst := createOn(ctx)
		var seen map[string]int
		_, err := st.AssignNode(ctx, inst.ID, backend, func(used map[string]int, _ map[string]bool) (string, error) {
			seen = used
			return "node-1", nil
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(BeEmpty())
	})

	It("hands choose the nodes drained of its backend, drained at once and undrained at once", func(ctx SpecContext) {
		var seen map[string]bool
		see := func(_ map[string]int, drained map[string]bool) (string, error) {
			seen = drained
			return "node-1", nil
		}
		Expect(st.DrainNode(ctx, backend, "node-2", "alice", "retiring")).To(BeTrue())
		Expect(st.DrainNode(ctx, backend, "node-2", "bob", "")).To(BeFalse(), "drained already")
		Expect(st.DrainNode(ctx, "other-"+uuid.NewString(), "node-3", "alice", "")).To(BeTrue())
		Expect(st.AssignNode(ctx, createOn(ctx).ID, backend, see)).To(Equal("node-1"))
		Expect(seen).To(Equal(map[string]bool{"node-2": true}))
		drains, err := st.Drains(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(drains).To(ContainElement(SatisfyAll(HaveField("Backend", backend), HaveField("Node", "node-2"),
			HaveField("DrainedBy", "alice"), HaveField("Reason", "retiring"))))

		Expect(st.UndrainNode(ctx, backend, "node-2")).To(BeTrue())
		Expect(st.UndrainNode(ctx, backend, "node-2")).To(BeFalse(), "not drained any more")
		Expect(st.AssignNode(ctx, createOn(ctx).ID, backend, see)).To(Equal("node-1"))
		Expect(seen).To(BeEmpty())
	})

	When("the instance was placed before", func() {
		It("returns its node without choosing again", func(ctx SpecContext) {
			inst := createOn(ctx)
			Expect(st.AssignNode(ctx, inst.ID, backend, leastUsed("node-2"))).To(Equal("node-2"))

			called := false
			node, err := st.AssignNode(ctx, inst.ID, backend, func(map[string]int, map[string]bool) (string, error) {
				called = true
				return "node-1", nil
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(node).To(Equal("node-2"))
			Expect(called).To(BeFalse())
		})
	})

	When("choose fails", func() {
		It("returns its error and leaves the instance unplaced", func(ctx SpecContext) {
			inst := createOn(ctx)
			full := errors.New("every node is full")
			_, err := st.AssignNode(ctx, inst.ID, backend, func(map[string]int, map[string]bool) (string, error) { return "", full })
			Expect(err).To(MatchError(full))
			got, err := st.GetInstance(ctx, inst.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Node).To(BeEmpty())
		})
	})

	It("returns ErrNotFound for an instance that does not exist", func(ctx SpecContext) {
		_, err := st.AssignNode(ctx, uuid.NewString(), backend, leastUsed("node-1"))
		Expect(err).To(MatchError(store.ErrNotFound))
	})
})

var _ = Describe("CreatePlacedInstance", func() {
	var backend string

	BeforeEach(func() {
		backend = "backend-" + uuid.NewString()
	})

	newOn := func() store.Instance {
		inst := newInstance()
		inst.Backend = backend
		return inst
	}

	When("twenty requests create twenty instances at once, and workers place those left unplaced", func() {
		It("never overfills a node: each of two ends with ten, and each instance is where it was told", func(ctx SpecContext) {
			var (
				wg        sync.WaitGroup
				instances = make([]store.Instance, 20)
				placed    = make([]string, 20)
				errs      = make([]error, 20)
			)
			for i := range instances {
				instances[i] = newOn()
				wg.Go(func() {
					placed[i], errs[i] = st.CreatePlacedInstance(ctx, instances[i], newOperation(store.OpProvision, instances[i].ID, ""), leastUsed("node-1", "node-2"))
				})
			}
			wg.Wait()
			Expect(errs).To(HaveEach(BeNil()))
			for i, inst := range instances {
				if placed[i] != "" {
					continue
				}
				wg.Go(func() {
					placed[i], errs[i] = st.AssignNode(ctx, inst.ID, backend, leastUsed("node-1", "node-2"))
				})
			}
			wg.Wait()
			Expect(errs).To(HaveEach(BeNil()))
			for i, inst := range instances {
				got, err := st.GetInstance(ctx, inst.ID)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.Node).To(Equal(placed[i]))
			}

			var seen map[string]int
			last := newOn()
			_, err := st.CreatePlacedInstance(ctx, last, newOperation(store.OpProvision, last.ID, ""), func(used map[string]int, _ map[string]bool) (string, error) {
				seen = used
				return "node-2", nil
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(seen).To(Equal(map[string]int{"node-1": 10, "node-2": 10}))
		})
	})

	It("hands choose the nodes drained of its backend", func(ctx SpecContext) {
		Expect(st.DrainNode(ctx, backend, "node-2", "alice", "retiring")).To(BeTrue())
		var seen map[string]bool
		inst := newOn()
		Expect(st.CreatePlacedInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""), func(_ map[string]int, drained map[string]bool) (string, error) {
			seen = drained
			return "node-1", nil
		})).To(Equal("node-1"))
		Expect(seen).To(Equal(map[string]bool{"node-2": true}))
	})

	When("choose refuses", func() {
		It("queues the provision of an unplaced instance, which AssignNode places later", func(ctx SpecContext) {
			inst := newOn()
			op := newOperation(store.OpProvision, inst.ID, "")
			node, err := st.CreatePlacedInstance(ctx, inst, op, func(map[string]int, map[string]bool) (string, error) {
				return "", errors.New("every node is full")
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(node).To(BeEmpty())
			got, err := st.GetOperation(ctx, op.ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.State).To(Equal(store.OpQueued))
			Expect(st.AssignNode(ctx, inst.ID, backend, leastUsed("node-3"))).To(Equal("node-3"))
		})
	})

	When("another placement of the backend holds the lock", func() {
		It("inserts the instance unplaced at once, and AssignNode places it once the lock is free", func(ctx SpecContext) {
			lock := testkit.HoldPlacementLock(GinkgoT(), st.DB().DB, backend)
			inst := newOn()
			called := false
			node, err := st.CreatePlacedInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""), func(map[string]int, map[string]bool) (string, error) {
				called = true
				return "node-1", nil
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(node).To(BeEmpty())
			Expect(called).To(BeFalse())
			lock.Release()
			Expect(st.AssignNode(ctx, inst.ID, backend, leastUsed("node-1"))).To(Equal("node-1"))
		})
	})

	When("the instance id is taken", func() {
		It("returns ErrConflict and counts nothing", func(ctx SpecContext) {
			inst := newOn()
			Expect(st.CreatePlacedInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""), leastUsed("node-1"))).To(Equal("node-1"))
			_, err := st.CreatePlacedInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""), leastUsed("node-1"))
			Expect(err).To(MatchError(store.ErrConflict))

			var seen map[string]int
			other := newOn()
			Expect(st.CreatePlacedInstance(ctx, other, newOperation(store.OpProvision, other.ID, ""), func(used map[string]int, _ map[string]bool) (string, error) {
				seen = used
				return "node-1", nil
			})).To(Equal("node-1"))
			Expect(seen).To(Equal(map[string]int{"node-1": 1}))
		})
	})
})

var _ = Describe("The instances per node that placement counts", func() {
	It("follow every insert, delete and change of node of an instance row, however it is written", func(ctx SpecContext) {
		backend := "backend-" + uuid.NewString()
		counted := func() map[string]int {
			var seen map[string]int
			inst := newInstance()
			inst.Backend = backend
			_, err := st.CreatePlacedInstance(ctx, inst, newOperation(store.OpProvision, inst.ID, ""), func(used map[string]int, _ map[string]bool) (string, error) {
				seen = used
				return "", errors.New("only counting")
			})
			Expect(err).NotTo(HaveOccurred())
			return seen
		}
		By("inserting five rows on two nodes in one statement, and one unplaced")
		Expect(st.DB().ExecContext(ctx, `
INSERT INTO instances (id, service_id, plan_id, organization_guid, space_guid, backend, node, state)
SELECT gen_random_uuid()::text, 's', 'p', 'o', 's', $1, CASE WHEN n <= 3 THEN 'node-a' ELSE 'node-b' END, 'ready'
FROM generate_series(1, 5) AS n`, backend)).Error().NotTo(HaveOccurred())
		Expect(counted()).To(Equal(map[string]int{"node-a": 3, "node-b": 2}))

		By("moving one instance to another node and placing an unplaced one")
		Expect(st.DB().ExecContext(ctx, `
UPDATE instances SET node = 'node-c' WHERE id = (SELECT id FROM instances WHERE backend = $1 AND node = 'node-a' LIMIT 1)`, backend)).Error().NotTo(HaveOccurred())
		Expect(st.DB().ExecContext(ctx, `
UPDATE instances SET node = 'node-b' WHERE id = (SELECT id FROM instances WHERE backend = $1 AND node IS NULL LIMIT 1)`, backend)).Error().NotTo(HaveOccurred())
		Expect(counted()).To(Equal(map[string]int{"node-a": 2, "node-b": 3, "node-c": 1}))

		By("changing the state of every instance, which moves none")
		Expect(st.DB().ExecContext(ctx, `UPDATE instances SET state = 'failed', node = node WHERE backend = $1`, backend)).Error().NotTo(HaveOccurred())
		Expect(counted()).To(Equal(map[string]int{"node-a": 2, "node-b": 3, "node-c": 1}))

		By("deleting the instances of node-a and one of node-b in one statement, and the unplaced ones")
		Expect(st.DB().ExecContext(ctx, `
DELETE FROM instances
WHERE backend = $1
    AND (node = 'node-a' OR node IS NULL OR id = (SELECT id FROM instances WHERE backend = $1 AND node = 'node-b' LIMIT 1))`, backend)).Error().NotTo(HaveOccurred())
		Expect(counted()).To(Equal(map[string]int{"node-b": 2, "node-c": 1}))
	})
})
