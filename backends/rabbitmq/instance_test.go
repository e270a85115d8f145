package rabbitmq_test

import (
	"context"

	rabbithole "github.com/michaelklishin/rabbit-hole/v3"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

var _ = Describe("Provision", func() {
	It("creates one vhost, tagged as the broker's and described with the instance's id", func(ctx SpecContext) {
		inst := newInstance()

		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())
		Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())

		vhost, err := suite.Admin.GetVhost(vhostName(inst))
		Expect(err).NotTo(HaveOccurred())
		Expect(vhost.Tags).To(ConsistOf("omnibroker"))
		Expect(vhost.Description).To(ContainSubstring(inst.ID))
	})

	When("the same instance is provisioned by several workers at once", func() {
		It("succeeds for all of them and leaves one usable vhost", func(ctx SpecContext) {
			inst := newInstance()
			backendtest.AtOnce(4, func() error { return suite.Calls().Provision(suite.Logged(ctx), inst) })
			Expect(vhostExists(vhostName(inst))).To(BeTrue())
			_, creds := suite.Bound(ctx, inst)
			roundTrip(ctx, mustDial(creds), "provisioned four times")
		})
	})

	When("a vhost of that name belongs to someone else", func() {
		It("fails permanently, and deprovision leaves that vhost alone", func(ctx SpecContext) {
			inst := newInstance()
			vhost := vhostName(inst)
			res, err := suite.Admin.PutVhost(vhost, rabbithole.VhostSettings{Description: "an operator's"})
			Expect(err).NotTo(HaveOccurred())
			_ = res.Body.Close()
			DeferCleanup(func() {
				res, err := suite.Admin.DeleteVhost(vhost)
				Expect(err).NotTo(HaveOccurred())
				_ = res.Body.Close()
			})

			err = suite.Calls().Provision(suite.Logged(ctx), inst)
			Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
			Expect(backendtest.Description(err)).To(ContainSubstring("taken by an object this broker does not own"))

			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
			Expect(vhostExists(vhost)).To(BeTrue())
			info, err := suite.Admin.GetVhost(vhost)
			Expect(err).NotTo(HaveOccurred())
			Expect(info.Description).To(Equal("an operator's"))
		})
	})
})

var _ = Describe("Update", func() {
	It("gives every binding's user the plan's permissions, keeping its password and connections, however often it runs", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b1, creds1 := suite.Bound(ctx, inst)
		b2, _ := suite.Bound(ctx, inst)
		held := mustDial(creds1)

		inst.PlanConfig = map[string]any{"permissions": map[string]any{"configure": `^app\.`, "read": "^app"}}
		backendtest.AtOnce(3, func() error { return suite.Calls().Upgrade(suite.Logged(ctx), inst, b1, b2) })

		for _, b := range []backends.Binding{b1, b2} {
			perms, err := suite.Admin.GetPermissionsIn(vhostName(inst), userName(inst, b))
			Expect(err).NotTo(HaveOccurred())
			Expect([]string{perms.Configure, perms.Write, perms.Read}).To(Equal([]string{`^app\.`, ".*", "^app"}))
		}
		Expect(held.IsClosed()).To(BeFalse(), "a connection made before stays open")
		mustDial(creds1)

		By("going back to everything in the vhost once the plan says nothing")
		inst.PlanConfig = nil
		Expect(suite.Calls().Upgrade(suite.Logged(ctx), inst, b1, b2)).To(Succeed())
		roundTrip(ctx, mustDial(creds1), "after the upgrade")
	})

	It("leaves a binding whose user is gone to the binding's own operations", func(ctx SpecContext) {
		inst := provisioned(ctx)
		Expect(suite.Calls().Upgrade(suite.Logged(ctx), inst, newBinding())).To(Succeed())
	})

	DescribeTable("refuses, for good, permissions that are not configure, write and read regular expressions",
		func(ctx SpecContext, perms any) {
			inst := provisioned(ctx)
			b, _ := suite.Bound(ctx, inst)
			suite.Calls().ExpectSettingRefused(suite.Logged(ctx), inst, "permissions", perms, b)
		},
		Entry("a string", ".*"),
		Entry("an unknown key", map[string]any{"admin": ".*"}),
		Entry("a number", map[string]any{"read": 1}),
		Entry("a pattern that does not compile", map[string]any{"write": "(["}),
	)
})

var _ = Describe("Deprovision", func() {
	It("deletes exactly the users of the instance's recorded bindings, sparing those of an instance whose old login names began alike", func(ctx SpecContext) {
		suite.Calls().ExpectDeprovisionSpares(suite.Logged(ctx), backendtest.CollidingIDs, "rabbitmq-local", nil,
			func(_ context.Context, creds backends.Credentials) error {
				conn, err := dial(creds["uri"].(string))
				if err != nil {
					return err
				}
				return conn.Close()
			})
	})

	It("deletes the binding users and the vhost under a live connection, and leaves users it does not own", func(ctx SpecContext) {
		inst := provisioned(ctx)
		other := provisioned(ctx)
		b1, creds1 := suite.Bound(ctx, inst)
		b2, creds2 := suite.Bound(ctx, inst)
		_, otherCreds := suite.Bound(ctx, other)
		// Named as a recorded binding's user, but allowed into another vhost too, or given a
		// tag: not this instance's.
		shared := cutShort(inst)
		putUser(shared)
		permit(vhostName(inst), shared)
		permit(vhostName(other), shared)
		tagged := cutShort(inst)
		putUser(tagged, "monitoring")

		live := mustDial(creds1)
		roundTrip(ctx, live, "before deprovision")

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

		Expect(vhostExists(vhostName(inst))).To(BeFalse())
		Expect(userExists(userName(inst, b1))).To(BeFalse())
		Expect(userExists(userName(inst, b2))).To(BeFalse())
		Eventually(live.IsClosed).Should(BeTrue())
		expectLoginRefused(creds2)

		Expect(userExists(shared)).To(BeTrue())
		Expect(userExists(tagged)).To(BeTrue())
		roundTrip(ctx, mustDial(otherCreds), "the other instance still works")

		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
	})

	When("a Bind was cut short, or ran out of attempts, between creating the user and setting its permissions", func() {
		It("deletes the user it left without permissions", func(ctx SpecContext) {
			inst := provisioned(ctx)
			orphan := cutShort(inst)
			putUser(orphan)

			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

			Expect(userExists(orphan)).To(BeFalse())
		})

		It("deletes it even when the vhost is gone already", func(ctx SpecContext) {
			inst := newInstance()
			orphan := cutShort(inst)
			putUser(orphan)

			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())

			Expect(userExists(orphan)).To(BeFalse())
		})
	})

	It("succeeds for an instance that was never provisioned", func(ctx SpecContext) {
		inst := newInstance()
		Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
	})
})

// declared declares queue kept through b's login, durable, or (passive) finds it there.
func declared(b backendtest.Bound, passive bool) error {
	ch, err := mustDial(b.Credentials).Channel()
	Expect(err).NotTo(HaveOccurred())
	if passive {
		_, err = ch.QueueDeclarePassive("kept", true, false, false, false, nil)
	} else {
		_, err = ch.QueueDeclare("kept", true, false, false, false, nil)
	}
	return err
}

// notes are the data of the orphan and usage specs: what a binding writes, and reads back.
var notes = backendtest.Data{
	Write: func(_ context.Context, _ backends.Instance, b backendtest.Bound) {
		Expect(declared(b, false)).To(Succeed())
	},
	Works: func(_ context.Context, _ backends.Instance, b backendtest.Bound) {
		Expect(declared(b, true)).To(Succeed())
	},
}

var _ = Describe("Orphans and usage", func() {
	suite.ItRemovesOrphans("rabbitmq-local", provisioned, notes)
	suite.ItReportsUsage(provisioned, notes, "queues")
})
