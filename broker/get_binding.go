package broker

import (
	"context"
	"errors"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/store"
)

// GetBinding serves GET /v2/service_instances/:instance_id/service_bindings/:binding_id:
// the stored credentials and parameters; 404 until the bind has succeeded. An expired
// binding is still there, without credentials: they no longer log in.
func (b *Broker) GetBinding(ctx context.Context, instanceID, bindingID string, details domain.FetchBindingDetails) (domain.GetBindingSpec, error) {
	spec, _, err := b.getBinding(ctx, instanceID, bindingID)
	return spec, err
}

// getBinding is GetBinding with the binding's metadata, which domain.GetBindingSpec cannot carry.
func (b *Broker) getBinding(ctx context.Context, instanceID, bindingID string) (domain.GetBindingSpec, *bindingMetadata, error) {
	logger := b.session(ctx, "get-binding", lager.Data{"instance-id": instanceID, "binding-id": bindingID})

	binding, err := b.store.GetBinding(ctx, instanceID, bindingID)
	if errors.Is(err, store.ErrNotFound) {
		return domain.GetBindingSpec{}, nil, notFound("binding %s does not exist", bindingID)
	}
	if err != nil {
		logger.Error("store-get-binding-failed", err)
		return domain.GetBindingSpec{}, nil, internalError(bindingID)
	}
	switch binding.State {
	case store.BindingBound, store.BindingDeleting, store.BindingExpired:
	default:
		return domain.GetBindingSpec{}, nil, notFound("binding %s is not ready", bindingID)
	}
	spec := domain.GetBindingSpec{Parameters: decodeObject(binding.Parameters)}
	if creds := liveCredentials(binding); creds != nil {
		spec.Credentials = creds
	}
	return spec, bindingMetadataOf(binding), nil
}

// liveCredentials are the binding's credentials as answers hand them out, or nil once its
// lifetime has run out, whether or not its expire operation has removed the login yet.
func liveCredentials(b store.Binding) backends.Credentials {
	if b.Expired || b.State == store.BindingExpired {
		return nil
	}
	return mountable(b.Credentials)
}
