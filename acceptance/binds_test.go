package acceptance_test

// Bindings of one instance run concurrently: different binding ids never wait for each other,
// while an update or a deprovision still excludes everything else on the instance.

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// bindAll sends a bind of a new app for each of bindingIDs of instance id at once, and expects
// each to be accepted, none refused as concurrent; it returns the operation of each 202.
func bindAll(c *osbClient, id string, p plan, bindingIDs []string) map[string]string {
	GinkgoHelper()
	answers := fanOut(bindingIDs, func(bindingID string) (response, error) {
		return c.try(http.MethodPut, bindingPath(id, bindingID), incomplete(true), bindBody(p, newID(), nil))
	})
	ops := map[string]string{}
	for i, r := range answers {
		Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), "bind %d: %s", i, r)
		if r.Status == http.StatusAccepted {
			ops[bindingIDs[i]] = operationOf(r)
		}
	}
	return ops
}

// expectInstanceBusy checks that an update and a deprovision of instance id are refused with
// 422 ConcurrencyError.
func expectInstanceBusy(c *osbClient, id string, p plan, params map[string]any) {
	GinkgoHelper()
	expectOSBErrorCode(c.update(id, updateBody(p, p, params), true), http.StatusUnprocessableEntity, "ConcurrencyError")
	expectOSBErrorCode(c.deprovision(id, p, true), http.StatusUnprocessableEntity, "ConcurrencyError")
}

var _ = Describe("Concurrent binds", func() {
	When("binds and an unbind of one instance are queued on a broker that runs none of them", func() {
		It("accepts each, refuses update and deprovision meanwhile, and a broker with workers then runs them all", func() {
			id, kept := newID(), newID()
			dropLeftoverDatabase(id)
			state := newStateDB()
			working := startBroker(state, nil)
			working.client().provisionReady(id, asyncPlan, nil)
			working.client().bindReady(id, kept, asyncPlan, newID())
			working.stop()

			By("binding three apps at once and unbinding the old binding, on a broker without workers")
			waiting := startBroker(state, idle)
			cf := waiting.client()
			fresh := []string{newID(), newID(), newID()}
			ops := bindAll(cf, id, asyncPlan, fresh)
			Expect(ops).To(HaveLen(len(fresh)), "every bind waits in the queue")
			r := cf.unbind(id, kept, asyncPlan, true)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			unbindOp := operationOf(r)

			By("refusing an update and a deprovision of the instance while they are queued")
			expectInstanceBusy(cf, id, asyncPlan, map[string]any{"extensions": []any{"hstore"}})

			By("restarting with workers: every bind and the unbind succeed")
			waiting.stop()
			working = startBroker(state, nil)
			c := working.client()
			for _, bindingID := range fresh {
				expectSucceeded(c.awaitBinding(id, bindingID, asyncPlan, ops[bindingID]))
				r := c.getBinding(id, bindingID)
				Expect(r.Status).To(Equal(http.StatusOK), r.String())
				Expect(mustConnect(credentialsOf(r).str("uri")).Ping()).To(Succeed(), "binding %s logs in", bindingID)
			}
			expectSucceeded(c.awaitBinding(id, kept, asyncPlan, unbindOp))
			Expect(roleExists(backendName("ob_b_", id, kept))).To(BeFalse())

			By("unbinding and deprovisioning: nothing is left on the node")
			for _, bindingID := range fresh {
				c.unbindGone(id, bindingID, asyncPlan)
			}
			c.deprovisionGone(id, asyncPlan)
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())
			Expect(roleExists(backendName("ob_o_", id))).To(BeFalse())
		})
	})

	When("a bind retries against the instance's node, which is down", func() {
		It("accepts the other binds and unbinds of the instance without 422, and all succeed once the node is back", func(ctx SpecContext) {
			port := freePort()
			node := testkit.StartRedis(GinkgoT(), port, testkit.SecuredRedisArgs()...)
			state, _ := privateState()
			b := startRetryingBroker(state, node)
			c := b.client()
			db := state.open()
			id, kept, stuck := newID(), newID(), newID()
			c.provisionReady(id, redisPlan, nil)
			c.bindReady(id, kept, redisPlan, newID())

			By("stopping the node, then binding: the bind retries")
			node.Stop()
			stuckOp := bindAll(c, id, redisPlan, []string{stuck})[stuck]
			Eventually(func() int {
				return count(db, `SELECT attempt FROM operations WHERE id = $1`, stuckOp)
			}).WithTimeout(20*time.Second).Should(BeNumerically(">=", 2), "the bind is retried while the node is down")

			By("binding two more apps and unbinding the old binding meanwhile: accepted, not 422")
			others := []string{newID(), newID()}
			var r response
			unbound := make(chan struct{})
			go func() {
				defer GinkgoRecover()
				defer close(unbound)
				r = c.unbind(id, kept, redisPlan, true)
			}()
			ops := bindAll(c, id, redisPlan, others)
			<-unbound
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			ops[kept], ops[stuck] = operationOf(r), stuckOp
			expectInstanceBusy(c, id, redisPlan, nil)

			By("starting the node again: every operation succeeds, and the node holds the new logins alone")
			node = testkit.StartRedis(GinkgoT(), port, testkit.SecuredRedisArgs()...)
			var want []string
			for _, bindingID := range append(others, stuck) {
				expectSucceeded(c.awaitBinding(id, bindingID, redisPlan, ops[bindingID]))
				r := c.getBinding(id, bindingID)
				Expect(r.Status).To(Equal(http.StatusOK), r.String())
				want = append(want, credentialsOf(r).str("username"))
			}
			expectSucceeded(c.awaitBinding(id, kept, redisPlan, ops[kept]))
			admin, err := testkit.RedisLogin(ctx, GinkgoT(), node.Server().URL())
			Expect(err).NotTo(HaveOccurred())
			Expect(redisUsersOf(ctx, admin, id)).To(ConsistOf(want))

			By("unbinding and deprovisioning: nothing is left on the node")
			for _, bindingID := range append(others, stuck) {
				c.unbindGone(id, bindingID, redisPlan)
			}
			c.deprovisionGone(id, redisPlan)
			Expect(redisUsersOf(ctx, admin, id)).To(BeEmpty())
			Expect(redisKeysUnder(ctx, admin, redisKeyPrefix(id))).To(BeEmpty())
		})
	})
})
