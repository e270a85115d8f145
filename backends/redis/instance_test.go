package redis_test

import (
	"context"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

// fill writes n string keys, and one of each other type, under prefix as the admin.
func fill(ctx context.Context, prefix string, n int) {
	pairs := make([]any, 0, 2*n)
	for i := range n {
		pairs = append(pairs, prefix+"k"+strconv.Itoa(i), i)
	}
	Expect(suite.Admin.MSet(ctx, pairs...).Err()).To(Succeed())
	Expect(suite.Admin.HSet(ctx, prefix+"hash", "f", "v").Err()).To(Succeed())
	Expect(suite.Admin.RPush(ctx, prefix+"list", "a", "b").Err()).To(Succeed())
	Expect(suite.Admin.SAdd(ctx, prefix+"set", "a").Err()).To(Succeed())
	Expect(suite.Admin.XAdd(ctx, &goredis.XAddArgs{Stream: prefix + "stream", Values: []string{"f", "v"}}).Err()).To(Succeed())
	Expect(suite.Admin.Set(ctx, prefix+"expiring", "v", time.Hour).Err()).To(Succeed())
}

var _ = Describe("Provision", func() {
	It("checks the node and creates nothing, however often it runs", func(ctx SpecContext) {
		inst := newInstance()
		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())
		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(keysUnder(ctx, keyPrefix(inst))).To(BeEmpty())
		Expect(usersOf(ctx, inst)).To(BeEmpty())
		Expect(string(suite.Logger.Buffer().Contents())).To(ContainSubstring("node-checked"))
	})

	When("several workers provision the same instance at once", func() {
		It("succeeds for all of them", func(ctx SpecContext) {
			inst := newInstance()
			backendtest.AtOnce(4, func() error { return suite.Calls().Provision(suite.Logged(ctx), inst) })
		})
	})

	It("gives every instance its own key prefix and user names, free of glob characters", func() {
		a, b := newInstance(), newInstance()
		Expect(keyPrefix(a)).To(MatchRegexp(`^ob:[0-9a-f]{24}:$`))
		Expect(keyPrefix(a)).NotTo(Equal(keyPrefix(b)))
		Expect(userName(a, newBinding())).To(MatchRegexp(`^ob_[a-z2-7]{26}$`))
		legacy := newBinding()
		legacy.LegacyName = true
		Expect(userName(a, legacy)).To(MatchRegexp(`^ob_[0-9a-f]{12}_[0-9a-f]{12}$`))
	})
})

var _ = Describe("Update", func() {
	It("succeeds and changes nothing", func(ctx SpecContext) {
		inst := provisioned(ctx)
		_, creds := suite.Bound(ctx, inst)
		inst.Plan = "large"
		Expect(suite.Calls().Update(suite.Logged(ctx), inst, "small")).To(Succeed())
		Expect(mustLogin(ctx, creds).Set(ctx, keyPrefix(inst)+"k", "v", 0).Err()).To(Succeed())
	})
})

var _ = Describe("Deprovision", func() {
	It("deletes exactly the users of the instance's recorded bindings, sparing those of an instance whose old login names began alike", func(ctx SpecContext) {
		suite.Calls().ExpectDeprovisionSpares(suite.Logged(ctx), backendtest.CollidingIDs, "redis-local", nil,
			func(ctx context.Context, creds backends.Credentials) error {
				app, err := login(ctx, creds)
				if err != nil {
					return err
				}
				return app.Set(ctx, creds["key_prefix"].(string)+"k", "v", 0).Err()
			})
	})

	It("deletes every key under the prefix and every user of the instance, ending their clients, and nothing of another instance", func(ctx SpecContext) {
		inst, other := provisioned(ctx), provisioned(ctx)
		b1, creds1 := suite.Bound(ctx, inst)
		b2, creds2 := suite.Bound(ctx, inst)
		bo, credsOther := suite.Bound(ctx, other)
		fill(ctx, keyPrefix(inst), 1234)
		fill(ctx, keyPrefix(other), 3)
		open := mustLogin(ctx, creds1).Conn()
		DeferCleanup(open.Close)
		Expect(open.Ping(ctx).Err()).To(Succeed())

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(keysUnder(ctx, keyPrefix(inst))).To(BeEmpty())
		Expect(usersOf(ctx, inst)).To(BeEmpty())
		Expect(userExists(ctx, userName(inst, b1))).To(BeFalse())
		Expect(userExists(ctx, userName(inst, b2))).To(BeFalse())
		Expect(open.Ping(ctx).Err()).To(HaveOccurred())
		_, err := login(ctx, creds2)
		Expect(err).To(HaveOccurred())

		Expect(keysUnder(ctx, keyPrefix(other))).To(HaveLen(8))
		Expect(userExists(ctx, userName(other, bo))).To(BeTrue())
		mustLogin(ctx, credsOther)

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
	})

	It("succeeds for an instance that was never provisioned", func(ctx SpecContext) {
		inst := newInstance()
		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
	})

	When("several workers deprovision the same instance at once", func() {
		It("succeeds for all of them", func(ctx SpecContext) {
			inst := provisioned(ctx)
			suite.Bound(ctx, inst)
			fill(ctx, keyPrefix(inst), 700)
			backendtest.AtOnce(3, func() error { return suite.Calls().Deprovision(suite.Logged(ctx), inst) })
			Expect(keysUnder(ctx, keyPrefix(inst))).To(BeEmpty())
		})
	})
})
