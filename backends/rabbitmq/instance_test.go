package rabbitmq_test

import (
	"context"

	rabbithole "github.com/michaelklishin/rabbit-hole/v3"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	amqp "github.com/rabbitmq/amqp091-go"

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
			Expect(description(err)).To(ContainSubstring("taken by an object this broker does not own"))

			Expect(suite.Calls().Deprovision(suite.Logged(ctx), inst)).To(Succeed())
			Expect(vhostExists(vhost)).To(BeTrue())
			info, err := suite.Admin.GetVhost(vhost)
			Expect(err).NotTo(HaveOccurred())
			Expect(info.Description).To(Equal("an operator's"))
		})
	})
})

var _ = Describe("Update", func() {
	It("has nothing to change, and leaves the instance usable", func(ctx SpecContext) {
		inst := provisioned(ctx)
		inst.Plan = "large"
		Expect(suite.Calls().Update(suite.Logged(ctx), inst, "small")).To(Succeed())
		_, creds := suite.Bound(ctx, inst)
		roundTrip(ctx, mustDial(creds), "after an update")
	})
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
		_, err := dial(creds2["uri"].(string))
		Expect(amqpCode(err)).To(Equal(amqp.AccessRefused), "%v", err)

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
