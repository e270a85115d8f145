package broker

import (
	"context"
	"errors"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"
	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"

	"github.com/omnibroker/omnibroker/store"
)

// GetInstance serves GET /v2/service_instances/:instance_id: what was stored, parameters
// included; 404 until provisioning has succeeded, 422 while an update runs.
func (b *Broker) GetInstance(ctx context.Context, instanceID string, details domain.FetchInstanceDetails) (domain.GetInstanceDetailsSpec, error) {
	logger := b.session(ctx, "get-instance", lager.Data{"instance-id": instanceID})

	inst, err := b.store.GetInstance(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return domain.GetInstanceDetailsSpec{}, notFound("service instance %s does not exist", instanceID)
	}
	if err != nil {
		logger.Error("store-get-instance-failed", err)
		return domain.GetInstanceDetailsSpec{}, internalError(instanceID)
	}
	switch inst.State {
	case store.InstanceProvisioning:
		return domain.GetInstanceDetailsSpec{}, notFound("service instance %s is still being provisioned", instanceID)
	case store.InstanceFailed:
		return domain.GetInstanceDetailsSpec{}, notFound("service instance %s is not usable after a failed operation", instanceID)
	case store.InstanceDeleteFailed:
		return domain.GetInstanceDetailsSpec{}, notFound("deleting service instance %s failed; send DELETE again", instanceID)
	case store.InstanceUpdating:
		return domain.GetInstanceDetailsSpec{}, apiresponses.ErrConcurrentInstanceAccess
	}
	return domain.GetInstanceDetailsSpec{
		ServiceID:  inst.ServiceID,
		PlanID:     inst.PlanID,
		Parameters: decodeObject(inst.Parameters),
	}, nil
}
