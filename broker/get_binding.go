package broker

import (
	"context"
	"errors"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/store"
)

// GetBinding serves GET /v2/service_instances/:instance_id/service_bindings/:binding_id:
// the stored credentials and parameters; 404 until the bind has succeeded.
func (b *Broker) GetBinding(ctx context.Context, instanceID, bindingID string, details domain.FetchBindingDetails) (domain.GetBindingSpec, error) {
	logger := b.session(ctx, "get-binding", lager.Data{"instance-id": instanceID, "binding-id": bindingID})

	binding, err := b.store.GetBinding(ctx, instanceID, bindingID)
	if errors.Is(err, store.ErrNotFound) {
		return domain.GetBindingSpec{}, notFound("binding %s does not exist", bindingID)
	}
	if err != nil {
		logger.Error("store-get-binding-failed", err)
		return domain.GetBindingSpec{}, internalError(bindingID)
	}
	if binding.State != store.BindingBound && binding.State != store.BindingDeleting {
		return domain.GetBindingSpec{}, notFound("binding %s is not ready", bindingID)
	}
	return domain.GetBindingSpec{
		Credentials: mountable(binding.Credentials),
		Parameters:  decodeObject(binding.Parameters),
	}, nil
}
