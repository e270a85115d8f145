package broker

import (
	"context"
	"encoding/json"
	"errors"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/store"
)

// rotation is what a bind body says beyond domain.BindDetails: the binding it replaces (OSB 2.17).
type rotation struct {
	PredecessorBindingID string `json:"predecessor_binding_id"`
}

// inherit fills details from the binding predecessorID of instanceID, which a bind with
// predecessor_binding_id replaces with a new binding and fresh credentials: service, plan, app,
// bind_resource, parameters and context come from the predecessor where the body leaves them
// out, as OSB 2.17 lets a body hold only predecessor_binding_id. A predecessor that is not a
// bound, unexpired binding of the instance, of a plan whose bindings rotate, answers 400, and
// so does a body whose service or plan is not the predecessor's. The new binding's lifetime,
// when its plan gives one, starts afresh with its own bind.
func (b *Broker) inherit(ctx context.Context, instanceID, predecessorID string, details domain.BindDetails) (domain.BindDetails, error) {
	pred, err := b.store.GetBinding(ctx, instanceID, predecessorID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return details, badRequest("predecessor_binding_id %s is not a binding of service instance %s", predecessorID, instanceID)
	case err != nil:
		b.session(ctx, "bind", lager.Data{"instance-id": instanceID, "predecessor-binding-id": predecessorID}).Error("store-get-binding-failed", err)
		return details, internalError(predecessorID)
	case pred.Expired || pred.State == store.BindingExpired:
		return details, badRequest("predecessor binding %s expired at %s, so it cannot be rotated; bind anew instead", predecessorID, osbTime(pred.ExpiresAt))
	case pred.State != store.BindingBound:
		return details, badRequest("predecessor binding %s is not bound, so it cannot be rotated", predecessorID)
	}
	if plan, _, ok := b.catalog.Plan(pred.PlanID); !ok || !plan.BindingRotatable {
		return details, badRequest("the bindings of plan %s do not rotate (binding_rotatable is not set on it)", pred.PlanID)
	}
	if (details.ServiceID != "" && details.ServiceID != pred.ServiceID) || (details.PlanID != "" && details.PlanID != pred.PlanID) {
		return details, badRequest("service_id and plan_id must be those of predecessor binding %s", predecessorID)
	}
	details.ServiceID, details.PlanID = pred.ServiceID, pred.PlanID
	if details.AppGUID == "" && details.BindResource == nil {
		details.AppGUID = pred.AppGUID
		if string(object(pred.BindResource)) != "{}" {
			var res domain.BindResource
			if json.Unmarshal(pred.BindResource, &res) == nil {
				details.BindResource = &res
			}
		}
	}
	if len(details.RawParameters) == 0 {
		details.RawParameters = pred.Parameters
	}
	if len(details.RawContext) == 0 {
		details.RawContext = pred.Context
	}
	return details, nil
}
