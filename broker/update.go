package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// Update serves PATCH /v2/service_instances/:instance_id. The instance keeps its plan,
// parameters and maintenance version until the backend has applied the new ones. Every update
// applies the plan as the catalog has it now, to the instance and its bindings' logins, and so
// is also the maintenance upgrade a PATCH with the plan's new maintenance_info asks for (a
// plan change that carries it is one operation); the instance then records that version.
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
		return domain.UpdateServiceSpec{}, badRequest("service_id %q is not the service of instance %s%s", details.ServiceID, instanceID, b.serviceNameHint(details.ServiceID))
	}
	if inst.State == store.InstanceProvisioning || inst.State == store.InstanceDeprovisioning {
		// Before the plan checks: a provision still running has no node to ask about a plan.
		return domain.UpdateServiceSpec{}, errConcurrency
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
			return domain.UpdateServiceSpec{}, unprocessable("PlanChangeNotSupported", "plan %q does not allow changing to another plan", current.Name)
		}
		if version := catalog.Version(plan, decodeObject(inst.Parameters)); !b.nodeServes(inst, plan, version) {
			what := fmt.Sprintf("plan %q", plan.Name)
			if version != "" {
				what += fmt.Sprintf(" in version %s", version)
			}
			return domain.UpdateServiceSpec{}, unprocessable("PlanChangeNotSupported", "the node of service instance %s does not serve %s; create a new instance of that plan and move the data", instanceID, what)
		}
	}
	if plan.AsyncOnly && !asyncAllowed {
		return domain.UpdateServiceSpec{}, errAsyncRequired
	}
	if err := b.catalog.ValidateParameters(plan.ID, catalog.InstanceUpdate, details.RawParameters); err != nil {
		return domain.UpdateServiceSpec{}, badRequest("%s", err)
	}
	if inst.State == store.InstanceDeleteFailed {
		return domain.UpdateServiceSpec{}, errDeleteFailed(instanceID)
	}
	if inst.State == store.InstanceFailed {
		return domain.UpdateServiceSpec{}, unprocessable("InstanceNotReady", "service instance %s is not usable after a failed operation; delete it or provision it again", instanceID)
	}

	// Parameters the request leaves out keep their values, as a PATCH does.
	params := decodeObject(inst.Parameters)
	if v, asked := decodeObject(details.RawParameters)[catalog.VersionParameter]; asked && !reflect.DeepEqual(v, params[catalog.VersionParameter]) {
		return domain.UpdateServiceSpec{}, badRequest("parameter %s can only be chosen when the service instance is created", catalog.VersionParameter)
	}
	for k, v := range decodeObject(details.RawParameters) {
		params[k] = v
	}
	merged, err := json.Marshal(params)
	if err != nil {
		logger.Error("marshal-parameters-failed", err)
		return domain.UpdateServiceSpec{}, internalError(instanceID)
	}
	want := store.UpdateRequest{
		PlanID: planID, PreviousPlanID: inst.PlanID, Parameters: merged,
		MaintenanceVersion: askedVersion(plan, details.MaintenanceInfo),
	}
	// The identical replay of an update accepted before the plan's version moved on gets the
	// answer it got then: 200 once it is done, its operation while it runs.
	conflict := maintenanceConflict(plan, details.MaintenanceInfo)
	if conflict != nil {
		done := inst.State == store.InstanceReady && planID == inst.PlanID &&
			sameJSON(inst.Parameters, merged) && inst.MaintenanceVersion == want.MaintenanceVersion
		if done {
			return domain.UpdateServiceSpec{}, nil
		}
		if inst.State != store.InstanceUpdating {
			return domain.UpdateServiceSpec{}, conflict
		}
	}

	op, err := b.startUpdate(ctx, logger, inst, want, details.RawContext)
	if err != nil && conflict != nil {
		return domain.UpdateServiceSpec{}, conflict // not the update under way
	}
	if err != nil {
		return domain.UpdateServiceSpec{}, err
	}

	done, err := b.settle(ctx, logger, op.ID, b.budget(plan, false, asyncAllowed), asyncAllowed)
	if err != nil {
		return domain.UpdateServiceSpec{}, err
	}
	return domain.UpdateServiceSpec{IsAsync: !done, OperationData: asyncID(done, op.ID)}, nil
}

// nodeServes tells whether the node inst was placed on may run plan in version ("" for any):
// the same backend, and a node Eligible for an instance already on it. An instance never
// moves between nodes.
func (b *Broker) nodeServes(inst store.Instance, plan catalog.Plan, version string) bool {
	if plan.Backend != inst.Backend {
		return false
	}
	n, ok := b.catalog.Node(plan.Backend, inst.Node)
	return ok && catalog.Eligible(n, catalog.Want{Plan: plan.Name, Version: version, New: false})
}

// startUpdate queues the update, or, when the same update is already under way (a re-sent
// PATCH), returns its operation, so the platform is told 202 again and not 200 or 422.
func (b *Broker) startUpdate(ctx context.Context, logger lager.Logger, inst store.Instance, want store.UpdateRequest, platformContext json.RawMessage) (store.Operation, error) {
	if inst.State == store.InstanceUpdating {
		latest, err := b.store.LatestOperation(ctx, inst.ID, "")
		var have store.UpdateRequest
		if err == nil && latest.Kind == store.OpUpdate && json.Unmarshal(latest.Request, &have) == nil &&
			have.PlanID == want.PlanID && sameJSON(have.Parameters, want.Parameters) &&
			have.MaintenanceVersion == want.MaintenanceVersion {
			return latest, nil
		}
		return store.Operation{}, errConcurrency
	}
	request, err := json.Marshal(want)
	if err != nil {
		logger.Error("marshal-request-failed", err)
		return store.Operation{}, internalError(inst.ID)
	}
	op := b.newOperation(ctx, store.OpUpdate, inst.ID, "", platformContext, request)
	err = b.queue(op, func(op store.Operation) (known, error) {
		return known{}, b.store.StartInstanceOperation(ctx, inst.ID, store.InstanceUpdating, op)
	})
	if err != nil {
		return store.Operation{}, b.startError(logger, err, op.ID)
	}
	logger.Info("queued", lager.Data{"operation-id": op.ID})
	return op, nil
}
