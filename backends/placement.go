package backends

import (
	"errors"
	"fmt"
)

// Node is one candidate server for a new instance, as placement sees it: which nodes are
// candidates (they serve the plan, offer the version, take new instances) is the caller's
// question, asked of the catalog, so Place looks at capacity only.
type Node struct {
	Name string
	// Capacity is how many instances the node takes; 0 means no limit.
	Capacity int
}

// ErrNoCapacity is returned by Place when no candidate node has room.
var ErrNoCapacity = errors.New("no node has room")

// ErrNotServed is returned by Place when there is no candidate: no node serves the plan in
// the version asked for.
var ErrNotServed = errors.New("no node serves the plan")

// Place picks, among candidates, the one with the most free capacity given used (instances
// per node name). Ties go to the node listed first. plan and version ("" for any) name the
// instance in the errors only. It is a pure function: the caller counts used and records the
// choice in one transaction.
func Place(candidates []Node, used map[string]int, plan, version string) (string, error) {
	best, bestFree := "", -1
	for _, n := range candidates {
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
	if len(candidates) == 0 {
		return "", fmt.Errorf("%w: %s", ErrNotServed, what)
	}
	if best == "" {
		return "", fmt.Errorf("all %d nodes that serve %s are full: %w", len(candidates), what, ErrNoCapacity)
	}
	return best, nil
}
