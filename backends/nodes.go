package backends

import (
	"errors"
	"fmt"
	"iter"
	"maps"
)

// Nodes holds an adapter's per-node state (admin pools or clients) by node name.
type Nodes[N any] struct {
	kind      string
	byName    map[string]N
	closeNode func(N) error
}

// OpenNodes builds the state of each server with open, refusing a server without a name or
// one listed twice; on an error it closes what it built. open's errors name the node and must
// never quote its admin URL. closeNode releases one node's state.
func OpenNodes[N any](kind string, servers []Server, open func(Server) (N, error), closeNode func(N) error) (Nodes[N], error) {
	ns := Nodes[N]{kind: kind, byName: make(map[string]N, len(servers)), closeNode: closeNode}
	for _, s := range servers {
		if s.Name == "" {
			_ = ns.Close()
			return Nodes[N]{}, fmt.Errorf("a %s node has no name", kind)
		}
		if _, dup := ns.byName[s.Name]; dup {
			_ = ns.Close()
			return Nodes[N]{}, fmt.Errorf("%s node %q is listed twice", kind, s.Name)
		}
		n, err := open(s)
		if err != nil {
			_ = ns.Close()
			return Nodes[N]{}, err
		}
		ns.byName[s.Name] = n
	}
	return ns, nil
}

// Get returns the state of the node named name, or UnknownNode's permanent error.
func (ns Nodes[N]) Get(name string) (N, error) {
	n, ok := ns.byName[name]
	if !ok {
		var zero N
		return zero, UnknownNode(ns.kind, name)
	}
	return n, nil
}

// All yields the state of every node.
func (ns Nodes[N]) All() iter.Seq[N] { return maps.Values(ns.byName) }

// Close releases the state of every node.
func (ns Nodes[N]) Close() error {
	var errs []error
	for n := range ns.All() {
		errs = append(errs, ns.closeNode(n))
	}
	return errors.Join(errs...)
}
