package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// execute runs one attempt of op against its backend, whose name it puts in backendName once it
// has read the instance; it reads only the rows that are not known (rows). A panic becomes a
// failed attempt.
func (p *Pool) execute(ctx context.Context, op store.Operation, rows known, backendName *string) (credentials json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()

	if op.Kind == store.OpPurge {
		return nil, p.purge(ctx, op)
	}
	inst, err := p.instance(ctx, op.InstanceID, rows.instance)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			if op.Kind == store.OpRestore || op.Kind == store.OpExpire {
				return nil, nil // its bindings went with it, so there is nothing to restore or remove
			}
			return nil, permanentf("service instance %s no longer exists", op.InstanceID)
		}
		return nil, err
	}
	*backendName = inst.Backend
	removes := op.Kind == store.OpDeprovision || op.Kind == store.OpUnbind || op.Kind == store.OpExpire
	backend, target, plan, err := p.target(inst, !removes)
	if err != nil {
		return nil, err
	}

	switch op.Kind {
	case store.OpProvision:
		switch {
		case target.Node == "": // a retried provision keeps the node it got
			target.Node, err = p.place(ctx, inst, plan)
			if err != nil {
				return nil, err
			}
			lagerctx.FromContext(ctx).Info("placed", lager.Data{"node": target.Node})
		case rows.claimed:
			// Placed by another worker's placement, which may not be on disk yet.
			if err := p.b.store.FlushPlacement(ctx, inst.ID); err != nil {
				return nil, err
			}
		}
		_, err = backend.Provision(ctx, backends.ProvisionRequest{Instance: target})
		return nil, err

	case store.OpUpdate:
		var req store.UpdateRequest
		if err := json.Unmarshal(op.Request, &req); err != nil {
			return nil, permanentf("the update request of operation %s is unreadable", op.ID)
		}
		next, ok := p.plan(req.PlanID)
		if !ok {
			return nil, permanentf("plan %s is no longer in the catalog", req.PlanID)
		}
		if next.Backend != plan.Backend {
			return nil, permanentf("plan %s runs on another backend; moving an instance between backends is not supported", next.Name)
		}
		target.Plan, target.PlanConfig, target.Parameters = next.Name, next.Config, decodeObject(req.Parameters)
		bound, err := p.b.store.InstanceBindings(ctx, inst.ID)
		if err != nil {
			return nil, err
		}
		update := backends.UpdateRequest{Instance: target, FromPlan: plan.Name}
		for _, b := range bound {
			update.Bindings = append(update.Bindings, bindingOf(b))
		}
		_, err = backend.Update(ctx, update)
		return nil, err

	case store.OpDeprovision:
		if target.Node == "" {
			return nil, nil // never placed, so nothing was created
		}
		bindings, err := p.recordedBindings(ctx, inst.ID)
		if err != nil {
			return nil, err
		}
		return nil, backend.Deprovision(ctx, backends.DeprovisionRequest{Instance: target, Bindings: bindings})

	case store.OpBind, store.OpUnbind, store.OpRestore, store.OpExpire:
		sweeps := op.Kind == store.OpRestore || op.Kind == store.OpExpire
		binding, err := p.binding(ctx, op.InstanceID, op.BindingID, rows.binding)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				if sweeps {
					return nil, nil
				}
				return nil, permanentf("binding %s no longer exists", op.BindingID)
			}
			return nil, err
		}
		if sweeps && binding.State != store.BindingBound {
			// Only a bound binding's login is restored or expired; another state has its own operation.
			return nil, nil
		}
		cred := bindingOf(binding)
		if op.Kind == store.OpUnbind || op.Kind == store.OpExpire {
			if target.Node == "" {
				return nil, nil
			}
			return nil, backend.Unbind(ctx, backends.UnbindRequest{Instance: target, Binding: cred})
		}
		res, err := backend.Bind(ctx, backends.BindRequest{Instance: target, Binding: cred})
		if err != nil {
			return nil, err
		}
		return json.Marshal(res.Credentials)
	}
	return nil, permanentf("operation kind %q is unknown", op.Kind)
}

// instance is the row of instance id: known when the caller has it as it stands, read otherwise.
func (p *Pool) instance(ctx context.Context, id string, known *store.Instance) (store.Instance, error) {
	if known != nil {
		return *known, nil
	}
	return p.b.store.GetInstance(ctx, id)
}

// binding is the binding row: known when the caller has it as it stands, read otherwise.
func (p *Pool) binding(ctx context.Context, instanceID, bindingID string, known *store.Binding) (store.Binding, error) {
	if known != nil {
		return *known, nil
	}
	return p.b.store.GetBinding(ctx, instanceID, bindingID)
}

// target is what a backend call for inst needs: the adapter of its backend, the
// backends.Instance built from the row and its plan, and that plan. Without needPlan, only
// the backend recorded on the instance is needed, so an instance whose plan has left the
// catalog can still be unbound and deleted.
func (p *Pool) target(inst store.Instance, needPlan bool) (backends.Backend, backends.Instance, catalog.Plan, error) {
	plan, ok := p.plan(inst.PlanID)
	if !ok && needPlan {
		return nil, backends.Instance{}, catalog.Plan{}, permanentf("plan %s of the service instance is no longer in the catalog", inst.PlanID)
	}
	backend, ok := p.b.backends[inst.Backend]
	if !ok {
		return nil, backends.Instance{}, catalog.Plan{}, permanentf("backend %q of the service instance is not configured", inst.Backend)
	}
	return backend, backends.Instance{
		ID: inst.ID, Node: inst.Node, Plan: plan.Name, PlanConfig: plan.Config,
		Parameters: decodeObject(inst.Parameters),
	}, plan, nil
}

// bindingOf is what a backend needs of a binding row: the sealed password, opened.
func bindingOf(b store.Binding) backends.Binding {
	return backends.Binding{ID: b.ID, Password: b.Password, Parameters: decodeObject(b.Parameters), LegacyName: b.LegacyName}
}

func (p *Pool) plan(id string) (catalog.Plan, bool) {
	plan, _, ok := p.b.catalog.Plan(id)
	return plan, ok
}

// permanentf is a failure of the broker's own part of an operation, which retrying cannot fix.
func permanentf(format string, args ...any) error {
	return backends.Permanent(fmt.Sprintf(format, args...), nil)
}

// purge runs a purge operation: the object its request names goes from its node, whatever
// instance it once belonged to (the operator found that none owns it).
func (p *Pool) purge(ctx context.Context, op store.Operation) error {
	var req store.PurgeRequest
	if err := json.Unmarshal(op.Request, &req); err != nil {
		return permanentf("the purge request of operation %s is unreadable", op.ID)
	}
	backend, ok := p.b.backends[req.Backend]
	if !ok {
		return permanentf("backend %q of the purge is not configured", req.Backend)
	}
	return backend.RemoveObject(ctx, backends.RemoveObjectRequest{
		Node:   req.Node,
		Object: backends.Object{Kind: backends.ObjectKind(req.ObjectKind), Name: req.ObjectName},
	})
}
