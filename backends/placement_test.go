package backends_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

var _ = Describe("Place", func() {
	candidates := []backends.Node{
		{Name: "a", Capacity: 2},
		{Name: "b", Capacity: 3},
		{Name: "c"},
	}

	DescribeTable("picks the candidate with the most free capacity",
		func(candidates []backends.Node, used map[string]int, want string) {
			Expect(backends.Place(candidates, used, "small", "")).To(Equal(want))
		},
		Entry("an empty pool", candidates[:2], map[string]int{}, "b"),
		Entry("the emptier node", candidates[:2], map[string]int{"b": 2}, "a"),
		Entry("the first listed on a tie", candidates[:2], map[string]int{"b": 1}, "a"),
		Entry("a node without a limit", candidates, map[string]int{"c": 1000}, "c"),
		Entry("a candidate with room when the others are full", candidates[:2], map[string]int{"a": 2}, "b"),
	)

	It("refuses when every candidate is full, saying how many there were", func() {
		_, err := backends.Place(candidates[:2], map[string]int{"a": 2, "b": 3}, "small", "15")
		Expect(err).To(MatchError(backends.ErrNoCapacity))
		Expect(err).To(MatchError(ContainSubstring(`all 2 nodes that serve plan "small" in version "15" are full`)))
	})

	It("refuses when there is no candidate: no node serves the plan in that version", func() {
		_, err := backends.Place(nil, nil, "small", "17")
		Expect(err).To(MatchError(backends.ErrNotServed))
		Expect(err).To(MatchError(ContainSubstring(`plan "small" in version "17"`)))
	})

	It("never picks a full node even when it is the only one", func() {
		_, err := backends.Place([]backends.Node{{Name: "x", Capacity: 1}}, map[string]int{"x": 1}, "p", "")
		Expect(err).To(MatchError(backends.ErrNoCapacity))
	})
})
