package acceptance_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

var _ = Describe("Redis", func() {
	When("Cloud Foundry drives a Redis instance from provision to deprovision", func() {
		It("confines two apps to the instance's key prefix, shuts an unbound app out at once, and removes every trace", func(ctx SpecContext) {
			cf := shared.client()
			admin := redisAdmin()
			id, b1, b2 := newID(), newID(), newID()
			prefix := redisKeyPrefix(id)
			dropLeftoverRedis(admin, id)

			By("provisioning")
			cf.provisionReady(id, redisPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, redisPlan)

			By("binding a first app")
			creds1 := cf.bindReady(id, b1, redisPlan, newID())
			DeferCleanup(cf.unbindGone, id, b1, redisPlan)
			expectRedisCredentials(creds1, id)
			user1 := creds1.str("username")

			By("writing, reading and publishing under the prefix as the first app, through its uri")
			app1 := redisLogin(ctx, creds1.str("uri"))
			Expect(app1.Set(ctx, prefix+"greeting", "hello ☃", 0).Err()).To(Succeed())
			Expect(app1.Get(ctx, prefix+"greeting").Val()).To(Equal("hello ☃"))
			sub := app1.Subscribe(ctx, prefix+"news")
			DeferCleanup(sub.Close)
			_, err := sub.ReceiveTimeout(ctx, 5*time.Second)
			Expect(err).NotTo(HaveOccurred(), "subscribing to a channel under the prefix")
			Expect(app1.Publish(ctx, prefix+"news", "extra").Val()).To(BeEquivalentTo(1))
			msg, err := sub.ReceiveTimeout(ctx, 5*time.Second)
			Expect(err).NotTo(HaveOccurred())
			Expect(msg).To(BeAssignableToTypeOf(&goredis.Message{}))
			Expect(msg.(*goredis.Message).Payload).To(Equal("extra"))
			held := app1.Conn()
			DeferCleanup(held.Close)
			Expect(held.Ping(ctx).Err()).To(Succeed())

			By("being refused what lies beyond the prefix")
			expectRedisNoPerm(app1.Set(ctx, "ob:elsewhere:key", "x", 0).Err(), "a key outside the prefix")
			expectRedisNoPerm(app1.Publish(ctx, "ob:elsewhere:news", "x").Err(), "a channel outside the prefix")
			expectRedisNoPerm(app1.Do(ctx, "FLUSHALL").Err(), "FLUSHALL")
			expectRedisNoPerm(app1.Do(ctx, "KEYS", "*").Err(), "KEYS")
			expectRedisNoPerm(app1.Do(ctx, "CONFIG", "GET", "maxmemory").Err(), "CONFIG GET")
			expectRedisNoPerm(app1.Do(ctx, "ACL", "LIST").Err(), "ACL LIST")

			By("binding a second app, which reads and writes the first app's keys")
			creds2 := cf.bindReady(id, b2, redisPlan, newID())
			DeferCleanup(cf.unbindGone, id, b2, redisPlan)
			expectRedisCredentials(creds2, id)
			Expect(creds2.str("username")).NotTo(Equal(user1))
			Expect(creds2.str("password") != creds1.str("password")).To(BeTrue(), "the two apps have different passwords")
			app2 := redisLogin(ctx, creds2.str("uri"))
			Expect(app2.Get(ctx, prefix+"greeting").Val()).To(Equal("hello ☃"))
			Expect(app2.Append(ctx, prefix+"greeting", " again").Err()).To(Succeed())

			By("unbinding the first app: its open clients are closed and its login refused")
			cf.unbindGone(id, b1, redisPlan)
			Expect(held.Ping(ctx).Err()).To(HaveOccurred(), "the first app's open connection is closed")
			_, err = sub.ReceiveTimeout(ctx, 5*time.Second)
			Expect(err).To(HaveOccurred(), "the first app's subscription is closed")
			_, err = redisTryLogin(ctx, creds1.str("uri"))
			Expect(goredis.IsAuthError(err)).To(BeTrue(), "the first app's login is refused: %v", err)
			Expect(redisUsers(ctx, admin)).NotTo(ContainElement(user1), "the first app's user is deleted")
			Expect(app2.Get(ctx, prefix+"greeting").Val()).To(Equal("hello ☃ again"), "the second app keeps its access and the keys")

			By("unbinding the second app, as Cloud Foundry does before deleting a service")
			cf.unbindGone(id, b2, redisPlan)
			_, err = redisTryLogin(ctx, creds2.str("uri"))
			Expect(goredis.IsAuthError(err)).To(BeTrue(), "the second app's login is refused: %v", err)

			By("deprovisioning")
			r := cf.deprovision(id, redisPlan, true)
			Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusAccepted), r.String())
			if r.Status == http.StatusAccepted {
				expectSucceeded(cf.awaitInstance(id, redisPlan, operationOf(r)))
			}
			Expect(redisKeysUnder(ctx, admin, prefix)).To(BeEmpty(), "no key under the prefix is left")
			Expect(redisUsersOf(ctx, admin, id)).To(BeEmpty(), "no user of the instance is left")
			expectJSONObject(cf.deprovision(id, redisPlan, true), http.StatusGone)
		})
	})

	When("an instance is deprovisioned while an app is still bound and connected", func() {
		It("ends the app's client, deletes its user and every key under the prefix, and leaves other instances alone", func(ctx SpecContext) {
			cf := shared.client()
			admin := redisAdmin()
			id, other, bindingID := newID(), newID(), newID()
			dropLeftoverRedis(admin, id)
			dropLeftoverRedis(admin, other)

			cf.provisionReady(id, redisPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, redisPlan)
			cf.provisionReady(other, redisPlan, nil)
			DeferCleanup(cf.deprovisionGone, other, redisPlan)
			creds := cf.bindReady(id, bindingID, redisPlan, newID())
			app := redisLogin(ctx, creds.str("uri"))
			held := app.Conn()
			DeferCleanup(held.Close)

			By("writing more keys than one SCAN page holds")
			pipe := held.Pipeline()
			for i := range 1200 {
				pipe.Set(ctx, redisKeyPrefix(id)+"k"+strconv.Itoa(i), i, 0)
			}
			pipe.HSet(ctx, redisKeyPrefix(id)+"hash", "f", "v")
			_, err := pipe.Exec(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(admin.Set(ctx, redisKeyPrefix(other)+"kept", "v", 0).Err()).To(Succeed())

			By("deprovisioning without unbinding first, as a platform that skips unbind would")
			cf.deprovisionGone(id, redisPlan)

			Expect(held.Ping(ctx).Err()).To(HaveOccurred(), "the app's open connection is closed")
			_, err = redisTryLogin(ctx, creds.str("uri"))
			Expect(goredis.IsAuthError(err)).To(BeTrue(), "the app's login is refused: %v", err)
			Expect(redisKeysUnder(ctx, admin, redisKeyPrefix(id))).To(BeEmpty(), "no key under the prefix is left")
			Expect(redisUsersOf(ctx, admin, id)).To(BeEmpty(), "the app's user is deleted")
			Expect(admin.Get(ctx, redisKeyPrefix(other)+"kept").Val()).To(Equal("v"), "another instance keeps its keys")
		})
	})
})

// redisHash is the hex SHA-256 the broker derives a Redis instance's names from.
func redisHash(instanceID string) string {
	sum := sha256.Sum256([]byte(instanceID + "\x00"))
	return hex.EncodeToString(sum[:])
}

// redisKeyPrefix is the key and channel prefix of an instance.
func redisKeyPrefix(instanceID string) string { return "ob:" + redisHash(instanceID)[:24] + ":" }

// expectRedisCredentials checks each credential of a Redis binding on its own, never printing
// a password or a URL that holds one.
func expectRedisCredentials(creds credentials, instanceID string) {
	GinkgoHelper()
	// The count as a boolean: a failing matcher on the whole map would print the password.
	Expect(len(creds) == 8).To(BeTrue(), "host, port, username, password, key_prefix, uri, type and provider, and nothing else")
	Expect(creds.str("host")).To(Equal("127.0.0.1"))
	Expect(creds["port"]).To(BeEquivalentTo(6379))
	Expect(creds.str("key_prefix")).To(Equal(redisKeyPrefix(instanceID)))
	user, password := creds.str("username"), creds.str("password")
	Expect(user).To(MatchRegexp(loginPattern))
	Expect(len(user)).To(BeNumerically("<=", 32))
	Expect(len(password) == 32 && strings.Trim(password, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == "").
		To(BeTrue(), "the password is 32 base62 characters")

	u, err := url.Parse(creds.str("uri"))
	Expect(err == nil).To(BeTrue(), "the URL parses") // url.Parse's error would quote the password
	Expect(u.Scheme).To(Equal("redis"))
	Expect(u.Host).To(Equal("127.0.0.1:6379"))
	Expect(u.User.Username()).To(Equal(user))
	uriPassword, _ := u.User.Password()
	Expect(uriPassword == password).To(BeTrue(), "the uri carries the password")
}

// expectRedisNoPerm checks that err is Redis refusing the app what; the reply names no secret.
func expectRedisNoPerm(err error, what string) {
	GinkgoHelper()
	Expect(goredis.IsPermissionError(err)).To(BeTrue(), "%s is refused with NOPERM: %v", what, err)
}

// redisTryLogin logs in with uri as an application would, without retries, so that a closed
// connection shows as an error; it returns the client (closed when the spec ends) or the error
// of logging in.
func redisTryLogin(ctx context.Context, uri string) (*goredis.Client, error) {
	GinkgoHelper()
	return testkit.RedisLogin(ctx, GinkgoT(), uri)
}

func redisLogin(ctx context.Context, uri string) *goredis.Client {
	GinkgoHelper()
	c, err := redisTryLogin(ctx, uri)
	Expect(err).NotTo(HaveOccurred(), "logging in with the binding's credentials")
	return c
}

// redisAdmin connects to the broker's Redis node as its admin, to check what the broker did.
func redisAdmin() *goredis.Client {
	GinkgoHelper()
	c, err := redisTryLogin(context.Background(), redisAdminURL)
	Expect(err).NotTo(HaveOccurred(), "Redis must be reachable at OMNIBROKER_TEST_REDIS_URL")
	return c
}

// redisKeysUnder lists the keys under prefix with SCAN, as the admin.
func redisKeysUnder(ctx context.Context, admin *goredis.Client, prefix string) []string {
	GinkgoHelper()
	keys, err := testkit.RedisKeysUnder(ctx, admin, prefix)
	Expect(err).NotTo(HaveOccurred())
	return keys
}

func redisUsers(ctx context.Context, admin *goredis.Client) []string {
	GinkgoHelper()
	users, err := admin.ACLUsers(ctx).Result()
	Expect(err).NotTo(HaveOccurred())
	return users
}

// redisUsersOf lists the ACL users of an instance: those whose key pattern is its prefix.
func redisUsersOf(ctx context.Context, admin *goredis.Client, instanceID string) []string {
	GinkgoHelper()
	rules, err := admin.ACLList(ctx).Result()
	Expect(err).NotTo(HaveOccurred())
	var ours []string
	for _, line := range rules {
		fields := strings.Fields(line)
		if len(fields) > 1 && slices.Contains(fields, "~"+redisKeyPrefix(instanceID)+"*") {
			ours = append(ours, fields[1])
		}
	}
	return ours
}

// dropLeftoverRedis deletes the instance's ACL users and keys when the spec ends, in case a
// failed spec left them behind on the shared server; a passing spec has removed them already.
func dropLeftoverRedis(admin *goredis.Client, instanceID string) {
	DeferCleanup(func(ctx SpecContext) {
		for _, u := range redisUsersOf(ctx, admin, instanceID) {
			Expect(admin.ACLDelUser(ctx, u).Err()).To(Succeed())
		}
		if keys := redisKeysUnder(ctx, admin, redisKeyPrefix(instanceID)); len(keys) > 0 {
			Expect(admin.Unlink(ctx, keys...).Err()).To(Succeed())
		}
	})
}
