package catalog

import "slices"

// Want is what is asked of a node before an instance runs on it: the plan, the server version
// and whether the instance is a new one.
type Want struct {
	// Plan is the plan's name.
	Plan string
	// Version is the server version the instance runs or asks for; "" means any will do.
	Version string
	// New is true when the question is whether to place a new instance on the node
	// (placement, and the versions a new instance may ask for), and false when the instance
	// already runs there (a plan change: an instance never moves between nodes).
	New bool
	// Drained are the nodes drained of new instances (placement reads them from the state
	// database under its lock): such a node refuses a new instance and keeps serving its own.
	Drained map[string]bool
}

// Eligible tells whether node n may run an instance as w asks: n serves the plan (a node
// without a plans list serves every plan of its backend), offers the version (a node
// without versions takes only instances that ask for none), and, for a new instance, is not
// drained. It is the one place that
// decides this: placement, plan changes and the versions a plan offers all ask it. It is a
// pure function of its arguments.
func Eligible(n Node, w Want) bool {
	return (len(n.Plans) == 0 || slices.Contains(n.Plans, w.Plan)) &&
		(w.Version == "" || slices.Contains(n.Versions, w.Version)) &&
		!(w.New && w.Drained[n.Name])
}

// Node returns the node of backend named name.
func (c *Catalog) Node(backend, name string) (Node, bool) {
	b, ok := c.Backend(backend)
	if !ok {
		return Node{}, false
	}
	i := slices.IndexFunc(b.Nodes, func(n Node) bool { return n.Name == name })
	if i < 0 {
		return Node{}, false
	}
	return b.Nodes[i], true
}

// Versions lists the versions a new instance of p may ask for: those offered by the nodes
// Eligible for it, in catalog order, each once.
func (c *Catalog) Versions(p Plan) []string {
	b, ok := c.Backend(p.Backend)
	if !ok {
		return nil
	}
	var out []string
	for _, n := range b.Nodes {
		for _, v := range n.Versions {
			if !slices.Contains(out, v) && Eligible(n, Want{Plan: p.Name, Version: v, New: true}) {
				out = append(out, v)
			}
		}
	}
	return out
}
