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
	It("sets every binding's ACL user anew with the plan's denied_commands, keeping its password and clients, however often it runs", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b1, creds1 := suite.Bound(ctx, inst)
		b2, creds2 := suite.Bound(ctx, inst)
		app := mustLogin(ctx, creds1)
		held := heldConn(app)
		Expect(app.Eval(ctx, "return 1", nil).Err()).To(Succeed())

		inst.PlanConfig = map[string]any{"denied_commands": []any{"eval", "@geo"}}
		backendtest.AtOnce(3, func() error { return suite.Calls().Upgrade(suite.Logged(ctx), inst, b1, b2) })

		for _, c := range []*goredis.Client{app, mustLogin(ctx, creds2)} {
			Expect(goredis.IsPermissionError(c.Eval(ctx, "return 1", nil).Err())).To(BeTrue(), "EVAL is denied")
			Expect(goredis.IsPermissionError(c.GeoAdd(ctx, keyPrefix(inst)+"g", &goredis.GeoLocation{Name: "x"}).Err())).To(BeTrue(), "@geo is denied")
			Expect(c.Set(ctx, keyPrefix(inst)+"k", "v", 0).Err()).To(Succeed())
			Expect(goredis.IsPermissionError(c.Set(ctx, "ob:elsewhere:k", "v", 0).Err())).To(BeTrue(), "the prefix still holds")
		}
		Expect(held.Ping(ctx).Err()).To(Succeed(), "a client connected before keeps its connection")

		By("allowing EVAL again once the plan stops denying it")
		inst.PlanConfig = nil
		Expect(suite.Calls().Upgrade(suite.Logged(ctx), inst, b1, b2)).To(Succeed())
		Expect(app.Eval(ctx, "return 1", nil).Err()).To(Succeed())
	})

	It("makes a binding's user again when the node lost it", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, creds := suite.Bound(ctx, inst)
		Expect(suite.Admin.ACLDelUser(ctx, userName(inst, b)).Err()).To(Succeed())
		Expect(suite.Calls().Upgrade(suite.Logged(ctx), inst, b)).To(Succeed())
		Expect(mustLogin(ctx, creds).Set(ctx, keyPrefix(inst)+"k", "v", 0).Err()).To(Succeed())
	})

	DescribeTable("refuses, for good and before touching a user, a denied_commands that is not a list of lowercase names",
		func(ctx SpecContext, denied any) {
			inst := provisioned(ctx)
			b, creds := suite.Bound(ctx, inst)
			suite.Calls().ExpectSettingRefused(suite.Logged(ctx), inst, "denied_commands", denied, b)
			Expect(mustLogin(ctx, creds).Eval(ctx, "return 1", nil).Err()).To(Succeed())
		},
		Entry("a string", "eval"),
		Entry("an uppercase name", []any{"EVAL"}),
		Entry("a rule rather than a name", []any{"+@all"}),
		Entry("a name with a space", []any{"eval flushall"}),
		Entry("a number", []any{12}),
	)
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
		open := heldConn(mustLogin(ctx, creds1))
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

// notes are the data of the orphan and usage specs: what a binding writes, and reads back.
var notes = backendtest.Data{
	Write: func(ctx context.Context, inst backends.Instance, b backendtest.Bound) {
		Expect(mustLogin(ctx, b.Credentials).Set(ctx, keyPrefix(inst)+"note", "kept", 0).Err()).To(Succeed())
	},
	Works: func(ctx context.Context, inst backends.Instance, b backendtest.Bound) {
		Expect(mustLogin(ctx, b.Credentials).Get(ctx, keyPrefix(inst)+"note").Val()).To(Equal("kept"))
	},
}

var _ = Describe("Orphans and usage", func() {
	suite.ItRemovesOrphans("redis-local", provisioned, notes)
	suite.ItReportsUsage(provisioned, notes, "keys")
})
