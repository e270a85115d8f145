package broker

import (
	"context"
	"encoding/json"
	"errors"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"
	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"

	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// Update serves PATCH /v2/service_instances/:instance_id. The instance keeps its plan and
// parameters until the backend has applied the new ones.
func (b *Broker) Update(ctx context.Context, instanceID string, details domain.UpdateDetails, asyncAllowed bool) (domain.UpdateServiceSpec, error) {
	logger := b.session(ctx, "update", lager.Data{"instance-id": instanceID, "plan-id": details.PlanID})

	inst, err := b.store.GetInstance(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return domain.UpdateServiceSpec{}, notFound("service instance %s does not exist", instanceID)
	}
	if err != nil {
		logger.Error("store-get-instance-failed", err)
		return domain.UpdateServiceSpec{}, internalError(instanceID)
	}
	if details.ServiceID != inst.ServiceID {
		return domain.UpdateServiceSpec{}, badRequest("service_id %q is not the service of instance %s", details.ServiceID, instanceID)
	}
	planID := details.PlanID
	if planID == "" {
		planID = inst.PlanID
	}
	plan, _, err := b.planOf(details.ServiceID, planID)
	if err != nil {
		return domain.UpdateServiceSpec{}, err
	}
	if planID != inst.PlanID {
		current, svc, ok := b.catalog.Plan(inst.PlanID)
		if !ok || !current.IsUpdateable(svc) {
			return domain.UpdateServiceSpec{}, apiresponses.NewFailureResponseBuilder(
				errors.New("the plan of this service instance cannot be changed"), 400, "plan-change-not-supported",
			).WithErrorKey("PlanChangeNotSupported").Build()
		}
	}
	if plan.AsyncOnly && !asyncAllowed {
		return domain.UpdateServiceSpec{}, errAsyncRequired
	}
	if err := b.catalog.ValidateParameters(plan.ID, catalog.InstanceUpdate, details.RawParameters); err != nil {
		return domain.UpdateServiceSpec{}, badRequest("%s", err)
	}
	if inst.State != store.InstanceReady {
		if inst.State == store.InstanceFailed {
			return domain.UpdateServiceSpec{}, unprocessable("InstanceNotReady", "service instance %s is not usable after a failed operation; delete it or provision it again", instanceID)
		}
		return domain.UpdateServiceSpec{}, errConcurrency
	}

	// Parameters the request leaves out keep their values, as a PATCH does.
	params := decodeObject(inst.Parameters)
	for k, v := range decodeObject(details.RawParameters) {
		params[k] = v
	}
	merged, err := json.Marshal(params)
	if err != nil {
		logger.Error("marshal-parameters-failed", err)
		return domain.UpdateServiceSpec{}, internalError(instanceID)
	}
	request, err := json.Marshal(store.UpdateRequest{PlanID: planID, PreviousPlanID: inst.PlanID, Parameters: merged})
	if err != nil {
		logger.Error("marshal-request-failed", err)
		return domain.UpdateServiceSpec{}, internalError(instanceID)
	}
	op := b.newOperation(ctx, store.OpUpdate, instanceID, "", details.RawContext, request)
	if err := b.store.StartInstanceOperation(ctx, instanceID, store.InstanceUpdating, op); err != nil {
		return domain.UpdateServiceSpec{}, b.startError(logger, err, op.ID)
	}
	logger.Info("queued", lager.Data{"operation-id": op.ID})

	done, err := b.settle(ctx, logger, op.ID, b.budget(plan, asyncAllowed), asyncAllowed)
	if err != nil {
		return domain.UpdateServiceSpec{}, err
	}
	return domain.UpdateServiceSpec{IsAsync: !done, OperationData: asyncID(done, op.ID)}, nil
}
