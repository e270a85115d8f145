package operator

import (
	"context"
	"sync"
	"time"

	"github.com/omnibroker/omnibroker/store"
)

// pingTimeout bounds one node's Ping in a listing of the nodes.
const pingTimeout = 5 * time.Second

// NodeReport is one node of the catalog as `nodes` lists it: what the catalog says of it, what
// the state database places on it and whether it is drained, and whether it answers now.
type NodeReport struct {
	Backend  string   `json:"backend"`
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	Plans    []string `json:"plans"`
	Versions []string `json:"versions"`
	// Placed counts the instances on it, in every state; Capacity is the catalog's, 0 for no
	// limit.
	Placed   int  `json:"placed"`
	Capacity int  `json:"capacity"`
	Full     bool `json:"full"`
	// Drain is set when the node takes no new instances.
	Drain     *store.Drain `json:"drain,omitempty"`
	Reachable bool         `json:"reachable"`
	// Reason says why it is not reachable.
	Reason string `json:"reason,omitempty"`
}

// ListNodes reports every node of every backend of the catalog, in catalog order, pinging all
// of them at once (each bounded by pingTimeout). A node whose plans list is empty serves every
// plan of its backend, which Plans then lists.
func (o *Operator) ListNodes(ctx context.Context) ([]NodeReport, error) {
	counts, err := o.Store.PlacedCounts(ctx)
	if err != nil {
		return nil, err
	}
	drains, err := o.Store.Drains(ctx)
	if err != nil {
		return nil, err
	}
	placed := map[[2]string]int{}
	for _, c := range counts {
		placed[[2]string{c.Backend, c.Node}] = c.Placed
	}
	drained := map[[2]string]*store.Drain{}
	for i, d := range drains {
		drained[[2]string{d.Backend, d.Node}] = &drains[i]
	}
	var reports []NodeReport
	for _, be := range o.Catalog.Config.Backends {
		var all []string
		for _, svc := range o.Catalog.Config.Services {
			for _, p := range svc.Plans {
				if p.Backend == be.Name {
					all = append(all, p.Name)
				}
			}
		}
		for _, n := range be.Nodes {
			key := [2]string{be.Name, n.Name}
			r := NodeReport{Backend: be.Name, Kind: be.Kind, Name: n.Name, Plans: n.Plans, Versions: n.Versions,
				Placed: placed[key], Capacity: n.Capacity, Drain: drained[key]}
			if len(r.Plans) == 0 {
				r.Plans = all
			}
			if r.Versions == nil {
				r.Versions = []string{}
			}
			r.Full = n.Capacity > 0 && r.Placed >= n.Capacity
			reports = append(reports, r)
		}
	}
	var wg sync.WaitGroup
	for i := range reports {
		r := &reports[i]
		adapter, ok := o.Backends[r.Backend]
		if !ok {
			r.Reason = "the broker has no adapter for its backend"
			continue
		}
		wg.Go(func() {
			pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			if err := adapter.Ping(pingCtx, r.Name); err != nil {
				r.Reason = sentenceWithin(err, pingTimeout)
				return
			}
			r.Reachable = true
		})
	}
	wg.Wait()
	return reports, nil
}

// findNode is the backend of node, which the catalog names once across all backends.
func (o *Operator) findNode(node string) (string, error) {
	for backend, names := range o.Nodes() {
		for _, n := range names {
			if n == node {
				return backend, nil
			}
		}
	}
	return "", &NotFound{What: "node " + node + " of the catalog"}
}

// Drain drains node, for actor, of new instances: from the drain's commit on no replica places
// a new instance there, across restarts, while its instances keep working there. It is
// recorded as a repair "nodes drain"; a node drained already is left as it is (and who drained
// it), and the repair says so.
func (o *Operator) Drain(ctx context.Context, actor Actor, node, reason string) (store.Repair, error) {
	backend, err := o.findNode(node)
	if err != nil {
		return store.Repair{}, err
	}
	rec, _, err := o.repair(ctx, actor, "nodes drain", node, func() (store.Operation, error) {
		drained, err := o.Store.DrainNode(ctx, backend, node, actor.Name, reason)
		if err == nil && !drained {
			return store.Operation{}, &Refused{Reason: "node " + node + " is drained already"}
		}
		return store.Operation{}, err
	})
	return rec, err
}

// Undrain lets node take new instances again, for actor, recorded as a repair "nodes undrain".
func (o *Operator) Undrain(ctx context.Context, actor Actor, node string) (store.Repair, error) {
	backend, err := o.findNode(node)
	if err != nil {
		return store.Repair{}, err
	}
	rec, _, err := o.repair(ctx, actor, "nodes undrain", node, func() (store.Operation, error) {
		undrained, err := o.Store.UndrainNode(ctx, backend, node)
		if err == nil && !undrained {
			return store.Operation{}, &Refused{Reason: "node " + node + " is not drained"}
		}
		return store.Operation{}, err
	})
	return rec, err
}
