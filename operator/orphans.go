// Package operator is the operator's repair work that the CLI and the /admin/v1 API share:
// here, the search for orphans both ways and their purge and restore, always through the
// queue, and the check of a catalog against the instances that live in the state database.
// It imports catalog, store and backends, never broker.
package operator

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/store"
)

// listTimeout bounds one node's ListObjects: a node that does not answer within it is
// reported as unchecked, not waited for.
const listTimeout = 30 * time.Second

// Scope narrows a search to one backend, one node, one object's name, or several of these
// ("" for any).
type Scope struct {
	Backend string `json:"backend,omitempty"`
	Node    string `json:"node,omitempty"`
	Object  string `json:"object,omitempty"`
}

// Orphan is an object on a node that carries the broker's naming and that no instance or
// binding recorded in the state database owns.
type Orphan struct {
	Backend string          `json:"backend"`
	Node    string          `json:"node"`
	Object  backends.Object `json:"object"`
}

// Missing is an object that a live instance (ready or updating) or a live binding (bound) of
// one owns and that is gone from its node. Restorable is set for a binding's login whose
// instance's objects are all there: a restore makes it again with the sealed password. An
// instance's own object that is gone is reported, never made again: its data is lost.
type Missing struct {
	Backend    string          `json:"backend"`
	Node       string          `json:"node"`
	InstanceID string          `json:"instance_id"`
	BindingID  string          `json:"binding_id,omitempty"`
	Object     backends.Object `json:"object"`
	Restorable bool            `json:"restorable"`
}

// Unchecked is a node whose objects could not be listed, with the sentence that says why:
// nothing is guessed about it.
type Unchecked struct {
	Backend string `json:"backend"`
	Node    string `json:"node"`
	Reason  string `json:"reason"`
}

// OrphanReport is what FindOrphans found.
type OrphanReport struct {
	Orphans   []Orphan    `json:"orphans"`
	Missing   []Missing   `json:"missing"`
	Unchecked []Unchecked `json:"unchecked"`
}

// Found reports whether the report holds anything to act on.
func (r OrphanReport) Found() bool { return len(r.Orphans) > 0 || len(r.Missing) > 0 }

// FindOrphans compares, node by node of scope, what the node holds (ListObjects) with what the
// state database records on it (store.Owners): objects no instance or binding owns are
// orphans, objects a live instance or binding owns that are gone are missing. It lists a node
// before it reads the state database, so that an instance created in between is not taken
// for an orphan. It changes nothing. Its error is the state database's; a node's failure
// makes the node Unchecked.
func (o *Operator) FindOrphans(ctx context.Context, scope Scope) (OrphanReport, error) {
	st, adapters, nodes := o.Store, o.Backends, o.Nodes()
	report := OrphanReport{Orphans: []Orphan{}, Missing: []Missing{}, Unchecked: []Unchecked{}}
	for _, backend := range slices.Sorted(maps.Keys(nodes)) {
		adapter, ok := adapters[backend]
		if !ok || (scope.Backend != "" && scope.Backend != backend) {
			continue
		}
		for _, node := range nodes[backend] {
			if scope.Node != "" && scope.Node != node {
				continue
			}
			listCtx, cancel := context.WithTimeout(ctx, listTimeout)
			listed, err := adapter.ListObjects(listCtx, backends.ListObjectsRequest{Node: node})
			cancel()
			if err != nil {
				report.Unchecked = append(report.Unchecked, Unchecked{Backend: backend, Node: node, Reason: sentence(err)})
				continue
			}
			owners, err := st.Owners(ctx, backend, node)
			if err != nil {
				return OrphanReport{}, err
			}
			compare(&report, adapter, backend, node, listed.Objects, owners, scope.Object)
		}
	}
	return report, nil
}

// owning is one instance of store.Owners with its bindings.
type owning struct {
	state    store.InstanceState
	bindings []backends.Binding
	bound    map[string]bool
}

// compare adds to report the orphans and the missing objects of one node.
// Only objects named object count, unless object is "".
func compare(report *OrphanReport, adapter backends.Backend, backend, node string, listed []backends.Object, owners []store.Owner, object string) {
	in := func(o backends.Object) bool { return object == "" || o.Name == object }
	instances := map[string]*owning{}
	for _, o := range owners {
		inst := instances[o.InstanceID]
		if inst == nil {
			inst = &owning{state: o.InstanceState, bound: map[string]bool{}}
			instances[o.InstanceID] = inst
		}
		if o.BindingID != "" {
			inst.bindings = append(inst.bindings, backends.Binding{ID: o.BindingID, LegacyName: o.LegacyName})
			inst.bound[o.BindingID] = o.BindingState == store.BindingBound
		}
	}
	there := map[backends.Object]bool{}
	for _, o := range listed {
		there[o] = true
	}
	owned := map[backends.Object]bool{}
	for _, id := range slices.Sorted(maps.Keys(instances)) {
		inst := instances[id]
		res := adapter.Owned(backends.OwnedRequest{Instance: backends.Instance{ID: id, Node: node}, Bindings: inst.bindings})
		for _, o := range slices.Concat(res.Instance, res.Kept) {
			owned[o] = true
		}
		live := inst.state == store.InstanceReady || inst.state == store.InstanceUpdating
		whole := true
		for _, o := range res.Instance {
			if live && !there[o] {
				whole = false
			}
			if live && !there[o] && in(o) {
				report.Missing = append(report.Missing, Missing{Backend: backend, Node: node, InstanceID: id, Object: o})
			}
		}
		for _, b := range inst.bindings {
			for _, o := range res.Bindings[b.ID] {
				owned[o] = true
				if live && inst.bound[b.ID] && !there[o] && in(o) {
					report.Missing = append(report.Missing, Missing{Backend: backend, Node: node,
						InstanceID: id, BindingID: b.ID, Object: o, Restorable: whole})
				}
			}
		}
	}
	for _, o := range listed {
		if !owned[o] && in(o) {
			report.Orphans = append(report.Orphans, Orphan{Backend: backend, Node: node, Object: o})
		}
	}
}
