package broker

import (
	"context"
	"errors"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/store"
)

// Deprovision serves DELETE /v2/service_instances/:instance_id. The instance row goes when
// the backend has removed everything; the operation row stays, so it can still be polled.
// An instance whose plan has left the catalog can still be deleted.
func (b *Broker) Deprovision(ctx context.Context, instanceID string, details domain.DeprovisionDetails, asyncAllowed bool) (domain.DeprovisionServiceSpec, error) {
	logger := b.session(ctx, "deprovision", lager.Data{"instance-id": instanceID, "plan-id": details.PlanID})

	inst, err := b.store.GetInstance(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return domain.DeprovisionServiceSpec{}, gone("service instance %s does not exist", instanceID)
	}
	if err != nil {
		logger.Error("store-get-instance-failed", err)
		return domain.DeprovisionServiceSpec{}, internalError(instanceID)
	}
	if details.ServiceID != inst.ServiceID || details.PlanID != inst.PlanID {
		return domain.DeprovisionServiceSpec{}, b.notTheInstances(instanceID, details.ServiceID, details.PlanID)
	}
	plan, _, _ := b.catalog.Plan(inst.PlanID)
	if plan.AsyncOnly && !asyncAllowed {
		return domain.DeprovisionServiceSpec{}, errAsyncRequired
	}

	op := b.newOperation(ctx, store.OpDeprovision, instanceID, "", inst.Context, nil)
	op, err = b.startOrFollow(ctx, logger, op, func() error {
		return b.queue(op, func(op store.Operation) (known, error) {
			return known{}, b.store.StartInstanceOperation(ctx, instanceID, store.InstanceDeprovisioning, op)
		})
	})
	if err != nil {
		return domain.DeprovisionServiceSpec{}, err
	}
	done, err := b.settle(ctx, logger, op.ID, b.budget(plan, false, asyncAllowed), asyncAllowed)
	if err != nil {
		return domain.DeprovisionServiceSpec{}, err
	}
	return domain.DeprovisionServiceSpec{IsAsync: !done, OperationData: asyncID(done, op.ID)}, nil
}

// startOrFollow starts op, a deprovision or an unbind; when an operation of the same kind on
// the same instance or binding is already queued or running (a repeated DELETE), it returns
// that one, so the platform follows it instead of being told 422. That operation may have
// succeeded between the refused start and the look-up: it is followed all the same.
func (b *Broker) startOrFollow(ctx context.Context, logger lager.Logger, op store.Operation, start func() error) (store.Operation, error) {
	err := start()
	if err == nil {
		logger.Info("queued", lager.Data{"operation-id": op.ID})
		return op, nil
	}
	if errors.Is(err, store.ErrBusy) {
		latest, lerr := b.store.LatestOperation(ctx, op.InstanceID, op.BindingID)
		if lerr == nil && latest.Kind == op.Kind && latest.BindingID == op.BindingID &&
			(latest.State == store.OpQueued || latest.State == store.OpRunning || latest.State == store.OpSucceeded) {
			return latest, nil
		}
	}
	return store.Operation{}, b.startError(logger, err, op.ID)
}
