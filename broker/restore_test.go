package broker_test

import (
	"context"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/internal/testkit"
	"github.com/omnibroker/omnibroker/store"
)

// cacheBound provisions an instance of the cache plan and binds it, and unbinds and
// deprovisions it when the spec ends. It returns the instance and binding ids and the
// credentials.
func cacheBound() (string, string, map[string]any) {
	GinkgoHelper()
	id, bindingID := uuid.NewString(), uuid.NewString()
	Expect(call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", map[string]any{
		"service_id": cacheServiceID, "plan_id": cachePlan, "organization_guid": "org", "space_guid": "space",
	}).status).To(Equal(201))
	DeferCleanup(func() {
		Eventually(func() int {
			return call("DELETE", "/v2/service_instances/"+id+"?service_id="+cacheServiceID+"&plan_id="+cachePlan, nil).status
		}, 20*time.Second, 200*time.Millisecond).Should(BeElementOf(200, 410))
	})
	resp := call("PUT", "/v2/service_instances/"+id+"/service_bindings/"+bindingID+"?accepts_incomplete=true", map[string]any{
		"service_id": cacheServiceID, "plan_id": cachePlan, "app_guid": uuid.NewString(),
	})
	Expect(resp.status).To(Equal(201))
	DeferCleanup(func() {
		Eventually(func() int {
			return call("DELETE", "/v2/service_instances/"+id+"/service_bindings/"+bindingID+"?service_id="+cacheServiceID+"&plan_id="+cachePlan, nil).status
		}, 20*time.Second, 200*time.Millisecond).Should(BeElementOf(200, 410))
	})
	return id, bindingID, resp.body["credentials"].(map[string]any)
}

// tryLogin logs in with the credentials' uri as an application would, without retries.
func tryLogin(ctx context.Context, creds map[string]any) (*goredis.Client, error) {
	GinkgoHelper()
	uri, _ := creds["uri"].(string)
	return testkit.RedisLogin(ctx, GinkgoT(), uri)
}

// restoreLogs are the restore sweep's lines with message suffix about bindingID.
func restoreLogs(suffix, bindingID string) []lager.LogFormat {
	var found []lager.LogFormat
	for _, l := range logger.Logs() {
		if l.Message == "broker-test.workers.restore."+suffix && l.Data["binding-id"] == bindingID {
			found = append(found, l)
		}
	}
	return found
}

// queueRestore queues a restore of the binding that waits an hour before it may run, as one
// queued behind a backoff would, and returns it. A spec that fails before it lets the
// restore run lets it run at the end, so that the unbind and deprovision can follow.
func queueRestore(ctx context.Context, id, bindingID string) store.Operation {
	op := store.Operation{
		ID: uuid.NewString(), Kind: store.OpRestore, InstanceID: id, BindingID: bindingID,
		MaxAttempts: 1, RunAfter: time.Now().Add(time.Hour),
	}
	Expect(st.StartBindingOperation(ctx, id, bindingID, store.BindingBound, op)).To(Succeed())
	DeferCleanup(runNow, op.ID)
	return op
}

// runNow lets a queued operation run at once.
func runNow(ctx context.Context, opID string) {
	_, err := st.DB().ExecContext(ctx, "UPDATE operations SET run_after = now() WHERE id = $1 AND state = 'queued'", opID)
	Expect(err).NotTo(HaveOccurred())
}

func operationState(ctx context.Context, opID string) store.OperationState {
	op, err := st.GetOperation(ctx, opID)
	Expect(err).NotTo(HaveOccurred())
	return op.State
}

var _ = Describe("Restoring lost logins", func() {
	When("the Redis node forgets a binding's ACL user, as in a restart without an aclfile", func() {
		It("sets the user again with the sealed password, and the app logs in with its credentials", func(ctx SpecContext) {
			id, bindingID, creds := cacheBound()
			prefix := creds["key_prefix"].(string)
			app, err := tryLogin(ctx, creds)
			Expect(err).NotTo(HaveOccurred())
			Expect(app.Set(ctx, prefix+"k", "v", 0).Err()).To(Succeed())

			By("passing over a binding it cannot check, which sorts first")
			broken := "00000000-0000-4000-8000-" + uuid.NewString()[24:]
			_, err = st.DB().ExecContext(ctx, `
				INSERT INTO instances (id, service_id, plan_id, organization_guid, space_guid, backend, node, state)
				VALUES ($1, $2, $3, 'org', 'space', 'cache', 'redis-local', 'ready')`, broken, cacheServiceID, cachePlan)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) {
				_, err := st.DB().ExecContext(ctx, "DELETE FROM instances WHERE id = $1", broken)
				Expect(err).NotTo(HaveOccurred())
			})
			_, err = st.DB().ExecContext(ctx, `
				INSERT INTO bindings (id, instance_id, service_id, plan_id, secret, secret_key_id, state)
				VALUES ($1, $1, $2, $3, '\x00', 'no-such-key', 'bound')`, broken, cacheServiceID, cachePlan)
			Expect(err).NotTo(HaveOccurred())

			By("deleting the user behind the broker's back")
			Expect(redisAdmin.ACLDelUser(ctx, creds["username"].(string)).Err()).To(Succeed())
			_, err = tryLogin(ctx, creds)
			Expect(goredis.IsAuthError(err)).To(BeTrue(), "%v", err)

			By("letting the app in again once a sweep has queued a restore and a worker ran it")
			Eventually(func() error {
				c, err := tryLogin(ctx, creds)
				if err == nil {
					Expect(c.Get(ctx, prefix+"k").Val()).To(Equal("v"))
				}
				return err
			}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
			Eventually(func() []lager.LogFormat { return restoreLogs("binding-check-failed", broken) }).ShouldNot(BeEmpty())

			lost := restoreLogs("binding-lost", bindingID)
			Expect(lost).NotTo(BeEmpty())
			Expect(lost[0].Data).To(HaveKeyWithValue("instance-id", id))
			Expect(lost[0].Data).To(HaveKeyWithValue("node", "redis-local"))
			Expect(restoreLogs("restore-queued", bindingID)).NotTo(BeEmpty())
			Expect(string(logger.Buffer().Contents())).NotTo(ContainSubstring(creds["password"].(string)))

			By("showing the platform its own bind, and the same credentials, on last_operation and GET binding")
			poll := call("GET", "/v2/service_instances/"+id+"/service_bindings/"+bindingID+"/last_operation", nil)
			Expect(poll.status).To(Equal(200))
			Expect(poll.body).To(HaveKeyWithValue("state", "succeeded"))
			Expect(poll.body).To(HaveKeyWithValue("description", "the binding is ready"))
			got := call("GET", "/v2/service_instances/"+id+"/service_bindings/"+bindingID, nil)
			Expect(got.status).To(Equal(200))
			Expect(sameSecrets(got.body["credentials"], creds)).To(BeTrue(), "the credentials are the bind's")
		})
	})

	When("a restore is queued", func() {
		It("keeps the binding readable and its last operation the bind, turns other requests away, and runs once it may", func(ctx SpecContext) {
			id, bindingID, creds := cacheBound()
			op := queueRestore(ctx, id, bindingID)
			bindingPath := "/v2/service_instances/" + id + "/service_bindings/" + bindingID

			got := call("GET", bindingPath, nil)
			Expect(got.status).To(Equal(200))
			Expect(sameSecrets(got.body["credentials"], creds)).To(BeTrue(), "the credentials are the bind's")
			poll := call("GET", bindingPath+"/last_operation", nil)
			Expect(poll.status).To(Equal(200))
			Expect(poll.body).To(HaveKeyWithValue("state", "succeeded"))
			Expect(call("GET", "/v2/service_instances/"+id+"/last_operation", nil).body).To(HaveKeyWithValue("state", "succeeded"))
			unbind := call("DELETE", bindingPath+"?accepts_incomplete=true&service_id="+cacheServiceID+"&plan_id="+cachePlan, nil)
			Expect(unbind.status).To(Equal(422))
			Expect(unbind.body).To(HaveKeyWithValue("error", "ConcurrencyError"))

			By("deferring the restore a sweep finds needed, which the queued one covers")
			Expect(redisAdmin.ACLDelUser(ctx, creds["username"].(string)).Err()).To(Succeed())
			Eventually(func() []lager.LogFormat { return restoreLogs("restore-deferred", bindingID) }, 10*time.Second).ShouldNot(BeEmpty())

			runNow(ctx, op.ID)
			Eventually(func() store.OperationState { return operationState(ctx, op.ID) }, 10*time.Second).Should(Equal(store.OpSucceeded))
			_, err := tryLogin(ctx, creds)
			Expect(err).NotTo(HaveOccurred())
			done := call("GET", bindingPath+"/last_operation?operation="+op.ID, nil)
			Expect(done.body).To(HaveKeyWithValue("description", "the binding's login was restored on its node"))
			Expect(sameSecrets(call("GET", bindingPath, nil).body["credentials"], creds)).To(BeTrue(), "the credentials are the bind's")
		})
	})

	When("the binding stopped being bound before its restore ran", func() {
		It("succeeds without setting the user again", func(ctx SpecContext) {
			id, bindingID, creds := cacheBound()
			op := queueRestore(ctx, id, bindingID)
			_, err := st.DB().ExecContext(ctx, "UPDATE bindings SET state = 'failed' WHERE id = $1", bindingID)
			Expect(err).NotTo(HaveOccurred())
			Expect(redisAdmin.ACLDelUser(ctx, creds["username"].(string)).Err()).To(Succeed())

			runNow(ctx, op.ID)
			Eventually(func() store.OperationState { return operationState(ctx, op.ID) }, 10*time.Second).Should(Equal(store.OpSucceeded))
			b, err := st.GetBinding(ctx, id, bindingID)
			Expect(err).NotTo(HaveOccurred())
			Expect(b.State).To(Equal(store.BindingFailed))
			_, err = tryLogin(ctx, creds)
			Expect(goredis.IsAuthError(err)).To(BeTrue(), "the login stays gone: %v", err)
		})
	})
})
