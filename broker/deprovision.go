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
		return domain.DeprovisionServiceSpec{}, badRequest("service_id and plan_id must be those of service instance %s", instanceID)
	}
	plan, _, err := b.planOf(inst.ServiceID, inst.PlanID)
	if err != nil {
		return domain.DeprovisionServiceSpec{}, err
	}
	if plan.AsyncOnly && !asyncAllowed {
		return domain.DeprovisionServiceSpec{}, errAsyncRequired
	}

	op := b.newOperation(ctx, store.OpDeprovision, instanceID, "", inst.Context, nil)
	if inst.State == store.InstanceDeprovisioning {
		// A repeated DELETE follows the deprovision already under way.
		latest, err := b.store.LatestOperation(ctx, instanceID, "")
		if err != nil || latest.Kind != store.OpDeprovision {
			return domain.DeprovisionServiceSpec{}, errConcurrency
		}
		op = latest
	} else if err := b.store.StartInstanceOperation(ctx, instanceID, store.InstanceDeprovisioning, op); err != nil {
		return domain.DeprovisionServiceSpec{}, b.startError(logger, err, op.ID)
	} else {
		logger.Info("queued", lager.Data{"operation-id": op.ID})
	}

	done, err := b.settle(ctx, logger, op.ID, b.budget(plan, asyncAllowed), asyncAllowed)
	if err != nil {
		return domain.DeprovisionServiceSpec{}, err
	}
	return domain.DeprovisionServiceSpec{IsAsync: !done, OperationData: asyncID(done, op.ID)}, nil
}
