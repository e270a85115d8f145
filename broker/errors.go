package broker

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"
)

// The broker maps every error exactly once, here or where it is returned, to an unwrapped
// *apiresponses.FailureResponse: brokerapi turns anything else into a 500 carrying err.Error().

func badRequest(format string, args ...any) error {
	return apiresponses.NewFailureResponseBuilder(
		fmt.Errorf(format, args...), http.StatusBadRequest, "bad-request",
	).WithErrorKey("BadRequest").Build()
}

func unprocessable(errorKey, format string, args ...any) error {
	return apiresponses.NewFailureResponseBuilder(
		fmt.Errorf(format, args...), http.StatusUnprocessableEntity, "unprocessable",
	).WithErrorKey(errorKey).Build()
}

func gone(format string, args ...any) error {
	return apiresponses.NewFailureResponse(fmt.Errorf(format, args...), http.StatusGone, "gone")
}

func notFound(format string, args ...any) error {
	return apiresponses.NewFailureResponse(fmt.Errorf(format, args...), http.StatusNotFound, "not-found")
}

func conflict(format string, args ...any) error {
	return apiresponses.NewFailureResponse(fmt.Errorf(format, args...), http.StatusConflict, "conflict")
}

var (
	errAsyncRequired = apiresponses.NewFailureResponseBuilder(
		errors.New("this plan runs its operations asynchronously only; send accepts_incomplete=true"),
		http.StatusUnprocessableEntity, "async-required",
	).WithErrorKey("AsyncRequired").Build()

	errConcurrency = apiresponses.NewFailureResponseBuilder(
		errors.New("another operation on this service instance is in progress; try again when it has finished"),
		http.StatusUnprocessableEntity, "concurrency-error",
	).WithErrorKey("ConcurrencyError").Build()
)

// errDeleteFailed refuses everything but another DELETE for an instance whose deprovision
// failed: its backend objects may be partly gone.
func errDeleteFailed(instanceID string) error {
	return unprocessable("InstanceNotReady", "deleting service instance %s failed and it may be partly removed; send DELETE again", instanceID)
}

// internalError hides the cause from the platform, which sees a reference the operator can
// find in the log next to the cause.
func internalError(reference string) error {
	return apiresponses.NewFailureResponse(
		fmt.Errorf("internal error, reference %s; the broker's operator can find the cause in its log", reference),
		http.StatusInternalServerError, "internal-error")
}

// operationFailed reports an operation that failed within the request's budget.
func operationFailed(description string) error {
	return apiresponses.NewFailureResponse(errors.New(description), http.StatusInternalServerError, "operation-failed")
}

// stillRunning answers a request without accepts_incomplete whose operation outlived the
// synchronous budget. It is a 5xx, never a 4xx: the operation goes on, and a platform takes
// a 5xx (not a 4xx) as "something may have been created" and cleans up after it.
func stillRunning(opID string) error {
	return apiresponses.NewFailureResponse(
		fmt.Errorf("operation %s did not finish in time and continues in the background; repeat the request with accepts_incomplete=true to follow it, or delete what it creates", opID),
		http.StatusInternalServerError, "operation-still-running")
}
