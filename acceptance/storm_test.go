package acceptance_test

// The re-sent DELETE storm: platforms that reconcile (Korifi, other Kubernetes controllers)
// send a DELETE again while it is in progress, and each one races the worker that finishes it.

import (
	"database/sql"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// stormed is what the identical DELETEs of one storm were answered.
type stormed struct {
	statuses map[int]int
	// operations maps each target's path to the operations its 202 answers named.
	operations map[string]map[string]bool
	serverErrs []string
}

// storm sends resent identical DELETEs at once for each of paths, all of them together, and
// returns what they were answered.
func storm(c *osbClient, paths []string, resent int) stormed {
	GinkgoHelper()
	out := stormed{statuses: map[int]int{}, operations: map[string]map[string]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, path := range paths {
		out.operations[path] = map[string]bool{}
		for range resent {
			wg.Go(func() {
				defer GinkgoRecover()
				r, err := c.try(http.MethodDelete, path, planQuery(asyncPlan, incomplete(true)), nil)
				Expect(err).NotTo(HaveOccurred(), "DELETE %s", path)
				mu.Lock()
				defer mu.Unlock()
				out.statuses[r.Status]++
				if r.Status >= 500 {
					out.serverErrs = append(out.serverErrs, r.String())
				}
				if r.Status == http.StatusAccepted {
					out.operations[path][r.str("operation")] = true
				}
			})
		}
	}
	wg.Wait()
	return out
}

// expectAnsweredOnce checks a storm's answers: no 5xx, only 200, 202 and 410, and the 202s for
// one target all naming the one operation that target has.
func (s stormed) expectAnsweredOnce() {
	GinkgoHelper()
	Expect(s.serverErrs).To(BeEmpty(), "5xx answers")
	for status := range s.statuses {
		Expect(status).To(BeElementOf(http.StatusOK, http.StatusAccepted, http.StatusGone), "statuses %v", s.statuses)
	}
	for path, ops := range s.operations {
		Expect(len(ops)).To(BeNumerically("<=", 1), "the DELETEs of %s follow one operation", path)
	}
}

// awaitKind waits until every operation of kind in the state database has succeeded, within
// timeout, and returns how long that took; it expects n of them. With the storm's long lease,
// an operation whose completion was lost would stay running past the timeout.
func awaitKind(db *sql.DB, kind string, n int, timeout time.Duration) time.Duration {
	GinkgoHelper()
	started := time.Now()
	Eventually(func(g Gomega) {
		g.Expect(count(db, `SELECT count(*) FROM operations WHERE kind = $1 AND state = 'failed'`, kind)).To(BeZero(), "failed %s operations", kind)
		g.Expect(count(db, `SELECT count(*) FROM operations WHERE kind = $1 AND state <> 'succeeded'`, kind)).To(BeZero())
	}).WithTimeout(timeout).WithPolling(250*time.Millisecond).Should(Succeed(), "every %s succeeds without waiting out a lease", kind)
	Expect(count(db, `SELECT count(*) FROM operations WHERE kind = $1`, kind)).To(Equal(n), "one %s operation per target", kind)
	return time.Since(started)
}

var _ = Describe("The re-sent DELETE storm", func() {
	It("answers 8 identical concurrent DELETEs per binding and per instance without a 5xx, and finishes each once, without a deadlock or a lost completion", func() {
		const n, resent = 30, 8
		state := newStateDB()
		// A lease of ten minutes: an operation whose completion was lost would stay running
		// far beyond the waits below.
		b := startBroker(state, map[string]string{"OMNIBROKER_LEASE": "10m", "OMNIBROKER_POLL_INTERVAL": "500ms"})
		c := b.client()
		db := state.open()

		ids := make([]string, n)
		bindingOf := map[string]string{}
		for i := range ids {
			ids[i] = newID()
			bindingOf[ids[i]] = newID()
			dropLeftoverDatabase(ids[i])
		}

		By("provisioning 30 instances of an async-only plan, and binding each")
		answers := fanOut(ids, func(id string) (response, error) {
			return c.try(http.MethodPut, instancePath(id), incomplete(true), provisionBody(asyncPlan, nil))
		})
		ops := make([]string, n)
		for i, r := range answers {
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			ops[i] = operationOf(r)
		}
		awaitAll(c, ids, ops, asyncPlan, 3*time.Minute)
		answers = fanOut(ids, func(id string) (response, error) {
			return c.try(http.MethodPut, bindingPath(id, bindingOf[id]), incomplete(true), bindBody(asyncPlan, newID(), nil))
		})
		for _, r := range answers {
			Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), r.String())
		}
		awaitKind(db, "bind", n, 3*time.Minute)

		By("deleting every binding with 8 identical DELETEs at once")
		started := time.Now()
		var paths []string
		for _, id := range ids {
			paths = append(paths, bindingPath(id, bindingOf[id]))
		}
		unbinds := storm(c, paths, resent)
		unbinds.expectAnsweredOnce()
		awaitKind(db, "unbind", n, 2*time.Minute)
		Expect(count(db, `SELECT count(*) FROM bindings`)).To(BeZero())

		By("deleting every instance with 8 identical DELETEs at once")
		paths = paths[:0]
		for _, id := range ids {
			paths = append(paths, instancePath(id))
		}
		deprovisions := storm(c, paths, resent)
		deprovisions.expectAnsweredOnce()
		awaitKind(db, "deprovision", n, 2*time.Minute)
		took := time.Since(started)
		Expect(count(db, `SELECT count(*) FROM instances`)).To(BeZero())

		By("finding no deadlock and no failed recording in the broker's log")
		out := string(b.session.Out.Contents()) + string(b.session.Err.Contents())
		deadlocks := strings.Count(out, "deadlock")
		Expect(deadlocks).To(BeZero(), "lines that mention a deadlock")
		Expect(out).NotTo(ContainSubstring("record-outcome-failed"))
		// A lost completion leaves its operation running for the rescuer (or the worker
		// abandoning it); a retry after a backend's transient failure is not one.
		Expect(out).NotTo(ContainSubstring(`.rescued"`))
		Expect(out).NotTo(ContainSubstring("lease-lost"))
		retried := count(db, `SELECT count(*) FROM operations WHERE kind IN ('unbind', 'deprovision') AND attempt > 1`)
		Expect(strings.Count(out, `operation.backend-failed"`)).To(BeNumerically(">=", retried), "each retried operation failed on its backend first")

		By("checking the node directly: no database and no role of these instances is left")
		var dbs []string
		for _, id := range ids {
			dbs = append(dbs, backendDatabase(id))
			Expect(roleExists(backendName("ob_o_", id))).To(BeFalse(), "owner role of %s", id)
			Expect(roleExists(backendName("ob_b_", id, bindingOf[id]))).To(BeFalse(), "binding role of %s", id)
		}
		Expect(existingDatabases(dbs)).To(BeEmpty())

		GinkgoWriter.Printf("measure: storm of %d×%d DELETEs per binding, then per instance: unbinds answered %s, deprovisions %s; "+
			"%d deadlocks, %d 5xx, 0 lost completions, %d operations retried after a backend failure; %s from the first DELETE until the last operation succeeded\n",
			n, resent, statusList(unbinds.statuses), statusList(deprovisions.statuses), deadlocks,
			len(unbinds.serverErrs)+len(deprovisions.serverErrs), retried, took.Round(time.Millisecond))
	})
})

// statusList writes a storm's status counts in order, as "200×3 202×5".
func statusList(statuses map[int]int) string {
	var codes []int
	for code := range statuses {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	var parts []string
	for _, code := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", code, statuses[code]))
	}
	return strings.Join(parts, " ")
}
