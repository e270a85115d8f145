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
	res, err := b.bind(ctx, instanceID, bindingID, details, asyncAllowed)
	return res.Binding, err
}

// bindResult is a bind's answer with what domain.Binding cannot carry: the binding's
// metadata, once it is bound.
type bindResult struct {
	domain.Binding
	metadata *bindingMetadata
}

// answered is the result for the binding row of a finished bind: its credentials unless it
// expired, and its metadata.
func answered(row store.Binding, again bool) bindResult {
	res := bindResult{Binding: domain.Binding{AlreadyExists: again}, metadata: bindingMetadataOf(row)}
	if creds := liveCredentials(row); creds != nil {
		res.Credentials = creds
	}
	return res
}

// bind answers a bind; when it refuses, a binding id that exists with other attributes gets the
// 409 instead (bindConflict).
func (b *Broker) bind(ctx context.Context, instanceID, bindingID string, details domain.BindDetails, asyncAllowed bool) (bindResult, error) {
	want := requestedBinding(instanceID, bindingID, details)
	res, err := b.bindWanted(ctx, want, details, asyncAllowed)
	if err != nil {
		if conflict := b.bindConflict(ctx, want); conflict != nil {
			return bindResult{}, conflict
		}
	}
	return res, err
}

func (b *Broker) bindWanted(ctx context.Context, want store.Binding, details domain.BindDetails, asyncAllowed bool) (bindResult, error) {
	instanceID, bindingID := want.InstanceID, want.ID
	logger := b.session(ctx, "bind", lager.Data{"instance-id": instanceID, "binding-id": bindingID, "plan-id": details.PlanID})

	plan, svc, err := b.planOf(details.ServiceID, details.PlanID)
	if err != nil {
		return bindResult{}, err
	}
	if !plan.IsBindable(svc) {
		return bindResult{}, badRequest("plan %q is not bindable", plan.Name)
	}
	if plan.BindingsAsyncOnly && !asyncAllowed {
		return bindResult{}, errAsyncRequired
	}
	if err := b.catalog.ValidateParameters(plan.ID, catalog.BindingCreate, details.RawParameters); err != nil {
		return bindResult{}, badRequest("%s", err)
	}
	inst, err := b.store.GetInstance(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return bindResult{}, notFound("service instance %s does not exist", instanceID)
	}
	if err != nil {
		logger.Error("store-get-instance-failed", err)
		return bindResult{}, internalError(bindingID)
	}
	if inst.ServiceID != details.ServiceID || inst.PlanID != details.PlanID {
		return bindResult{}, b.notTheInstances(instanceID, details.ServiceID, details.PlanID)
	}

	want.Password, err = backends.NewPassword()
	if err != nil {
		logger.Error("generate-password-failed", err)
		return bindResult{}, internalError(bindingID)
	}
	switch inst.State {
	case store.InstanceReady:
	case store.InstanceFailed:
		return bindResult{}, unprocessable("InstanceNotReady", "service instance %s is not usable after a failed operation", instanceID)
	case store.InstanceDeleteFailed:
		return bindResult{}, errDeleteFailed(instanceID)
	default:
		if existing, err := b.store.GetBinding(ctx, instanceID, bindingID); err == nil {
			return b.bindAgain(ctx, logger, existing, want, inst.PlanID, plan, asyncAllowed)
		}
		return bindResult{}, errConcurrency
	}

	op := b.newOperation(ctx, store.OpBind, instanceID, bindingID, details.RawContext, bindRequest(plan))
	err = b.queue(op, func(op store.Operation) (known, error) {
		return known{binding: &want}, b.store.CreateBinding(ctx, want, op)
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		existing, err := b.store.GetBinding(ctx, instanceID, bindingID)
		if err != nil {
			// The id belongs to a binding of another instance, or vanished meanwhile.
			return bindResult{}, conflict("binding %s already exists", bindingID)
		}
		return b.bindAgain(ctx, logger, existing, want, inst.PlanID, plan, asyncAllowed)
	case err != nil:
		return bindResult{}, b.startError(logger, err, op.ID)
	}
	logger.Info("queued", lager.Data{"operation-id": op.ID})
	return b.bindOutcome(ctx, logger, instanceID, bindingID, op.ID, plan, asyncAllowed, false)
}

// bindAgain answers a PUT for a binding id that exists: the same attributes get the same
// answer (or a fresh attempt when the earlier one failed), other attributes get 409.
func (b *Broker) bindAgain(ctx context.Context, logger lager.Logger, have, want store.Binding, instancePlan string, plan catalog.Plan, asyncAllowed bool) (bindResult, error) {
	if !sameBinding(have, want, instancePlan) {
		return bindResult{}, errBindingConflict(want.ID)
	}
	switch have.State {
	case store.BindingBound, store.BindingExpired:
		return answered(have, true), nil
	case store.BindingCreating:
		op, err := b.store.LatestOperation(ctx, want.InstanceID, want.ID)
		if err != nil {
			logger.Error("store-latest-operation-failed", err)
			return bindResult{}, internalError(want.ID)
		}
		return b.bindOutcome(ctx, logger, want.InstanceID, want.ID, op.ID, plan, asyncAllowed, true)
	case store.BindingFailed:
		op := b.newOperation(ctx, store.OpBind, want.InstanceID, want.ID, want.Context, bindRequest(plan))
		err := b.queue(op, func(op store.Operation) (known, error) {
			return known{}, b.store.StartBindingOperation(ctx, want.InstanceID, want.ID, store.BindingCreating, op)
		})
		if err != nil {
			return bindResult{}, b.startError(logger, err, op.ID)
		}
		logger.Info("queued-again", lager.Data{"operation-id": op.ID})
		return b.bindOutcome(ctx, logger, want.InstanceID, want.ID, op.ID, plan, asyncAllowed, false)
	default:
		return bindResult{}, errConcurrency
	}
}

func (b *Broker) bindOutcome(ctx context.Context, logger lager.Logger, instanceID, bindingID, opID string, plan catalog.Plan, asyncAllowed, again bool) (bindResult, error) {
	done, credentials, err := b.settleOutcome(ctx, logger, opID, b.budget(plan, true, asyncAllowed), asyncAllowed)
	if err != nil {
		return bindResult{}, err
	}
	if !done {
		return bindResult{Binding: domain.Binding{IsAsync: true, OperationData: opID}}, nil
	}
	if credentials != nil && plan.BindingLifetime <= 0 {
		// Finished here: what it sealed onto the binding, which has no lifetime to tell.
		return answered(store.Binding{State: store.BindingBound, Credentials: credentials}, again), nil
	}
	bound, err := b.store.GetBinding(ctx, instanceID, bindingID)
	if err != nil {
		logger.Error("store-get-binding-failed", err)
		return bindResult{}, internalError(opID)
	}
	return answered(bound, again), nil
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
// another instance, of another plan, for another app, …), or nil. Bind asks it when it would
// refuse the request otherwise, so a platform that re-uses an id hears that it is taken,
// whatever else the request gets wrong; a bind that passes every check meets the id at its
// insert (bindAgain). A store failure is left to the refusal.
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
