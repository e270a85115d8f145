package backendtest

import (
	"context"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// CollidingIDs are two instance ids whose login names, as they were made before UserName
// carried 130 bits, began alike: the first 48 bits of a SHA-256 of each id, the instance part
// of those names, are the same. Pollard's rho found them in 2^24 or so hashes.
var CollidingIDs = [2]string{"collide-96a0eb338f39", "collide-49f55b99fb65"}

// ExpectDeprovisionSpares provisions on node two instances with ids, binds to each a binding
// named as before (LegacyName) and one named now, and deprovisions the first: its logins stop
// working, and both of the second's go on working. works uses credentials as an application
// would, and fails when they do not let it in.
func (c Calls) ExpectDeprovisionSpares(ctx context.Context, ids [2]string, node string, planConfig map[string]any, works func(context.Context, backends.Credentials) error) {
	ginkgo.GinkgoHelper()
	// The ids are fixed, and other checkouts may run this suite against the same node.
	testkit.Exclusive(ginkgo.GinkgoT(), "colliding-ids "+node+" "+ids[0])
	var insts [2]backends.Instance
	var creds [2][]backends.Credentials
	for i, id := range ids {
		inst := backends.Instance{ID: id, Node: node, Plan: "small", PlanConfig: planConfig, Parameters: map[string]any{}}
		insts[i] = inst
		ginkgo.DeferCleanup(func(ctx ginkgo.SpecContext) { gomega.Expect(c.Deprovision(ctx, inst)).To(gomega.Succeed()) })
		gomega.Expect(c.Provision(ctx, inst)).To(gomega.Succeed())
		for _, legacy := range []bool{true, false} {
			b := NewBinding()
			b.LegacyName = legacy
			cr, err := c.Bind(ctx, inst, b)
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			gomega.Expect(works(ctx, cr)).To(gomega.Succeed())
			creds[i] = append(creds[i], cr)
		}
	}
	gomega.Expect(creds[0][0]["username"].(string)[:16]).To(gomega.Equal(creds[1][0]["username"].(string)[:16]),
		"the legacy names of both instances' logins begin alike")

	gomega.Expect(c.Deprovision(ctx, insts[0])).To(gomega.Succeed())

	for _, cr := range creds[0] {
		gomega.Expect(works(ctx, cr)).NotTo(gomega.Succeed(), "a login of the deprovisioned instance")
	}
	for _, cr := range creds[1] {
		gomega.Expect(works(ctx, cr)).To(gomega.Succeed(), "a login of the other instance")
	}
}
