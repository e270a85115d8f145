package acceptance_test

import (
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"
)

var _ = Describe("Redis ACL users lost in a restart", func() {
	When("the Redis node forgets a bound app's ACL user, as it does when it restarts without an aclfile", func() {
		It("sets the user again with the same password, so the app logs in again with the credentials it has", func(ctx SpecContext) {
			b := startBroker(newStateDB(), map[string]string{"OMNIBROKER_RESTORE_INTERVAL": "1s"})
			cf := b.client()
			admin := redisAdmin()
			id, bindingID := newID(), newID()
			prefix := redisKeyPrefix(id)
			dropLeftoverRedis(admin, id)

			By("provisioning and binding")
			cf.provisionReady(id, redisPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, redisPlan)
			creds := cf.bindReady(id, bindingID, redisPlan, newID())
			DeferCleanup(cf.unbindGone, id, bindingID, redisPlan)
			rememberSecret("the restored binding's password", creds.str("password"))
			expectRedisCredentials(creds, id)
			user := creds.str("username")

			By("writing a key under the prefix as the app")
			app := redisLogin(ctx, creds.str("uri"))
			Expect(app.Set(ctx, prefix+"greeting", "hello", 0).Err()).To(Succeed())

			By("deleting the app's user behind the broker's back, as a restart without an aclfile does")
			Expect(admin.ACLDelUser(ctx, user).Err()).To(Succeed())
			_, err := redisTryLogin(ctx, creds.str("uri"))
			Expect(goredis.IsAuthError(err)).To(BeTrue(), "the app's login is refused once its user is gone: %v", err)

			By("letting the app log in again with the same credentials and read its key")
			Eventually(func(g Gomega) {
				restored, err := redisTryLogin(ctx, creds.str("uri"))
				g.Expect(err).NotTo(HaveOccurred(), "logging in with the binding's credentials")
				g.Expect(restored.Get(ctx, prefix+"greeting").Val()).To(Equal("hello"))
			}).WithTimeout(30 * time.Second).Should(Succeed())
			Expect(redisUsersOf(ctx, admin, id)).To(ConsistOf(user), "the same user, and no other")
			expectRedisNoPerm(redisLogin(ctx, creds.str("uri")).Do(ctx, "FLUSHALL").Err(), "FLUSHALL after the restore")

			By("logging the lost binding by its ids and node")
			Expect(logLines(b, "binding-lost", bindingID)).NotTo(BeEmpty())
			Expect(logLines(b, "binding-lost", bindingID)[0]).To(And(ContainSubstring(id), ContainSubstring("redis-local")))

			By("still showing the platform its own bind and the same credentials")
			poll := cf.bindingLastOperation(id, bindingID, redisPlan, "")
			Expect(poll.Status).To(Equal(http.StatusOK), poll.String())
			Expect(poll.str("state")).To(Equal("succeeded"), poll.String())
			got := cf.getBinding(id, bindingID)
			Expect(got.Status).To(Equal(http.StatusOK), got.String())
			again := credentialsOf(got)
			Expect(again.str("username")).To(Equal(user))
			Expect(again.str("password") == creds.str("password")).To(BeTrue(), "GET binding answers the same password")
		})
	})
})

// logLines are the lines of b's output whose message ends with event and that name id.
func logLines(b *broker, event, id string) []string {
	var found []string
	for line := range strings.Lines(string(b.session.Out.Contents())) {
		if strings.Contains(line, "."+event+`"`) && strings.Contains(line, id) {
			found = append(found, line)
		}
	}
	return found
}
