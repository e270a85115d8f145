package catalog_test

import (
	"fmt"
	"testing"

	"github.com/omnibroker/omnibroker/catalog"
)

// BenchmarkEligible is the candidate filter of placement in a pool of 200 nodes offering two
// versions, half of them serving the plan.
func BenchmarkEligible(b *testing.B) {
	nodes := make([]catalog.Node, 200)
	for i := range nodes {
		nodes[i] = catalog.Node{Name: fmt.Sprintf("node-%03d", i), Versions: []string{"15", "16"}, Capacity: 500}
		if i%2 == 1 {
			nodes[i].Plans = []string{"other"}
		}
	}
	want := catalog.Want{Plan: "small", Version: "16", New: true}
	for b.Loop() {
		eligible := 0
		for _, n := range nodes {
			if catalog.Eligible(n, want) {
				eligible++
			}
		}
		if eligible != 100 {
			b.Fatalf("%d nodes eligible, want 100", eligible)
		}
	}
}
