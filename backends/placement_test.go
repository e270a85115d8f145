package backends_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

var _ = Describe("Place", func() {
	pool := []backends.Node{
		{Name: "a", Versions: []string{"15"}, Capacity: 2},
		{Name: "b", Versions: []string{"15", "16"}, Capacity: 3},
		{Name: "c", Plans: []string{"large"}, Versions: []string{"16"}, Capacity: 10},
		{Name: "d", Plans: []string{"tiny"}},
	}

	DescribeTable("picks the eligible node with the most free capacity",
		func(used map[string]int, plan, version, want string) {
			Expect(backends.Place(pool, used, plan, version)).To(Equal(want))
		},
		Entry("an empty pool", map[string]int{}, "small", "", "b"),
		Entry("the emptier node", map[string]int{"b": 2}, "small", "", "a"),
		Entry("the first listed on a tie", map[string]int{"b": 1}, "small", "", "a"),
		Entry("a node serving the plan", map[string]int{}, "large", "16", "c"),
		Entry("only nodes offering the version", map[string]int{"b": 2}, "small", "16", "b"),
		Entry("a node without a limit", map[string]int{"d": 1000}, "tiny", "", "d"),
	)

	It("refuses when every eligible node is full, saying how many there were", func() {
		_, err := backends.Place(pool, map[string]int{"a": 2, "b": 3}, "small", "15")
		Expect(err).To(MatchError(backends.ErrNoCapacity))
		Expect(err).To(MatchError(ContainSubstring(`all 2 nodes that serve plan "small" in version "15" are full`)))
	})

	It("refuses a plan or version no node serves", func() {
		_, err := backends.Place(pool, nil, "small", "17")
		Expect(err).To(MatchError(backends.ErrNotServed))
		_, err = backends.Place(pool, nil, "huge", "")
		Expect(err).NotTo(HaveOccurred(), "a node without a plans list serves every plan")
		_, err = backends.Place([]backends.Node{{Name: "d", Plans: []string{"tiny"}}}, nil, "tiny", "15")
		Expect(err).To(MatchError(backends.ErrNotServed), "a node without versions takes no instance that asks for one")
	})

	It("never picks a full node even when it is the only one", func() {
		_, err := backends.Place([]backends.Node{{Name: "x", Capacity: 1}}, map[string]int{"x": 1}, "p", "")
		Expect(err).To(MatchError(backends.ErrNoCapacity))
	})
})
