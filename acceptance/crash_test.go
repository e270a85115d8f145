package acceptance_test

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// fanOut sends one request per instance id at once and returns the answers in order.
func fanOut(ids []string, send func(id string) (response, error)) []response {
	GinkgoHelper()
	answers := make([]response, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { answers[i], errs[i] = send(id) })
	}
	wg.Wait()
	for i := range ids {
		Expect(errs[i]).NotTo(HaveOccurred())
	}
	return answers
}

// awaitAll polls every operation until all have succeeded; a failed one ends the wait.
func awaitAll(c *osbClient, ids, ops []string, p plan, timeout time.Duration) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		for i, id := range ids {
			q := planQuery(p, nil)
			q.Set("operation", ops[i])
			r, err := c.try(http.MethodGet, instancePath(id)+"/last_operation", q, nil)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(r.Status).To(Equal(http.StatusOK), r.String())
			if r.str("state") == "failed" {
				StopTrying(fmt.Sprintf("operation %d failed: %s", i, r)).Now()
			}
			g.Expect(r.str("state")).To(Equal("succeeded"), "operation %d", i)
		}
	}).WithTimeout(timeout).WithPolling(time.Second).Should(Succeed())
}

// existingDatabases returns which of want exist in pg_database, once per row.
func existingDatabases(want []string) []string {
	GinkgoHelper()
	return queryStrings(adminDB, `SELECT datname FROM pg_database WHERE datname = ANY($1)`, pq.Array(want))
}

var _ = Describe("Crash recovery", func() {
	When("the broker is killed while its workers run provisions", func() {
		It("finishes every accepted provision once, after a restart on the same state database", func() {
			const n = 20
			state := newStateDB()
			env := map[string]string{
				"OMNIBROKER_WORKERS":       "2",
				"OMNIBROKER_LEASE":         "2s",
				"OMNIBROKER_POLL_INTERVAL": "500ms",
			}
			ids, names := make([]string, n), make([]string, n)
			for i := range ids {
				ids[i] = newID()
				names[i] = backendDatabase(ids[i])
				dropLeftoverDatabase(ids[i])
			}

			By("accepting 20 async provisions at once, while none can place its instance")
			first := startBroker(state, env)
			lock := holdPlacementLock(state)
			c := first.client()
			answers := fanOut(ids, func(id string) (response, error) {
				return c.try(http.MethodPut, instancePath(id), incomplete(true), provisionBody(asyncPlan, nil))
			})
			ops := make([]string, n)
			for i, r := range answers {
				Expect(r.Status).To(Equal(http.StatusAccepted), "provision %d: %s", i, r)
				ops[i] = operationOf(r)
			}
			db := state.open()
			runningOps := func() int { return count(db, `SELECT count(*) FROM operations WHERE state = 'running'`) }
			Eventually(runningOps).Should(BeNumerically(">=", 1), "a worker has claimed a provision")

			By("killing the broker while its workers run provisions")
			first.kill()
			unfinished := count(db, `SELECT count(*) FROM operations WHERE state <> 'succeeded'`)
			running := runningOps()
			GinkgoWriter.Printf("killed with %d operations unfinished, %d of them running\n", unfinished, running)
			Expect(running).To(BeNumerically(">=", 1), "the kill interrupted a running provision")
			Expect(unfinished).To(Equal(n), "no provision could finish without placing its instance")
			lock.release()

			By("restarting it on the same state database")
			second := startBroker(state, env)
			c = second.client()
			awaitAll(c, ids, ops, asyncPlan, 90*time.Second)
			Expect(existingDatabases(names)).To(ConsistOf(names), "exactly one database per instance")
			Expect(count(adminDB, `SELECT count(*) FROM pg_database WHERE datname = ANY($1)`, pq.Array(names))).To(Equal(n))
			for _, id := range ids {
				r := c.getInstance(id)
				Expect(r.Status).To(Equal(http.StatusOK), r.String())
			}

			By("deprovisioning them all")
			answers = fanOut(ids, func(id string) (response, error) {
				return c.try(http.MethodDelete, instancePath(id), planQuery(asyncPlan, incomplete(true)), nil)
			})
			for i, r := range answers {
				Expect(r.Status).To(Equal(http.StatusAccepted), "deprovision %d: %s", i, r)
				ops[i] = operationOf(r)
			}
			awaitAll(c, ids, ops, asyncPlan, 60*time.Second)
			Expect(existingDatabases(names)).To(BeEmpty())
			second.stop()
		})
	})
})

var _ = Describe("Shutdown", func() {
	When("the broker gets SIGTERM while an operation is under way", func() {
		It("exits 0 and leaves no operation claimed, so a restart finishes it at once", func() {
			state := newStateDB()
			id := newID()
			dropLeftoverDatabase(id)
			b := startBroker(state, nil)
			c := b.client()
			r := c.provision(id, provisionBody(asyncPlan, nil), true)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			op := operationOf(r)

			b.session.Terminate()
			Eventually(b.session, 30*time.Second).Should(gexec.Exit(0))
			var opState string
			var attempt int
			Expect(state.open().QueryRow(`SELECT state, attempt FROM operations WHERE id = $1`, op).Scan(&opState, &attempt)).To(Succeed())
			Expect(opState).NotTo(Equal("running"),
				"a graceful stop finishes or releases what it claimed; attempt %d is left running until its lease expires", attempt)

			b = startBroker(state, nil)
			c = b.client()
			// Well under the default 30s lease: the operation must not wait for one to expire.
			expectSucceeded(await(func() response { return c.lastOperation(id, asyncPlan, op) }, 15*time.Second))
			c.deprovisionGone(id, asyncPlan)
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())
		})
	})
})
