package broker

import (
	"context"
	"errors"
	"net/http"

	"code.cloudfoundry.org/lager/v3"
	"github.com/go-chi/chi/v5"
	"github.com/pivotal-cf/brokerapi/v10/domain"
	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"

	"github.com/omnibroker/omnibroker/store"
)

// GetInstance serves GET /v2/service_instances/:instance_id: what was stored, parameters
// included; 404 until provisioning has succeeded, 422 while an update runs. The HTTP route is
// served by serveGetInstance, which adds what brokerapi v10's type cannot say (the
// instance's maintenance_info); this method keeps the domain.ServiceBroker contract.
func (b *Broker) GetInstance(ctx context.Context, instanceID string, details domain.FetchInstanceDetails) (domain.GetInstanceDetailsSpec, error) {
	inst, err := b.fetchInstance(ctx, instanceID)
	if err != nil {
		return domain.GetInstanceDetailsSpec{}, err
	}
	return domain.GetInstanceDetailsSpec{
		ServiceID:  inst.ServiceID,
		PlanID:     inst.PlanID,
		Parameters: decodeObject(inst.Parameters),
	}, nil
}

// fetchInstance is the instance GET instance answers with, or the error it answers.
func (b *Broker) fetchInstance(ctx context.Context, instanceID string) (store.Instance, error) {
	logger := b.session(ctx, "get-instance", lager.Data{"instance-id": instanceID})

	inst, err := b.store.GetInstance(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Instance{}, notFound("service instance %s does not exist", instanceID)
	}
	if err != nil {
		logger.Error("store-get-instance-failed", err)
		return store.Instance{}, internalError(instanceID)
	}
	switch inst.State {
	case store.InstanceProvisioning:
		return store.Instance{}, notFound("service instance %s is still being provisioned", instanceID)
	case store.InstanceFailed:
		return store.Instance{}, notFound("service instance %s is not usable after a failed operation", instanceID)
	case store.InstanceDeleteFailed:
		return store.Instance{}, notFound("deleting service instance %s failed; send DELETE again", instanceID)
	case store.InstanceUpdating:
		return store.Instance{}, apiresponses.ErrConcurrentInstanceAccess
	}
	return inst, nil
}

// getInstanceResponse is GET instance's body, with what brokerapi v10's type cannot say.
type getInstanceResponse struct {
	ServiceID       string                  `json:"service_id"`
	PlanID          string                  `json:"plan_id"`
	Parameters      any                     `json:"parameters,omitempty"`
	MaintenanceInfo *domain.MaintenanceInfo `json:"maintenance_info,omitempty"`
	Metadata        *instanceMetadata       `json:"metadata,omitempty"`
}

// instanceMetadata is an instance's OSB metadata. Its attributes are what the platform said
// of the instance in the context of its provision, the string values of it
// (Cloud Foundry's organization_name, space_name and instance_name; Kubernetes' namespace and
// clusterid; the platform), so the platform sees the instance as the broker knows it.
type instanceMetadata struct {
	Labels     map[string]string `json:"labels"`
	Attributes map[string]string `json:"attributes"`
}

// metadataOf is inst's metadata; nil when its context holds no string.
func metadataOf(inst store.Instance) *instanceMetadata {
	attributes := map[string]string{}
	for k, v := range decodeObject(inst.Context) {
		if s, ok := v.(string); ok {
			attributes[k] = s
		}
	}
	if len(attributes) == 0 {
		return nil
	}
	return &instanceMetadata{Labels: map[string]string{}, Attributes: attributes}
}

func (b *Broker) serveGetInstance(w http.ResponseWriter, r *http.Request) {
	minor := apiMinor(r)
	if minor < 14 {
		writeError(w, http.StatusPreconditionFailed, "PreconditionFailed", "get instance endpoint only supported starting with OSB version 2.14")
		return
	}
	inst, err := b.fetchInstance(r.Context(), chi.URLParam(r, "instance_id"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	writeJSON(w, http.StatusOK, forVersion(instanceObject, asFields(getInstanceResponse{
		ServiceID:       inst.ServiceID,
		PlanID:          inst.PlanID,
		Parameters:      decodeObject(inst.Parameters),
		MaintenanceInfo: maintenanceInfo(inst, minor),
		Metadata:        metadataOf(inst),
	}), minor))
}
