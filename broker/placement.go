package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// candidates is the nodes of the backend that may take a new instance as w asks, as
// placement sees them.
func candidates(cfg catalog.Backend, w catalog.Want) []backends.Node {
	var nodes []backends.Node
	for _, n := range cfg.Nodes {
		if catalog.Eligible(n, w) {
			nodes = append(nodes, backends.Node{Name: n.Name, Capacity: n.Capacity})
		}
	}
	return nodes
}

// chooser is how a new instance of plan with parameters is placed, for the store to call under
// the backend's placement lock: choose picks, among the candidate nodes not drained of new
// instances, the one with the most free capacity, and refused returns why its last call chose
// none, as the permanent failure of the provision (nil when it chose). The request places its
// instance as it queues the provision (CreatePlacedInstance), and the worker places one the
// request could not (AssignNode), with the same rule.
func (b *Broker) chooser(plan catalog.Plan, parameters map[string]any) (choose store.Choose, refused func() error) {
	cfg, ok := b.catalog.Backend(plan.Backend)
	if !ok {
		err := permanentf("backend %q is not configured", plan.Backend)
		return func(map[string]int, map[string]bool) (string, error) { return "", err }, func() error { return err }
	}
	version := catalog.Version(plan, parameters)
	want := catalog.Want{Plan: plan.Name, Version: version, New: true}
	var placeErr error
	allDrained := false
	choose = func(used map[string]int, drained map[string]bool) (string, error) {
		undrained := want
		undrained.Drained = drained
		nodes := candidates(cfg, undrained)
		allDrained = len(nodes) == 0 && len(candidates(cfg, want)) > 0
		node, err := backends.Place(nodes, used, plan.Name, version)
		placeErr = err
		return node, err
	}
	refused = func() error {
		if placeErr == nil {
			return nil
		}
		what := "plan " + plan.Name
		if version != "" {
			what += " in version " + version
		}
		sentence := fmt.Sprintf("no node of backend %s serves %s; ask the broker's operator to fix the catalog", plan.Backend, what)
		switch {
		case errors.Is(placeErr, backends.ErrNoCapacity):
			sentence = fmt.Sprintf("every node of backend %s that serves %s is full; ask the broker's operator for capacity", plan.Backend, what)
		case allDrained:
			sentence = fmt.Sprintf("every node of backend %s that serves %s is drained of new instances; ask the broker's operator for a node that takes them", plan.Backend, what)
		}
		return backends.Permanent(sentence, placeErr)
	}
	return choose, refused
}

// chooseFor is the Choose of another instance waiting to be placed, of plan planID with
// parameters, for the placement that places it with its own (store.AssignNodes); nil when
// the plan has left the catalog.
func (p *Pool) chooseFor(planID string, parameters json.RawMessage) store.Choose {
	plan, ok := p.plan(planID)
	if !ok {
		return nil
	}
	choose, _ := p.b.chooser(plan, decodeObject(parameters))
	return choose
}

// place puts a new instance that its provision's request could not place on the candidate
// node with the most free capacity, counting and claiming in one transaction; a retried
// provision keeps the node it got.
func (p *Pool) place(ctx context.Context, inst store.Instance, plan catalog.Plan) (string, error) {
	choose, refused := p.b.chooser(plan, decodeObject(inst.Parameters))
	node, err := p.b.store.AssignNodes(ctx, inst.ID, plan.Backend, choose, p.chooseFor)
	if err := refused(); err != nil {
		return "", err
	}
	if err != nil {
		return "", err
	}
	return node, nil
}
