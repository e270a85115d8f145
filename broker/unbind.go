package broker

import (
	"context"
	"errors"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/store"
)

// Unbind serves DELETE /v2/service_instances/:instance_id/service_bindings/:binding_id. The
// binding row goes when the backend has revoked the credentials; its operation row stays.
// plan_id may be the instance's current plan: platforms send that after a plan update. An
// expired binding's login is already gone, so its row goes at once, with a 200.
func (b *Broker) Unbind(ctx context.Context, instanceID, bindingID string, details domain.UnbindDetails, asyncAllowed bool) (domain.UnbindSpec, error) {
	logger := b.session(ctx, "unbind", lager.Data{"instance-id": instanceID, "binding-id": bindingID})

	binding, inst, err := b.store.GetBindingWithInstance(ctx, instanceID, bindingID)
	if errors.Is(err, store.ErrNotFound) {
		return domain.UnbindSpec{}, gone("binding %s does not exist", bindingID)
	}
	if err != nil {
		logger.Error("store-get-binding-failed", err)
		return domain.UnbindSpec{}, internalError(bindingID)
	}
	if details.ServiceID != inst.ServiceID || (details.PlanID != inst.PlanID && details.PlanID != binding.PlanID) {
		return domain.UnbindSpec{}, b.notTheInstances(instanceID, details.ServiceID, details.PlanID)
	}
	if binding.State == store.BindingExpired {
		return b.unbindExpired(ctx, logger, instanceID, bindingID)
	}
	plan, _, _ := b.catalog.Plan(inst.PlanID)
	if plan.BindingsAsyncOnly && !asyncAllowed {
		return domain.UnbindSpec{}, errAsyncRequired
	}

	op := b.newOperation(ctx, store.OpUnbind, instanceID, bindingID, binding.Context, nil)
	op, err = b.startOrFollow(ctx, logger, op, func() error {
		// What the worker needs of the binding (its id, password, parameters and login name)
		// never changes once it is created, so the row read above is as it stands.
		return b.queue(op, func(op store.Operation) (known, error) {
			return known{binding: &binding}, b.store.StartBindingOperation(ctx, instanceID, bindingID, store.BindingDeleting, op)
		})
	})
	if err != nil {
		return domain.UnbindSpec{}, err
	}
	done, err := b.settle(ctx, logger, op.ID, b.budget(plan, true, asyncAllowed), asyncAllowed)
	if err != nil {
		return domain.UnbindSpec{}, err
	}
	return domain.UnbindSpec{IsAsync: !done, OperationData: asyncID(done, op.ID)}, nil
}

// unbindExpired deletes the row of an expired binding, whose expire operation removed its
// login: there is nothing left to do on a backend, so nothing to queue or wait for. A binding
// that is no longer there answers 410, as any unbind of a binding that does not exist.
func (b *Broker) unbindExpired(ctx context.Context, logger lager.Logger, instanceID, bindingID string) (domain.UnbindSpec, error) {
	err := b.store.DeleteExpiredBinding(ctx, instanceID, bindingID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return domain.UnbindSpec{}, gone("binding %s does not exist", bindingID)
	case err != nil:
		logger.Error("store-delete-expired-binding-failed", err)
		return domain.UnbindSpec{}, internalError(bindingID)
	}
	logger.Info("expired-binding-deleted")
	return domain.UnbindSpec{}, nil
}
