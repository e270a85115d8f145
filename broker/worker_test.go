package broker_test

import (
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

var _ = Describe("Workers", func() {
	When("the node of a plan refuses connections", func() {
		It("retries with backoff, then fails the operation with a sentence naming the node", func() {
			id := uuid.NewString()
			By("accepting the provision and answering 202 once the short budget has passed")
			resp := call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", provisionBody(downPlan))
			Expect(resp.status).To(Equal(202))
			opID := resp.body["operation"].(string)
			poll := "/v2/service_instances/" + id + "/last_operation?operation=" + opID

			By("showing the retry on last_operation while in progress, with Retry-After in whole seconds")
			Eventually(func() string {
				r := call("GET", poll, nil)
				if r.body["state"] == "in progress" {
					_, err := strconv.Atoi(r.header.Get("Retry-After"))
					Expect(err).NotTo(HaveOccurred())
				}
				d, _ := r.body["description"].(string)
				return d
			}, 20*time.Second, 50*time.Millisecond).Should(And(ContainSubstring("pg-down"), ContainSubstring("attempt")))

			By("failing after the last attempt")
			Eventually(func() any { return call("GET", poll, nil).body["state"] }, 60*time.Second, 200*time.Millisecond).Should(Equal("failed"))
			last := call("GET", poll, nil)
			Expect(last.body["description"]).To(ContainSubstring("pg-down"))
			Expect(last.body["description"]).To(ContainSubstring("refused"))
			Expect(last.body["description"]).NotTo(ContainSubstring("postgres://"))

			By("keeping the instance, which GET reports as not there and an identical PUT tries again")
			Expect(call("GET", "/v2/service_instances/"+id, nil).status).To(Equal(404))
			again := call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", provisionBody(downPlan))
			Expect(again.status).To(Equal(202))
			Expect(again.body["operation"]).NotTo(Equal(opID))
		})
	})
})

var _ = Describe("Leases", func() {
	When("another worker takes over an operation while its first worker is still at it", func() {
		It("makes the first worker abandon it without recording a result", func() {
			id, opID, lock := heldLocalProvision()
			Eventually(func() string {
				var state string
				Expect(st.DB().Get(&state, `SELECT state FROM operations WHERE id = $1`, opID)).To(Succeed())
				return state
			}, 10*time.Second).Should(Equal("running"))

			By("moving the lease to another owner, as a rescuer and a second claim would")
			_, err := st.DB().Exec(`UPDATE operations SET lease_owner = 'someone-else', attempt = attempt + 1 WHERE id = $1`, opID)
			Expect(err).NotTo(HaveOccurred())
			Eventually(logger.LogMessages, 10*time.Second).Should(ContainElement(HaveSuffix("operation.abandoned")))

			By("leaving the newer owner's operation untouched")
			lock.Release()
			Consistently(func() string {
				var owner string
				Expect(st.DB().Get(&owner, `SELECT lease_owner FROM operations WHERE id = $1`, opID)).To(Succeed())
				return owner
			}, time.Second).Should(Equal("someone-else"))

			By("handing it back to the queue so the suite leaves nothing running")
			_, err = st.DB().Exec(`UPDATE operations SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL WHERE id = $1`, opID)
			Expect(err).NotTo(HaveOccurred())
			succeedThenDelete(id, opID)
		})
	})
})

// heldLocalProvision holds the placement lock of backend local, so that a provision of the
// async plan stays in its worker until the lock is released, and queues one.
func heldLocalProvision() (id, opID string, lock *testkit.PlacementLock) {
	GinkgoHelper()
	By("holding the placement lock so the provision stays in its worker")
	lock = testkit.HoldPlacementLock(GinkgoT(), st.DB().DB, "local")
	id = uuid.NewString()
	resp := call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", provisionBody(asyncPlan))
	Expect(resp.status).To(Equal(202))
	return id, resp.body["operation"].(string), lock
}

// succeedThenDelete waits until the provision opID of instance id has succeeded, then
// deprovisions the instance, so that the suite leaves nothing behind.
func succeedThenDelete(id, opID string) {
	GinkgoHelper()
	Eventually(func() any {
		return call("GET", "/v2/service_instances/"+id+"/last_operation?operation="+opID, nil).body["state"]
	}, 20*time.Second).Should(Equal("succeeded"))
	Expect(call("DELETE", "/v2/service_instances/"+id+"?accepts_incomplete=true&service_id="+serviceID+"&plan_id="+asyncPlan, nil).status).To(Equal(202))
	Eventually(func() int {
		return call("GET", "/v2/service_instances/"+id+"/last_operation", nil).status
	}, 20*time.Second).Should(Equal(410))
}

var _ = Describe("The pool's database session", func() {
	When("the state database ends it while an operation is under way", func() {
		It("stops the operation's work, and the operation runs again through the session the pool opens next", func() {
			id, opID, lock := heldLocalProvision()

			By("ending the session its attempt is tied to, found as another client would")
			var pid int
			Eventually(func() error {
				return st.DB().Get(&pid, `SELECT l.pid FROM pg_locks l JOIN operations o
					ON (l.classid::bigint << 32 | l.objid::bigint) = o.tie
					WHERE o.id = $1 AND o.state = 'running' AND l.locktype = 'advisory' AND l.objsubid = 1`, opID)
			}, 10*time.Second).Should(Succeed())
			_, err := st.DB().Exec(`SELECT pg_terminate_backend($1)`, pid)
			Expect(err).NotTo(HaveOccurred())
			// The worker stops when it finds its session lost, or sooner, when the rescuer has
			// requeued the operation and the heartbeat finds its lease gone.
			Eventually(logger.LogMessages, 10*time.Second).Should(ContainElements(
				HaveSuffix("workers.session.session-lost"), HaveSuffix("operation.abandoned")))

			By("finishing it once the lock is free")
			lock.Release()
			succeedThenDelete(id, opID)
			var attempt int
			Expect(st.DB().Get(&attempt, `SELECT attempt FROM operations WHERE id = $1`, opID)).To(Succeed())
			Expect(attempt).To(Equal(2), "the stopped attempt counts")
		})
	})
})

var _ = Describe("Recording an outcome", func() {
	When("the state database fails the completion transiently", func() {
		It("records it again with backoff, so the bind succeeds without waiting out its lease", func() {
			id := readyInstance(quickPlan)
			bindingID := uuid.NewString()
			name := fmt.Sprintf("flaky_completion_%d", GinkgoParallelProcess())

			By("making the state database refuse the first three completions of the bind with a connection failure")
			_, err := st.DB().Exec(fmt.Sprintf(`CREATE SEQUENCE %[1]s;
				CREATE FUNCTION %[1]s() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN
					IF nextval('%[1]s') <= 3 THEN
						RAISE EXCEPTION 'connection failure, as a test makes it' USING ERRCODE = '08006';
					END IF;
					RETURN NEW;
				END $$;
				CREATE TRIGGER %[1]s BEFORE UPDATE ON bindings FOR EACH ROW
					WHEN (NEW.id = '%[2]s' AND NEW.state = 'bound') EXECUTE FUNCTION %[1]s();`, name, bindingID))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() {
				_, err := st.DB().Exec(fmt.Sprintf(`DROP FUNCTION %[1]s() CASCADE; DROP SEQUENCE %[1]s`, name))
				Expect(err).NotTo(HaveOccurred())
			})

			resp := bind(id, bindingID, bindBody(quickPlan, uuid.NewString()), true)
			unbindAtEnd(id, bindingID, quickPlan)
			Expect(resp.status).To(Equal(201), "the bind's completion was recorded within the wait budget")
			Expect(loginWorks(resp.body["credentials"].(map[string]any))).To(BeTrue())
			var attempt int
			Expect(st.DB().Get(&attempt, `SELECT attempt FROM operations WHERE binding_id = $1 AND kind = 'bind'`, bindingID)).To(Succeed())
			Expect(attempt).To(Equal(1), "the backend call ran once")
			Expect(logger.LogMessages()).To(ContainElement(HaveSuffix("operation.record-outcome-failed-will-retry")))
			Expect(logger.LogMessages()).To(ContainElement(HaveSuffix("operation.outcome-recorded")))
		})
	})
})
