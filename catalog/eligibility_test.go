package catalog_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/catalog"
)

var _ = Describe("Eligible", func() {
	anyPlan := catalog.Node{Name: "a", Versions: []string{"15", "16"}}
	onlyLarge := catalog.Node{Name: "b", Plans: []string{"large"}, Versions: []string{"16"}}
	noVersions := catalog.Node{Name: "c", Plans: []string{"tiny"}}

	DescribeTable("decides whether a node may run an instance of a plan in a version",
		func(n catalog.Node, w catalog.Want, eligible bool) {
			Expect(catalog.Eligible(n, w)).To(Equal(eligible))
			w.New = !w.New
			Expect(catalog.Eligible(n, w)).To(Equal(eligible), "a new instance and one already on the node get the same answer while no node can be drained")
		},
		Entry("a node without a plans list serves every plan", anyPlan, catalog.Want{Plan: "huge"}, true),
		Entry("a node serves a plan it lists", onlyLarge, catalog.Want{Plan: "large", New: true}, true),
		Entry("a node does not serve a plan it does not list", onlyLarge, catalog.Want{Plan: "small", New: true}, false),
		Entry("a node offers a version it lists", anyPlan, catalog.Want{Plan: "small", Version: "16", New: true}, true),
		Entry("a node does not offer a version it does not list", anyPlan, catalog.Want{Plan: "small", Version: "17", New: true}, false),
		Entry("a node without versions takes an instance that asks for none", noVersions, catalog.Want{Plan: "tiny", New: true}, true),
		Entry("a node without versions takes no instance that asks for one", noVersions, catalog.Want{Plan: "tiny", Version: "15", New: true}, false),
		Entry("both must hold", onlyLarge, catalog.Want{Plan: "large", Version: "15"}, false),
	)

	It("finds a node of a backend by name, and says when there is none", func() {
		cfg := minimalConfig()
		cfg.Backends[0].Nodes = append(cfg.Backends[0].Nodes, catalog.Node{Name: "pg-2", URLEnv: "PG2_URL", Capacity: 3})
		c, err := parseConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		backend := cfg.Backends[0].Name
		n, ok := c.Node(backend, "pg-2")
		Expect(ok).To(BeTrue())
		Expect(n.Capacity).To(Equal(3))
		_, ok = c.Node(backend, "pg-9")
		Expect(ok).To(BeFalse())
		_, ok = c.Node("no-such-backend", "pg-2")
		Expect(ok).To(BeFalse())
	})
})
