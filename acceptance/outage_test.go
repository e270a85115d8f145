package acceptance_test

// Outages of the servers a broker depends on, each a private one from the test kit: the
// state PostgreSQL stopped under load, and a Redis node stopped while operations need it.

import (
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// sent is one request of a load loop: when it was sent, how long its answer took, and the answer.
type sent struct {
	at     time.Time
	took   time.Duration
	status int
	osb    bool
}

// loadLoop provisions and binds Redis instances one after the other through c until stop is
// closed, keeping what was sent and the ids it used.
type loadLoop struct {
	mu       sync.Mutex
	requests []sent
	ids      []string
	bindings map[string]string
}

func (l *loadLoop) send(c *osbClient, method, path string, query map[string][]string, body any) int {
	started := time.Now()
	r, err := c.try(method, path, query, body)
	s := sent{at: started, took: time.Since(started), status: -1}
	if err == nil {
		s.status = r.Status
		s.osb = r.Body != nil && r.str("description") != ""
	}
	l.mu.Lock()
	l.requests = append(l.requests, s)
	l.mu.Unlock()
	return s.status
}

func (l *loadLoop) run(c *osbClient, stop <-chan struct{}) {
	defer GinkgoRecover()
	for {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		id, bindingID := newID(), newID()
		l.mu.Lock()
		l.ids = append(l.ids, id)
		l.bindings[id] = bindingID
		l.mu.Unlock()
		if l.send(c, http.MethodPut, instancePath(id), incomplete(true), provisionBody(redisPlan, nil)) == http.StatusCreated {
			l.send(c, http.MethodPut, bindingPath(id, bindingID), incomplete(true), bindBody(redisPlan, newID(), nil))
		}
	}
}

// between is what was sent from one moment to another.
func (l *loadLoop) between(from, to time.Time) []sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sent
	for _, s := range l.requests {
		if !s.at.Before(from) && s.at.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

// firstSuccessAfter is when the first request sent after t was answered with a 2xx.
func (l *loadLoop) firstSuccessAfter(t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.requests {
		if !s.at.Before(t) && s.status >= 200 && s.status < 300 {
			return s.at.Add(s.took), true
		}
	}
	return time.Time{}, false
}

// cleanUp unbinds and deprovisions every id the loop sent, whatever its answer was, as a
// platform's orphan mitigation does after a 5xx, and waits until each is gone.
func (l *loadLoop) cleanUp(c *osbClient) {
	GinkgoHelper()
	for _, id := range l.ids {
		c.unbindGone(id, l.bindings[id], redisPlan)
		c.deprovisionGone(id, redisPlan)
	}
}

var _ = Describe("The state database stopped under load", Serial, func() {
	It("answers 5xx with an OSB body at once while it is down, stops its backend calls, and carries on without a restart once it is back", func(ctx SpecContext) {
		const outage = 15 * time.Second
		state, cluster := privateState()
		// A lease of ten minutes: an operation cut short by the outage that runs again within
		// the spec was freed by its dead session, not by its lease.
		b := startBroker(state, map[string]string{
			"OMNIBROKER_LEASE":            "10m",
			"OMNIBROKER_POLL_INTERVAL":    "500ms",
			"OMNIBROKER_RETRY_BASE":       "200ms",
			"OMNIBROKER_RESTORE_INTERVAL": "0",
		})
		c := b.client()
		admin := redisAdmin()
		db := state.open()

		By("holding one provision inside its backend call on the postgres node")
		held := newID()
		waiting, release := heldCall(held)
		heldOp := operationOf(c.provision(held, provisionBody(quickPlan, nil), true))
		Eventually(waiting).WithTimeout(20 * time.Second).Should(BeTrue())

		By("provisioning and binding from four loops at once")
		loops := make([]*loadLoop, 4)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range loops {
			loops[i] = &loadLoop{bindings: map[string]string{}}
			wg.Go(func() { loops[i].run(c, stop) })
		}
		DeferCleanup(func() {
			select {
			case <-stop:
			default:
				close(stop)
			}
			wg.Wait()
		})
		time.Sleep(2 * time.Second)

		By("stopping the state database for 15 s: the broker stops the held backend call while it is down")
		cluster.Stop(GinkgoT())
		stopped := time.Now()
		Eventually(waiting).WithTimeout(outage).Should(BeFalse(), "the held CREATE ROLE is cancelled on the node")
		Eventually(func() []string { return logLines(b, "abandoned", heldOp) }).Should(HaveLen(1), "the worker gave the held operation up")
		Expect(logLines(b, "session-lost", heldOp)).To(HaveLen(1), "because its session was lost")
		release()
		time.Sleep(time.Until(stopped.Add(outage)))
		down := time.Now()
		cluster.Start(GinkgoT())
		restarted := time.Now()
		time.Sleep(3 * time.Second)
		close(stop)
		wg.Wait()

		By("finding every request sent while it was down answered at once with a 5xx and an OSB body")
		var during []sent
		for _, l := range loops {
			during = append(during, l.between(stopped, down)...)
		}
		Expect(len(during)).To(BeNumerically(">=", 20), "requests sent during the outage")
		slowest := time.Duration(0)
		for _, s := range during {
			Expect(s.status).To(BeNumerically(">=", 500), "a request sent during the outage")
			Expect(s.osb).To(BeTrue(), "its body is an OSB error with a description")
			slowest = max(slowest, s.took)
		}
		Expect(slowest).To(BeNumerically("<", 3*time.Second), "the slowest answer during the outage")

		By("finding the same broker process answering again")
		Expect(b.session.ExitCode()).To(Equal(-1), "the broker did not exit")
		var recovered time.Duration
		for _, l := range loops {
			at, ok := l.firstSuccessAfter(restarted)
			Expect(ok).To(BeTrue(), "a loop's requests succeed again after the restart")
			recovered = max(recovered, at.Sub(restarted))
		}
		GinkgoWriter.Printf("measure: %d requests during the %s outage, slowest answer %s; every loop succeeded again within %s of the restart (pg_ctl start took %s)\n",
			len(during), outage, slowest, recovered, restarted.Sub(down))

		By("running the held provision again, once: through its dead session, since its lease has ten minutes to go")
		expectSucceeded(await(func() response { return c.lastOperation(held, quickPlan, heldOp) }, time.Minute))
		GinkgoWriter.Printf("measure: the provision cut short by the outage succeeded %s after the restart\n", time.Since(restarted))
		ops := operationsOf(db, held, "", "provision")
		Expect(ops).To(HaveLen(1))
		Expect(ops[0].attempt).To(BeNumerically(">=", 2), "run again after the outage")
		Expect(logLines(b, "succeeded", heldOp)).To(HaveLen(1))
		Expect(databaseExists(backendDatabase(held))).To(BeTrue())
		c.deprovisionGone(held, quickPlan)
		Expect(roleExists(backendName("ob_o_", held))).To(BeFalse())

		By("deleting every instance the loops sent, whatever its answer: nothing is left")
		var ids []string
		for _, l := range loops {
			wg.Go(func() {
				defer GinkgoRecover()
				l.cleanUp(c)
			})
			ids = append(ids, l.ids...)
		}
		wg.Wait()
		Expect(count(db, `SELECT count(*) FROM operations WHERE state <> 'succeeded'`)).To(BeZero(), "operations not succeeded")
		Expect(count(db, `SELECT count(*) FROM instances`)).To(BeZero(), "instances left")
		for _, id := range ids {
			Expect(redisUsersOf(ctx, admin, id)).To(BeEmpty())
			Expect(redisKeysUnder(ctx, admin, redisKeyPrefix(id))).To(BeEmpty())
		}
	})
})

// startRetryingBroker starts a broker on state whose redis node is node, which a spec stops
// and starts again: it retries soon and often, and does not restore logins behind the spec.
func startRetryingBroker(state stateDB, node *testkit.RedisServer) *broker {
	GinkgoHelper()
	return startBroker(state, map[string]string{
		"OMNIBROKER_REDIS_URL":        node.Server().URL(),
		"OMNIBROKER_POLL_INTERVAL":    "500ms",
		"OMNIBROKER_RETRY_BASE":       "100ms",
		"OMNIBROKER_MAX_ATTEMPTS":     "30",
		"OMNIBROKER_RESTORE_INTERVAL": "0",
	})
}

var _ = Describe("A Redis node stopped and started again", func() {
	It("retries the operations against it while it is down, completes them once it is back, and leaves nothing behind", func(ctx SpecContext) {
		port := freePort()
		node := testkit.StartRedis(GinkgoT(), port, testkit.SecuredRedisArgs()...)
		// A login of its own each time: the node's server is a new one after the restart.
		nodeAdmin := func() *goredis.Client {
			admin, err := testkit.RedisLogin(ctx, GinkgoT(), node.Server().URL())
			Expect(err).NotTo(HaveOccurred())
			return admin
		}
		state, _ := privateState()
		b := startRetryingBroker(state, node)
		c := b.client()
		// Three instances, so that the operations need not wait for each other: bound, the
		// binding to remove; fresh, the one to bind; other, the one to create.
		bound, fresh, other, kept, added := newID(), newID(), newID(), newID(), newID()

		By("provisioning and binding while the node is up")
		c.provisionReady(bound, redisPlan, nil)
		c.provisionReady(fresh, redisPlan, nil)
		first := c.bindReady(bound, kept, redisPlan, newID())
		Expect(redisUsersOf(ctx, nodeAdmin(), bound)).To(ConsistOf(first.str("username")))

		By("stopping the node, then binding, unbinding and provisioning")
		node.Stop()
		stopped := time.Now()
		answers := make([]response, 3)
		var wg sync.WaitGroup
		for i, send := range []func() response{
			func() response { return c.bind(fresh, added, bindBody(redisPlan, newID(), nil), true) },
			func() response { return c.unbind(bound, kept, redisPlan, true) },
			func() response { return c.provision(other, provisionBody(redisPlan, nil), true) },
		} {
			wg.Go(func() {
				defer GinkgoRecover()
				answers[i] = send()
			})
		}
		db := state.open()
		Eventually(func() int {
			return count(db, `SELECT count(*) FROM operations WHERE state IN ('queued', 'running') AND attempt >= 2`)
		}).WithTimeout(10*time.Second).Should(BeNumerically(">=", 1), "an operation is retried while the node is down")

		By("starting the node again on the same port")
		time.Sleep(time.Until(stopped.Add(5 * time.Second)))
		node = testkit.StartRedis(GinkgoT(), port, testkit.SecuredRedisArgs()...)
		restarted := time.Now()
		wg.Wait()
		for i, r := range answers {
			Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusCreated, http.StatusAccepted), "request %d: %s", i, r)
		}
		expectSucceeded(c.awaitBinding(fresh, added, redisPlan, ""))
		Eventually(func() int {
			return count(db, `SELECT count(*) FROM operations WHERE state <> 'succeeded'`)
		}).WithTimeout(30 * time.Second).Should(BeZero())
		GinkgoWriter.Printf("measure: every operation against the node succeeded within %s of its restart\n", time.Since(restarted))
		Expect(count(db, `SELECT count(*) FROM operations WHERE attempt >= 2`)).To(BeNumerically(">=", 1), "operations retried")

		By("finding one login, the new binding's, on the node, and none of the removed one")
		r := c.getBinding(fresh, added)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		Expect(redisUsersOf(ctx, nodeAdmin(), fresh)).To(ConsistOf(credentialsOf(r).str("username")))
		Expect(redisUsersOf(ctx, nodeAdmin(), bound)).To(BeEmpty())
		Expect(redisUsersOf(ctx, nodeAdmin(), other)).To(BeEmpty())

		By("unbinding and deprovisioning: nothing is left on the node")
		c.unbindGone(fresh, added, redisPlan)
		for _, id := range []string{bound, fresh, other} {
			c.deprovisionGone(id, redisPlan)
			Expect(redisUsersOf(ctx, nodeAdmin(), id)).To(BeEmpty())
			Expect(redisKeysUnder(ctx, nodeAdmin(), redisKeyPrefix(id))).To(BeEmpty())
		}
	})
})
