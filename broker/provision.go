package broker

import (
	"context"
	"errors"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// Provision serves PUT /v2/service_instances/:instance_id. It records the instance, placed on a
// node, and its provision operation in one transaction, then waits for the operation up to the
// budget.
func (b *Broker) Provision(ctx context.Context, instanceID string, details domain.ProvisionDetails, asyncAllowed bool) (domain.ProvisionedServiceSpec, error) {
	logger := b.session(ctx, "provision", lager.Data{"instance-id": instanceID, "plan-id": details.PlanID})

	plan, err := b.checkProvision(ctx, instanceID, details, asyncAllowed)
	if err != nil {
		return domain.ProvisionedServiceSpec{}, b.provisionConflict(ctx, instanceID, details, err)
	}

	inst := requestedInstance(instanceID, details)
	inst.Backend = plan.Backend
	inst.MaintenanceVersion = askedVersion(plan, details.MaintenanceInfo)
	op := b.newOperation(ctx, store.OpProvision, instanceID, "", details.RawContext, nil)

	// Handed to an idle worker here, it is placed and claimed as it is queued, so that its
	// completion is the provision's only other write. Otherwise the worker that claims it
	// places it: a placement at the enqueue holds the backend's placement lock until its
	// commit is on disk, and under a burst of provisions that queue behind busy workers the
	// placements of the workers would wait for each of those flushes. A plan no node can take
	// now is left to the worker, which fails it.
	choose, _ := b.chooser(plan, decodeObject(inst.Parameters))
	err = b.queue(op, func(op store.Operation) (known, error) {
		if op.ClaimedBy == nil {
			choose = nil
		}
		node, err := b.store.CreatePlacedInstance(ctx, inst, op, choose)
		inst.Node = node
		return known{instance: &inst}, err
	})
	if errors.Is(err, store.ErrConflict) {
		return b.provisionAgain(ctx, logger, inst, details.MaintenanceInfo, plan, asyncAllowed)
	}
	if err != nil {
		logger.Error("store-create-instance-failed", err, lager.Data{"operation-id": op.ID})
		return domain.ProvisionedServiceSpec{}, internalError(op.ID)
	}
	logger.Info("queued", lager.Data{"operation-id": op.ID, "node": inst.Node})
	return b.provisionOutcome(ctx, logger, op.ID, plan, asyncAllowed, false)
}

// checkProvision checks a provision before anything is written, and returns its plan.
func (b *Broker) checkProvision(ctx context.Context, instanceID string, details domain.ProvisionDetails, asyncAllowed bool) (catalog.Plan, error) {
	if details.OrganizationGUID == "" {
		return catalog.Plan{}, badRequest("organization_guid is required")
	}
	if details.SpaceGUID == "" {
		return catalog.Plan{}, badRequest("space_guid is required")
	}
	plan, _, err := b.planOf(details.ServiceID, details.PlanID)
	if err != nil {
		return catalog.Plan{}, err
	}
	if plan.AsyncOnly && !asyncAllowed {
		return catalog.Plan{}, errAsyncRequired
	}
	if err := b.catalog.ValidateParameters(plan.ID, catalog.InstanceCreate, details.RawParameters); err != nil {
		return catalog.Plan{}, badRequest("%s", err)
	}
	if err := b.catalog.CheckVersion(plan, details.RawParameters); err != nil {
		return catalog.Plan{}, badRequest("%s", err)
	}
	if err := maintenanceConflict(plan, details.MaintenanceInfo); err != nil {
		// The identical replay of a provision accepted before the plan's version moved on
		// gets the answer it got then, from provisionAgain.
		if _, getErr := b.store.GetInstance(ctx, instanceID); getErr != nil {
			return catalog.Plan{}, err
		}
	}
	return plan, nil
}

// provisionAgain answers a PUT for an instance id that exists: the same attributes get the
// same answer (or a fresh attempt when the earlier one failed), other attributes get 409. A
// maintenance_info the PUT carries (asked) is one of them.
func (b *Broker) provisionAgain(ctx context.Context, logger lager.Logger, want store.Instance, asked *domain.MaintenanceInfo, plan catalog.Plan, asyncAllowed bool) (domain.ProvisionedServiceSpec, error) {
	have, err := b.store.GetInstance(ctx, want.ID)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted between our insert and this read: the platform may simply retry.
		return domain.ProvisionedServiceSpec{}, errConcurrency
	}
	if err != nil {
		logger.Error("store-get-instance-failed", err)
		return domain.ProvisionedServiceSpec{}, internalError(want.ID)
	}
	if !sameInstance(have, want) || !sameMaintenance(have, asked) {
		return domain.ProvisionedServiceSpec{}, errInstanceConflict(want.ID)
	}

	switch have.State {
	case store.InstanceReady:
		return domain.ProvisionedServiceSpec{AlreadyExists: true}, nil
	case store.InstanceProvisioning:
		op, err := b.store.LatestOperation(ctx, want.ID, "")
		if err != nil {
			logger.Error("store-latest-operation-failed", err)
			return domain.ProvisionedServiceSpec{}, internalError(want.ID)
		}
		return b.provisionOutcome(ctx, logger, op.ID, plan, asyncAllowed, true)
	case store.InstanceFailed:
		op := b.newOperation(ctx, store.OpProvision, want.ID, "", want.Context, nil)
		err := b.queue(op, func(op store.Operation) (known, error) {
			return known{}, b.store.StartInstanceOperation(ctx, want.ID, store.InstanceProvisioning, op)
		})
		if err != nil {
			return domain.ProvisionedServiceSpec{}, b.startError(logger, err, op.ID)
		}
		logger.Info("queued-again", lager.Data{"operation-id": op.ID})
		return b.provisionOutcome(ctx, logger, op.ID, plan, asyncAllowed, false)
	case store.InstanceDeleteFailed:
		// Not a 422: Cloud Controller takes no 422 from a provision but AsyncRequired,
		// ConcurrencyError and MaintenanceInfoConflict.
		return domain.ProvisionedServiceSpec{}, conflict("service instance %s exists, but deleting it failed and it may be partly removed; send DELETE again", want.ID)
	default:
		return domain.ProvisionedServiceSpec{}, errConcurrency
	}
}

func (b *Broker) provisionOutcome(ctx context.Context, logger lager.Logger, opID string, plan catalog.Plan, asyncAllowed, again bool) (domain.ProvisionedServiceSpec, error) {
	done, err := b.settle(ctx, logger, opID, b.budget(plan, false, asyncAllowed), asyncAllowed)
	if err != nil {
		return domain.ProvisionedServiceSpec{}, err
	}
	return domain.ProvisionedServiceSpec{AlreadyExists: done && again, IsAsync: !done, OperationData: asyncID(done, opID)}, nil
}

// startError maps the errors of StartInstanceOperation and StartBindingOperation.
func (b *Broker) startError(logger lager.Logger, err error, opID string) error {
	switch {
	case errors.Is(err, store.ErrBusy):
		return errConcurrency
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInstanceNotFound):
		return gone("the service instance or binding no longer exists")
	default:
		logger.Error("store-start-operation-failed", err, lager.Data{"operation-id": opID})
		return internalError(opID)
	}
}

// requestedInstance is the instance row a provision asks for, before placement.
func requestedInstance(instanceID string, d domain.ProvisionDetails) store.Instance {
	return store.Instance{
		ID:               instanceID,
		ServiceID:        d.ServiceID,
		PlanID:           d.PlanID,
		OrganizationGUID: d.OrganizationGUID,
		SpaceGUID:        d.SpaceGUID,
		Parameters:       object(d.RawParameters),
		Context:          object(d.RawContext),
		State:            store.InstanceProvisioning,
	}
}

// sameInstance tells whether a provision that asks for want asks for the instance have is:
// the same service, plan, organization, space and parameters (the context may differ).
func sameInstance(have, want store.Instance) bool {
	return have.ServiceID == want.ServiceID && have.PlanID == want.PlanID &&
		have.OrganizationGUID == want.OrganizationGUID && have.SpaceGUID == want.SpaceGUID &&
		sameJSON(have.Parameters, want.Parameters)
}

func errInstanceConflict(instanceID string) error {
	return conflict("service instance %s already exists with other attributes", instanceID)
}

// provisionConflict is what a provision d of instanceID answers
// when a check refused it with refusal: the 409 when the instance id exists with other
// attributes, so that a platform that re-uses an id hears that the id is taken, whatever else
// the request gets wrong (a plan the catalog lacks, parameters its schema refuses, another
// maintenance_info); refusal otherwise. It is asked only once a check refuses: a provision
// that passes them all meets an existing id at its insert (provisionAgain). A store failure
// is left to the refusal.
func (b *Broker) provisionConflict(ctx context.Context, instanceID string, d domain.ProvisionDetails, refusal error) error {
	have, err := b.store.GetInstance(ctx, instanceID)
	if err != nil || (sameInstance(have, requestedInstance(instanceID, d)) && sameMaintenance(have, d.MaintenanceInfo)) {
		return refusal
	}
	return errInstanceConflict(instanceID)
}
