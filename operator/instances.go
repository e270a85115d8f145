package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// InstanceFilter narrows ListInstances ("" for any): Node a node's name, Plan a plan's name or
// id (or the id of a plan that has left the catalog), State an instance state.
type InstanceFilter struct {
	Node  string `json:"node,omitempty"`
	Plan  string `json:"plan,omitempty"`
	State string `json:"state,omitempty"`
}

// instanceStates are the states an instance can be in, which a filter may name.
var instanceStates = []store.InstanceState{store.InstanceProvisioning, store.InstanceReady, store.InstanceUpdating,
	store.InstanceDeprovisioning, store.InstanceFailed, store.InstanceDeleteFailed}

// Check refuses a filter whose state is not an instance state, with a sentence that names them.
func (f InstanceFilter) Check() error {
	if f.State != "" && !slices.Contains(instanceStates, store.InstanceState(f.State)) {
		return badRequest(fmt.Sprintf("state must be one of %v", instanceStates))
	}
	return nil
}

// OperationSummary is an operation as a listing shows it.
type OperationSummary struct {
	Kind  store.OperationKind  `json:"kind"`
	State store.OperationState `json:"state"`
}

// InstanceListed is one instance as `instances` lists it: its summary in the state database,
// with the names of its service and plan in the catalog (Plan "" when its plan has left it), the
// server version it asked for (its version parameter, else its plan's default; "" for any),
// and its latest operation on the instance itself (nil when it has none).
type InstanceListed struct {
	store.InstanceSummary
	Service       string            `json:"service"`
	Plan          string            `json:"plan"`
	Version       string            `json:"version"`
	LastOperation *OperationSummary `json:"last_operation,omitempty"`
}

// Stuck reports whether the instance is in a state an operator has to act on: its provision
// or its deprovision failed.
func (i InstanceListed) Stuck() bool {
	return i.State == store.InstanceFailed || i.State == store.InstanceDeleteFailed
}

// ListInstances lists the instances f matches, oldest first, at most limit (0 for all).
func (o *Operator) ListInstances(ctx context.Context, f InstanceFilter, limit int) ([]InstanceListed, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	filter := store.InstanceFilter{Node: f.Node, State: store.InstanceState(f.State), Limit: limit}
	if f.Plan != "" {
		filter.PlanIDs = append(o.planIDs(f.Plan), f.Plan)
	}
	rows, err := o.Store.ListInstances(ctx, filter)
	if err != nil {
		return nil, err
	}
	listed := make([]InstanceListed, len(rows))
	for i, r := range rows {
		plan, svc, _ := o.Catalog.Plan(r.PlanID)
		version := r.VersionParameter
		if version == "" {
			version = plan.DefaultVersion
		}
		listed[i] = InstanceListed{InstanceSummary: r, Service: svc.Name, Plan: plan.Name, Version: version}
		if r.LastKind != "" {
			listed[i].LastOperation = &OperationSummary{Kind: r.LastKind, State: r.LastState}
		}
	}
	return listed, nil
}

// planIDs are the ids of the catalog's plans named or identified by plan.
func (o *Operator) planIDs(plan string) []string {
	var ids []string
	for _, svc := range o.Catalog.Services() {
		for _, p := range svc.Plans {
			if p.Name == plan || p.ID == plan {
				ids = append(ids, p.ID)
			}
		}
	}
	return ids
}

// OperationShown is an operation as `instances show` shows it.
type OperationShown struct {
	ID          string               `json:"id"`
	Kind        store.OperationKind  `json:"kind"`
	State       store.OperationState `json:"state"`
	Description string               `json:"description,omitempty"`
	Attempt     int                  `json:"attempt"`
	MaxAttempts int                  `json:"max_attempts"`
	CreatedAt   time.Time            `json:"created_at"`
	FinishedAt  *time.Time           `json:"finished_at,omitempty"`
}

// InstanceShown is one instance as `instances show` shows it: what the listing shows, its
// bindings (in place of their count), and its latest operation on the instance itself (nil
// when it has none).
type InstanceShown struct {
	InstanceListed
	ServiceID     string                 `json:"service_id"`
	UpdatedAt     time.Time              `json:"updated_at"`
	Bindings      []store.BindingSummary `json:"bindings"`
	LastOperation *OperationShown        `json:"last_operation,omitempty"`
	// Usage is what the node says the instance uses now (Backend.Usage); UsageUnknown says
	// why it could not tell (a node that did not answer, an instance never placed).
	Usage        []backends.Figure `json:"usage"`
	UsageUnknown string            `json:"usage_unknown,omitempty"`
}

// ShowInstance is instance id with its bindings, its latest operation and what its node says
// it uses (asked for at most pingTimeout); NotFound when the state database has no such
// instance.
func (o *Operator) ShowInstance(ctx context.Context, id string) (InstanceShown, error) {
	inst, err := o.Store.GetInstance(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return InstanceShown{}, &NotFound{What: "instance " + id}
	}
	if err != nil {
		return InstanceShown{}, err
	}
	bindings, err := o.Store.BindingsOf(ctx, id)
	if err != nil {
		return InstanceShown{}, err
	}
	plan, svc, _ := o.Catalog.Plan(inst.PlanID)
	var params map[string]any
	_ = json.Unmarshal(inst.Parameters, &params)
	summary := store.InstanceSummary{ID: inst.ID, PlanID: inst.PlanID, Backend: inst.Backend, Node: inst.Node,
		State: inst.State, MaintenanceVersion: inst.MaintenanceVersion, Bindings: len(bindings), CreatedAt: inst.CreatedAt}
	shown := InstanceShown{
		InstanceListed: InstanceListed{InstanceSummary: summary, Service: svc.Name, Plan: plan.Name, Version: catalog.Version(plan, params)},
		ServiceID:      inst.ServiceID, UpdatedAt: inst.UpdatedAt, Bindings: bindings,
	}
	op, err := o.Store.LatestOperation(ctx, id, "")
	switch {
	case err == nil:
		shown.LastOperation = &OperationShown{ID: op.ID, Kind: op.Kind, State: op.State, Description: op.Description,
			Attempt: op.Attempt, MaxAttempts: op.MaxAttempts, CreatedAt: op.CreatedAt, FinishedAt: op.FinishedAt}
		shown.InstanceListed.LastOperation = &OperationSummary{Kind: op.Kind, State: op.State}
	case !errors.Is(err, store.ErrNotFound):
		return InstanceShown{}, err
	}
	shown.Usage, shown.UsageUnknown = o.usage(ctx, inst)
	return shown, nil
}

// usage is what the node of inst says it uses, or why it could not tell.
func (o *Operator) usage(ctx context.Context, inst store.Instance) ([]backends.Figure, string) {
	adapter, ok := o.Backends[inst.Backend]
	switch {
	case inst.Node == "":
		return []backends.Figure{}, "it was never placed on a node"
	case !ok:
		return []backends.Figure{}, "the broker has no adapter for backend " + inst.Backend
	}
	usageCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	res, err := adapter.Usage(usageCtx, backends.UsageRequest{Instance: backends.Instance{ID: inst.ID, Node: inst.Node}})
	if err != nil {
		return []backends.Figure{}, sentenceWithin(err, pingTimeout)
	}
	return res.Figures, ""
}

// NodeDown is a repair refused because the node it needs does not answer; it unwraps to the
// Refused that says so.
type NodeDown struct {
	Node    string
	refused *Refused
}

func (n *NodeDown) Error() string { return n.refused.Reason }

// Unwrap is the refusal.
func (n *NodeDown) Unwrap() error { return n.refused }

// PurgeInstance queues, for actor, the removal of instance id whatever state it is in (the way
// out for one that cannot be deleted the normal way, delete_failed say): a deprovision
// operation, run by the workers of any broker, that removes the login of every binding the
// state database records for it, then its database or vhost, and on success its row and its
// bindings' rows, after which the platform's DELETE answers 410. It is recorded as a repair
// "instances purge" of the instance, refused when another operation of the instance or of one
// of its bindings is queued or running, and when its node does not answer (NodeDown): then
// ForgetInstance is the way out. NotFound, not recorded, when the instance is not there.
func (o *Operator) PurgeInstance(ctx context.Context, actor Actor, id string) (store.Repair, store.Operation, error) {
	inst, err := o.Store.GetInstance(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Repair{}, store.Operation{}, &NotFound{What: "instance " + id}
	}
	if err != nil {
		return store.Repair{}, store.Operation{}, err
	}
	return o.repair(ctx, actor, "instances purge", id, func() (store.Operation, error) {
		if inst.Node != "" {
			if err := o.pingOf(ctx, inst); err != nil {
				return store.Operation{}, err
			}
		}
		op := store.NewOperation(store.OpDeprovision, id, "", maxAttempts, nil, inst.Context)
		if err := o.Store.StartInstanceOperation(ctx, id, store.InstanceDeprovisioning, op); err != nil {
			return store.Operation{}, err
		}
		return op, nil
	})
}

// pingOf is nil when the node of inst answers, else its NodeDown.
func (o *Operator) pingOf(ctx context.Context, inst store.Instance) error {
	down := func(why string) error {
		return &NodeDown{Node: inst.Node, refused: &Refused{Reason: fmt.Sprintf(
			"%s, so the instance's objects cannot be removed; purge it with forget to remove it from the state database alone",
			why)}}
	}
	adapter, ok := o.Backends[inst.Backend]
	if !ok {
		return down("the broker has no adapter for backend " + inst.Backend)
	}
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := adapter.Ping(pingCtx, inst.Node); err != nil {
		return down(sentenceWithin(err, pingTimeout))
	}
	return nil
}

// Forgotten is what ForgetInstance removed from the state database, and the objects that may
// be left of it on its node (its database or vhost, its owner role, its bindings' logins),
// which `orphans` lists from then on.
type Forgotten struct {
	Instance  string   `json:"instance_id"`
	Bindings  []string `json:"binding_ids"`
	MayBeLeft []Orphan `json:"may_be_left"`
}

// ForgetInstance removes instance id and its bindings from the state database alone, whatever
// state it is in, as `cf purge-service-instance` does on the platform's side: no backend is
// called, so what was made on the node may be left there (Forgotten.MayBeLeft, named as the
// adapter names them). The platform's DELETE answers 410 afterwards. It is recorded as a repair
// "instances forget" of the instance, refused while an operation of the instance or of one of
// its bindings is queued or running. NotFound, not recorded, when the instance is not there.
func (o *Operator) ForgetInstance(ctx context.Context, actor Actor, id string) (store.Repair, Forgotten, error) {
	if _, err := o.Store.GetInstance(ctx, id); errors.Is(err, store.ErrNotFound) {
		return store.Repair{}, Forgotten{}, &NotFound{What: "instance " + id}
	} else if err != nil {
		return store.Repair{}, Forgotten{}, err
	}
	forgotten := Forgotten{Instance: id, Bindings: []string{}, MayBeLeft: []Orphan{}}
	rec, _, err := o.repair(ctx, actor, "instances forget", id, func() (store.Operation, error) {
		inst, names, err := o.Store.ForgetInstance(ctx, id)
		if err != nil {
			return store.Operation{}, err
		}
		req := backends.OwnedRequest{Instance: backends.Instance{ID: id, Node: inst.Node}}
		for _, n := range names {
			forgotten.Bindings = append(forgotten.Bindings, n.ID)
			req.Bindings = append(req.Bindings, backends.Binding{ID: n.ID, LegacyName: n.LegacyName})
		}
		adapter, ok := o.Backends[inst.Backend]
		if inst.Node == "" || !ok {
			return store.Operation{}, nil // never placed, or no adapter to name its objects
		}
		owned := adapter.Owned(req)
		left := func(objects []backends.Object) {
			for _, obj := range objects {
				forgotten.MayBeLeft = append(forgotten.MayBeLeft, Orphan{Backend: inst.Backend, Node: inst.Node, Object: obj})
			}
		}
		// Logins first, in the order in which `orphans --purge` may remove them.
		for _, b := range req.Bindings {
			left(owned.Bindings[b.ID])
		}
		left(owned.Instance)
		left(owned.Kept)
		return store.Operation{}, nil
	})
	return rec, forgotten, err
}
