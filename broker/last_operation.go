package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/go-chi/chi/v5"
	"github.com/pivotal-cf/brokerapi/v10/domain"
	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"

	"github.com/omnibroker/omnibroker/store"
)

// LastOperation serves GET /v2/service_instances/:instance_id/last_operation. The HTTP
// route is served by serveLastOperation, which adds Retry-After; this method keeps the
// domain.ServiceBroker contract.
func (b *Broker) LastOperation(ctx context.Context, instanceID string, details domain.PollDetails) (domain.LastOperation, error) {
	op, err := b.findOperation(ctx, instanceID, "", details.OperationData)
	if err != nil {
		return domain.LastOperation{}, err
	}
	return domain.LastOperation{State: osbState(op.State), Description: describe(op)}, nil
}

// LastBindingOperation serves GET
// /v2/service_instances/:instance_id/service_bindings/:binding_id/last_operation, like
// LastOperation.
func (b *Broker) LastBindingOperation(ctx context.Context, instanceID, bindingID string, details domain.PollDetails) (domain.LastOperation, error) {
	op, err := b.findOperation(ctx, instanceID, bindingID, details.OperationData)
	if err != nil {
		return domain.LastOperation{}, err
	}
	return domain.LastOperation{State: osbState(op.State), Description: describe(op)}, nil
}

// findOperation returns the operation the platform polls: the one named by opID, which
// outlives its instance (so a finished delete still answers succeeded), or else the newest
// one of the instance or binding, which is 410 Gone once that was deleted. An opID this broker
// never issued for that instance or binding (the OSB checker's Go suite polls
// operation=provision, a literal) is answered as if none had been given, never with a 400:
// the platform asks what is happening to the instance, and the newest operation says. The
// chain has already refused a malformed one. The newest is never
// a restore: the platform did not ask for one, and a failed restore (after which the binding
// is still bound, with the same credentials) must not read as a failed bind.
func (b *Broker) findOperation(ctx context.Context, instanceID, bindingID, opID string) (store.Operation, error) {
	logger := b.session(ctx, "last-operation", lager.Data{"instance-id": instanceID, "binding-id": bindingID, "operation-id": opID})
	subject := "service instance " + instanceID
	if bindingID != "" {
		subject = "binding " + bindingID
	}

	if opID != "" {
		op, err := b.store.GetOperation(ctx, opID)
		if err == nil && op.InstanceID == instanceID && op.BindingID == bindingID {
			return op, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			logger.Error("store-get-operation-failed", err)
			return store.Operation{}, internalError(opID)
		}
	}

	var err error
	if bindingID == "" {
		_, err = b.store.GetInstance(ctx, instanceID)
	} else {
		_, err = b.store.GetBinding(ctx, instanceID, bindingID)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Operation{}, gone("%s does not exist", subject)
	case err != nil:
		logger.Error("store-get-failed", err)
		return store.Operation{}, internalError(instanceID)
	}

	op, err := b.store.LatestOperation(ctx, instanceID, bindingID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Operation{}, gone("%s has no operation", subject)
	}
	if err != nil {
		logger.Error("store-latest-operation-failed", err)
		return store.Operation{}, internalError(instanceID)
	}
	return op, nil
}

func osbState(s store.OperationState) domain.LastOperationState {
	switch s {
	case store.OpSucceeded:
		return domain.Succeeded
	case store.OpFailed:
		return domain.Failed
	default:
		return domain.InProgress
	}
}

var doneSentences = map[store.OperationKind]string{
	store.OpProvision:   "the service instance is ready",
	store.OpUpdate:      "the service instance was updated",
	store.OpDeprovision: "the service instance was deleted",
	store.OpBind:        "the binding is ready",
	store.OpUnbind:      "the binding was deleted",
	store.OpRestore:     "the binding's login was restored on its node",
	store.OpExpire:      "the binding expired and its login was removed from its node",
}

// describe is the sentence last_operation shows: the worker's own words when it left some
// (a retry or a failure), otherwise where the operation is.
func describe(op store.Operation) string {
	switch {
	case op.State == store.OpSucceeded:
		return doneSentences[op.Kind]
	case op.Description != "":
		return op.Description
	case op.State == store.OpRunning:
		return fmt.Sprintf("%s is running", op.Kind)
	default:
		return fmt.Sprintf("%s is queued", op.Kind)
	}
}

// lastOperationResponse adds what brokerapi v10's type cannot say.
type lastOperationResponse struct {
	State          domain.LastOperationState `json:"state"`
	Description    string                    `json:"description,omitempty"`
	InstanceUsable *bool                     `json:"instance_usable,omitempty"`
	// UpdateRepeatable says, of a failed update, that the instance is as it was and the
	// same update may be sent again.
	UpdateRepeatable *bool `json:"update_repeatable,omitempty"`
}

func (b *Broker) serveLastOperation(w http.ResponseWriter, r *http.Request) {
	b.servePoll(w, r, chi.URLParam(r, "instance_id"), "")
}

func (b *Broker) serveLastBindingOperation(w http.ResponseWriter, r *http.Request) {
	b.servePoll(w, r, chi.URLParam(r, "instance_id"), chi.URLParam(r, "binding_id"))
}

func (b *Broker) servePoll(w http.ResponseWriter, r *http.Request, instanceID, bindingID string) {
	op, err := b.findOperation(r.Context(), instanceID, bindingID, r.URL.Query().Get("operation"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	resp := lastOperationResponse{State: osbState(op.State), Description: describe(op)}
	if op.State == store.OpFailed {
		// A failed update or unbind leaves the instance as it was; a failed deprovision may
		// have removed part of it.
		switch op.Kind {
		case store.OpUpdate:
			resp.InstanceUsable, resp.UpdateRepeatable = ptr(true), ptr(true)
		case store.OpUnbind:
			resp.InstanceUsable = ptr(true)
		case store.OpDeprovision:
			resp.InstanceUsable = ptr(false)
		}
	}
	if resp.State == domain.InProgress {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(op, time.Now())))
	}
	writeJSON(w, http.StatusOK, resp)
}

// retryAfter is the whole number of seconds until the operation may have moved on: until
// its next attempt when it waits on a backoff, else one second.
func retryAfter(op store.Operation, now time.Time) int {
	if op.State == store.OpQueued && op.RunAfter.After(now) {
		return int(math.Ceil(op.RunAfter.Sub(now).Seconds()))
	}
	return 1
}

func writeFailure(w http.ResponseWriter, err error) {
	var failure *apiresponses.FailureResponse
	if errors.As(err, &failure) {
		writeJSON(w, failure.ValidatedStatusCode(nil), failure.ErrorResponse())
		return
	}
	writeJSON(w, http.StatusInternalServerError, apiresponses.ErrorResponse{Description: "internal error"})
}

func ptr[T any](v T) *T { return &v }
