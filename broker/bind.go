package broker

import (
	"context"
	"encoding/json"
	"errors"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// Bind serves PUT /v2/service_instances/:instance_id/service_bindings/:binding_id. The
// password is generated and sealed into the binding row before any backend call, so a
// retried bind sets the same one.
func (b *Broker) Bind(ctx context.Context, instanceID, bindingID string, details domain.BindDetails, asyncAllowed bool) (domain.Binding, error) {
	logger := b.session(ctx, "bind", lager.Data{"instance-id": instanceID, "binding-id": bindingID, "plan-id": details.PlanID})

	want := requestedBinding(instanceID, bindingID, details)
	if err := b.bindConflict(ctx, want); err != nil {
		return domain.Binding{}, err
	}
	plan, svc, err := b.planOf(details.ServiceID, details.PlanID)
	if err != nil {
		return domain.Binding{}, err
	}
	if !plan.IsBindable(svc) {
		return domain.Binding{}, badRequest("plan %q is not bindable", plan.Name)
	}
	if plan.BindingsAsyncOnly && !asyncAllowed {
		return domain.Binding{}, errAsyncRequired
	}
	if err := b.catalog.ValidateParameters(plan.ID, catalog.BindingCreate, details.RawParameters); err != nil {
		return domain.Binding{}, badRequest("%s", err)
	}
	inst, err := b.store.GetInstance(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return domain.Binding{}, notFound("service instance %s does not exist", instanceID)
	}
	if err != nil {
		logger.Error("store-get-instance-failed", err)
		return domain.Binding{}, internalError(bindingID)
	}
	if inst.ServiceID != details.ServiceID || inst.PlanID != details.PlanID {
		return domain.Binding{}, b.notTheInstances(instanceID, details.ServiceID, details.PlanID)
	}

	want.Password, err = backends.NewPassword()
	if err != nil {
		logger.Error("generate-password-failed", err)
		return domain.Binding{}, internalError(bindingID)
	}
	switch inst.State {
	case store.InstanceReady:
	case store.InstanceFailed:
		return domain.Binding{}, unprocessable("InstanceNotReady", "service instance %s is not usable after a failed operation", instanceID)
	case store.InstanceDeleteFailed:
		return domain.Binding{}, errDeleteFailed(instanceID)
	default:
		if existing, err := b.store.GetBinding(ctx, instanceID, bindingID); err == nil {
			return b.bindAgain(ctx, logger, existing, want, inst.PlanID, plan, asyncAllowed)
		}
		return domain.Binding{}, errConcurrency
	}

	op := b.newOperation(ctx, store.OpBind, instanceID, bindingID, details.RawContext, nil)
	err = b.store.CreateBinding(ctx, want, op)
	switch {
	case errors.Is(err, store.ErrConflict):
		existing, err := b.store.GetBinding(ctx, instanceID, bindingID)
		if err != nil {
			// The id belongs to a binding of another instance, or vanished meanwhile.
			return domain.Binding{}, conflict("binding %s already exists", bindingID)
		}
		return b.bindAgain(ctx, logger, existing, want, inst.PlanID, plan, asyncAllowed)
	case err != nil:
		return domain.Binding{}, b.startError(logger, err, op.ID)
	}
	logger.Info("queued", lager.Data{"operation-id": op.ID})
	return b.bindOutcome(ctx, logger, instanceID, bindingID, op.ID, plan, asyncAllowed, false)
}

// bindAgain answers a PUT for a binding id that exists: the same attributes get the same
// answer (or a fresh attempt when the earlier one failed), other attributes get 409.
func (b *Broker) bindAgain(ctx context.Context, logger lager.Logger, have, want store.Binding, instancePlan string, plan catalog.Plan, asyncAllowed bool) (domain.Binding, error) {
	if !sameBinding(have, want, instancePlan) {
		return domain.Binding{}, errBindingConflict(want.ID)
	}
	switch have.State {
	case store.BindingBound:
		return domain.Binding{AlreadyExists: true, Credentials: mountable(have.Credentials)}, nil
	case store.BindingCreating:
		op, err := b.store.LatestOperation(ctx, want.InstanceID, want.ID)
		if err != nil {
			logger.Error("store-latest-operation-failed", err)
			return domain.Binding{}, internalError(want.ID)
		}
		return b.bindOutcome(ctx, logger, want.InstanceID, want.ID, op.ID, plan, asyncAllowed, true)
	case store.BindingFailed:
		op := b.newOperation(ctx, store.OpBind, want.InstanceID, want.ID, want.Context, nil)
		if err := b.store.StartBindingOperation(ctx, want.InstanceID, want.ID, store.BindingCreating, op); err != nil {
			return domain.Binding{}, b.startError(logger, err, op.ID)
		}
		logger.Info("queued-again", lager.Data{"operation-id": op.ID})
		return b.bindOutcome(ctx, logger, want.InstanceID, want.ID, op.ID, plan, asyncAllowed, false)
	default:
		return domain.Binding{}, errConcurrency
	}
}

func (b *Broker) bindOutcome(ctx context.Context, logger lager.Logger, instanceID, bindingID, opID string, plan catalog.Plan, asyncAllowed, again bool) (domain.Binding, error) {
	done, err := b.settle(ctx, logger, opID, b.budget(plan, true, asyncAllowed), asyncAllowed)
	if err != nil {
		return domain.Binding{}, err
	}
	if !done {
		return domain.Binding{IsAsync: true, OperationData: opID}, nil
	}
	bound, err := b.store.GetBinding(ctx, instanceID, bindingID)
	if err != nil {
		logger.Error("store-get-binding-failed", err)
		return domain.Binding{}, internalError(opID)
	}
	return domain.Binding{AlreadyExists: again, Credentials: mountable(bound.Credentials)}, nil
}

func appGUID(d domain.BindDetails) string {
	if d.BindResource != nil && d.BindResource.AppGuid != "" {
		return d.BindResource.AppGuid
	}
	return d.AppGUID
}

func bindResource(d domain.BindDetails) json.RawMessage {
	if d.BindResource == nil {
		return json.RawMessage("{}")
	}
	raw, err := json.Marshal(d.BindResource)
	if err != nil {
		return json.RawMessage("{}")
	}
	return raw
}

// requestedBinding is the binding row a bind asks for, without its password.
func requestedBinding(instanceID, bindingID string, d domain.BindDetails) store.Binding {
	return store.Binding{
		ID:           bindingID,
		InstanceID:   instanceID,
		ServiceID:    d.ServiceID,
		PlanID:       d.PlanID,
		AppGUID:      appGUID(d),
		BindResource: bindResource(d),
		Parameters:   object(d.RawParameters),
		Context:      object(d.RawContext),
		State:        store.BindingCreating,
	}
}

// sameBinding tells whether a bind that asks for want asks for the binding have is: the same
// instance, service, plan, app, bind_resource and parameters. The plan may also be the
// instance's current one (instancePlan), which platforms send after a plan update.
func sameBinding(have, want store.Binding, instancePlan string) bool {
	return have.InstanceID == want.InstanceID && have.ServiceID == want.ServiceID &&
		(have.PlanID == want.PlanID || want.PlanID == instancePlan) && have.AppGUID == want.AppGUID &&
		sameJSON(have.BindResource, want.BindResource) && sameJSON(have.Parameters, want.Parameters)
}

func errBindingConflict(bindingID string) error {
	return conflict("binding %s already exists with other attributes", bindingID)
}

// bindConflict is the 409 for a bind of a binding id that exists with other attributes (on
// another instance, of another plan, for another app, …), or nil. Bind asks it before any
// other check, so a platform that re-uses an id hears that it is taken, whatever else the
// request gets wrong. A store failure is left to the rest of Bind, which meets it again.
func (b *Broker) bindConflict(ctx context.Context, want store.Binding) error {
	have, err := b.store.LookupBinding(ctx, want.ID)
	if err != nil {
		return nil
	}
	instancePlan := ""
	if inst, err := b.store.GetInstance(ctx, want.InstanceID); err == nil {
		instancePlan = inst.PlanID
	}
	if !sameBinding(have, want, instancePlan) {
		return errBindingConflict(want.ID)
	}
	return nil
}
