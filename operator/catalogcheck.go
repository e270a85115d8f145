package operator

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// FindingKind says what a catalog takes away from instances that live in the state database.
type FindingKind string

const (
	// FindingBackendRemoved: the backend the instances were created on is not in the catalog;
	// none of their operations can run, their deletion included.
	FindingBackendRemoved FindingKind = "backend-removed"
	// FindingNodeRemoved: the node the instances were placed on is not among their backend's
	// nodes; none of their operations can reach it.
	FindingNodeRemoved FindingKind = "node-removed"
	// FindingPlanRemoved: the instances' plan is not in the catalog; they can still be
	// unbound and deleted, not bound or updated.
	FindingPlanRemoved FindingKind = "plan-removed"
	// FindingPlanMoved: the instances' plan names another backend than the one they were
	// created on; they stay there, and cannot change plan.
	FindingPlanMoved FindingKind = "plan-moved"
	// FindingPlanNotServed: the node the instances run on no longer lists their plan.
	FindingPlanNotServed FindingKind = "plan-not-served"
	// FindingVersionDropped: the node the instances run on no longer offers the server
	// version they run.
	FindingVersionDropped FindingKind = "version-dropped"
	// FindingOverCapacity: more instances are placed on the node than its capacity.
	FindingOverCapacity FindingKind = "over-capacity"
)

// findingOrder is the order in which a report lists the kinds: what stops every operation first.
var findingOrder = []FindingKind{FindingBackendRemoved, FindingNodeRemoved, FindingPlanRemoved,
	FindingPlanMoved, FindingPlanNotServed, FindingVersionDropped, FindingOverCapacity}

// Finding is one thing a catalog takes away from live instances, and which of them.
type Finding struct {
	Kind    FindingKind `json:"kind"`
	Backend string      `json:"backend"`
	Node    string      `json:"node,omitempty"`
	PlanID  string      `json:"plan_id,omitempty"`
	// Plan is the plan's name, when the catalog still has the plan.
	Plan    string `json:"plan,omitempty"`
	Version string `json:"version,omitempty"`
	// Capacity and Placed are the node's capacity and the instances placed on it
	// (FindingOverCapacity only).
	Capacity int `json:"capacity,omitempty"`
	Placed   int `json:"placed,omitempty"`
	// Instances is how many instances it affects; InstanceIDs up to store.UsageSample of them.
	Instances   int      `json:"instances"`
	InstanceIDs []string `json:"instance_ids"`
	// Sentence says it for a person.
	Sentence string `json:"sentence"`
}

// live tells whether an instance in state counts for what a catalog takes away: every state
// but failed, a provision that failed, whose objects no application uses. An instance being
// deleted, or whose deletion failed, counts: its deletion needs its backend and its node.
func live(state store.InstanceState) bool { return state != store.InstanceFailed }

// CheckCatalog compares o.Catalog (the one served, or a file about to be) with the instances
// in o.Store and returns what the catalog takes away from them, in the order of findingOrder:
// an empty list when it serves every live instance. It only reads, and needs neither
// o.Backends nor o.Logger.
func (o *Operator) CheckCatalog(ctx context.Context) ([]Finding, error) {
	usage, err := o.Store.InstanceUsage(ctx, catalog.VersionParameter)
	if err != nil {
		return nil, err
	}
	return CompareCatalog(o.Catalog, usage), nil
}

// CompareCatalog is CheckCatalog's comparison of cat with the instance counts usage
// (store.InstanceUsage), a pure function. Live instances (every state but failed) count for
// what is removed; every instance placed on a node counts against its capacity, as
// placement counts them. An instance that asked for no version runs its plan's
// default_version, as the broker takes it to.
func CompareCatalog(cat *catalog.Catalog, usage []store.Usage) []Finding {
	type findingKey struct{ kind, backend, node, planID, version string }
	found := map[findingKey]*Finding{}
	add := func(at Finding, u store.Usage) {
		key := findingKey{string(at.Kind), at.Backend, at.Node, at.PlanID, at.Version}
		f := found[key]
		if f == nil {
			f = &at
			found[key] = f
		}
		f.Instances += u.Instances
		f.InstanceIDs = sample(f.InstanceIDs, u.InstanceIDs)
	}
	type nodeKey struct{ backend, node string }
	placed := map[nodeKey]*Finding{}
	for _, u := range usage {
		be, ok := cat.Backend(u.Backend)
		if !ok {
			if live(u.State) {
				add(Finding{Kind: FindingBackendRemoved, Backend: u.Backend}, u)
			}
			continue
		}
		plan, _, planKnown := cat.Plan(u.PlanID)
		if live(u.State) && !planKnown {
			add(Finding{Kind: FindingPlanRemoved, Backend: u.Backend, PlanID: u.PlanID}, u)
		}
		if live(u.State) && planKnown && plan.Backend != u.Backend {
			add(Finding{Kind: FindingPlanMoved, Backend: u.Backend, PlanID: u.PlanID, Plan: plan.Name}, u)
			planKnown = false // the rest is about a plan of this backend
		}
		if u.Node == "" {
			continue // placement will ask the catalog when it comes
		}
		n, ok := cat.Node(be.Name, u.Node)
		if !ok {
			if live(u.State) {
				add(Finding{Kind: FindingNodeRemoved, Backend: u.Backend, Node: u.Node}, u)
			}
			continue
		}
		at := nodeKey{u.Backend, u.Node}
		if placed[at] == nil {
			placed[at] = &Finding{Kind: FindingOverCapacity, Backend: u.Backend, Node: u.Node, Capacity: n.Capacity}
		}
		placed[at].Placed += u.Instances
		placed[at].InstanceIDs = sample(placed[at].InstanceIDs, u.InstanceIDs)
		if !live(u.State) || !planKnown {
			continue
		}
		if !catalog.Eligible(n, catalog.Want{Plan: plan.Name}) {
			add(Finding{Kind: FindingPlanNotServed, Backend: u.Backend, Node: u.Node, PlanID: u.PlanID, Plan: plan.Name}, u)
			continue
		}
		version := catalog.Version(plan, map[string]any{catalog.VersionParameter: u.Version})
		if version != "" && !catalog.Eligible(n, catalog.Want{Plan: plan.Name, Version: version}) {
			add(Finding{Kind: FindingVersionDropped, Backend: u.Backend, Node: u.Node, PlanID: u.PlanID, Plan: plan.Name, Version: version}, u)
		}
	}
	out := []Finding{}
	for _, f := range found {
		f.Sentence = sentenceOf(*f)
		out = append(out, *f)
	}
	for _, f := range placed {
		if f.Capacity > 0 && f.Placed > f.Capacity {
			f.Instances = f.Placed
			f.Sentence = sentenceOf(*f)
			out = append(out, *f)
		}
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(slices.Index(findingOrder, a.Kind), slices.Index(findingOrder, b.Kind)),
			cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Node, b.Node), cmp.Compare(a.PlanID, b.PlanID),
			cmp.Compare(a.Version, b.Version))
	})
	return out
}

// sample is have with the ids of more appended, up to store.UsageSample in all.
func sample(have, more []string) []string {
	out := slices.Clone(have)
	if out == nil {
		out = []string{}
	}
	for _, id := range more {
		if len(out) == store.UsageSample {
			break
		}
		out = append(out, id)
	}
	return out
}

// sentenceOf says f for the operator who has to act on it: what the catalog lost, how many
// instances it strands, and what they can no longer do.
func sentenceOf(f Finding) string {
	n := instances(f.Instances)
	plan := f.Plan
	if plan == "" {
		plan = f.PlanID
	}
	switch f.Kind {
	case FindingBackendRemoved:
		return fmt.Sprintf("backend %s is not in the catalog but has %s: no operation on them can run, their deletion included", f.Backend, n)
	case FindingNodeRemoved:
		return fmt.Sprintf("node %s is not among the nodes of backend %s but has %s: no operation on them can reach it, their deletion included", f.Node, f.Backend, n)
	case FindingPlanRemoved:
		return fmt.Sprintf("plan %s is not in the catalog but has %s on backend %s: they can be unbound and deleted, no longer bound or updated", f.PlanID, n, f.Backend)
	case FindingPlanMoved:
		return fmt.Sprintf("plan %s now names another backend but has %s on backend %s: they stay there and can no longer change plan", plan, n, f.Backend)
	case FindingPlanNotServed:
		return fmt.Sprintf("node %s of backend %s no longer serves plan %s but has %s of it", f.Node, f.Backend, plan, n)
	case FindingVersionDropped:
		return fmt.Sprintf("node %s of backend %s no longer offers version %s but has %s of plan %s in it", f.Node, f.Backend, f.Version, n, plan)
	case FindingOverCapacity:
		return fmt.Sprintf("node %s of backend %s has capacity %d but %d instances placed on it: it takes no new ones", f.Node, f.Backend, f.Capacity, f.Placed)
	}
	return string(f.Kind)
}

// instances is "1 live instance" or "n live instances".
func instances(n int) string {
	if n == 1 {
		return "1 live instance"
	}
	return fmt.Sprintf("%d live instances", n)
}
