package backends

import (
	"errors"
	"fmt"
	"slices"
)

// Node is one server of a backend as placement sees it.
type Node struct {
	Name string
	// Plans lists the plan names the node serves; empty means every plan of its backend.
	Plans []string
	// Versions lists the server versions the node offers; a node without versions takes only
	// instances that ask for none.
	Versions []string
	// Capacity is how many instances the node takes; 0 means no limit.
	Capacity int
}

// Takes tells whether the node takes instances of plan in version ("" for any): it serves the
// plan, and offers the version.
func (n Node) Takes(plan, version string) bool {
	return (len(n.Plans) == 0 || slices.Contains(n.Plans, plan)) &&
		(version == "" || slices.Contains(n.Versions, version))
}

// ErrNoCapacity is returned by Place when no eligible node has room.
var ErrNoCapacity = errors.New("no node has room")

// ErrNotServed is returned by Place when no node serves the plan in the version asked for.
var ErrNotServed = errors.New("no node serves the plan")

// Place picks, among the nodes that serve plan and offer version ("" for any), the one with
// the most free capacity given used (instances per node name). Ties go to the node listed
// first. It is a pure function: the caller counts used and records the choice in one
// transaction.
func Place(nodes []Node, used map[string]int, plan, version string) (string, error) {
	best, bestFree := "", -1
	eligible := 0
	for _, n := range nodes {
		if !n.Takes(plan, version) {
			continue
		}
		eligible++
		free := 1 << 30
		if n.Capacity > 0 {
			free = n.Capacity - used[n.Name]
		}
		if free > 0 && free > bestFree {
			best, bestFree = n.Name, free
		}
	}
	what := fmt.Sprintf("plan %q", plan)
	if version != "" {
		what += fmt.Sprintf(" in version %q", version)
	}
	if eligible == 0 {
		return "", fmt.Errorf("%w: %s", ErrNotServed, what)
	}
	if best == "" {
		return "", fmt.Errorf("all %d nodes that serve %s are full: %w", eligible, what, ErrNoCapacity)
	}
	return best, nil
}
