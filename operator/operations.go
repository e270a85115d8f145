package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/omnibroker/omnibroker/store"
)

// operationsLimit bounds how many operations one listing shows.
const operationsLimit = 1000

// maxReasonBytes bounds the reason of a cancel, which the platform shows its user.
const maxReasonBytes = 500

// OperationFilter is what Operations lists: the operations in State ("" for queued, running
// and failed), of Instance and its bindings ("" for every instance), created at least
// OlderThan ago (0 for any age).
type OperationFilter struct {
	State     string
	Instance  string
	OlderThan time.Duration
}

// OperationList is what Operations found.
type OperationList struct {
	Operations []store.ListedOperation `json:"operations"`
	// More says that more operations matched than the first operationsLimit it lists.
	More bool `json:"more"`
	// Found says that one of them needs a person (NeedsAction): the CLI's exit status 1.
	Found bool `json:"found"`
}

// OperationDetail is one operation with the history of its attempts.
type OperationDetail struct {
	store.ListedOperation
	Attempts []store.Attempt `json:"attempts"`
	// Found says that it needs a person (NeedsAction).
	Found bool `json:"found"`
}

// NeedsAction tells whether op is one a person should look at: a failed one that retry takes
// (store.ListedOperation.Retryable), or, when the listing asked for operations older than some
// age, a queued or running one, which is then stuck.
func NeedsAction(op store.ListedOperation, olderThan time.Duration) bool {
	switch op.State {
	case store.OpFailed:
		return op.Retryable()
	case store.OpQueued, store.OpRunning:
		return olderThan > 0
	}
	return false
}

// checkFilter refuses a filter of a state that is not an operation's, or a negative age.
func checkFilter(f OperationFilter) error {
	switch store.OperationState(f.State) {
	case "", store.OpQueued, store.OpRunning, store.OpFailed, store.OpSucceeded:
	default:
		return badRequest("state must be queued, running, failed or succeeded")
	}
	if f.OlderThan < 0 {
		return badRequest("older_than must be a positive duration, such as 10m or 24h")
	}
	return nil
}

// Operations lists the operations f selects, newest first.
func (o *Operator) Operations(ctx context.Context, f OperationFilter) (OperationList, error) {
	if err := checkFilter(f); err != nil {
		return OperationList{}, err
	}
	filter := store.OperationFilter{InstanceID: f.Instance, OlderThan: f.OlderThan, Limit: operationsLimit}
	if f.State != "" {
		filter.States = []store.OperationState{store.OperationState(f.State)}
	}
	ops, more, err := o.Store.ListOperations(ctx, filter)
	if err != nil {
		return OperationList{}, err
	}
	list := OperationList{Operations: ops, More: more}
	for _, op := range ops {
		list.Found = list.Found || NeedsAction(op, f.OlderThan)
	}
	return list, nil
}

// Operation is operation id with its attempts; NotFound when there is none.
func (o *Operator) Operation(ctx context.Context, id string) (OperationDetail, error) {
	op, err := o.listed(ctx, id)
	if err != nil {
		return OperationDetail{}, err
	}
	attempts, err := o.Store.Attempts(ctx, id)
	if err != nil {
		return OperationDetail{}, err
	}
	return OperationDetail{ListedOperation: op, Attempts: attempts, Found: NeedsAction(op, 0)}, nil
}

// listed is operation id as a listing shows it; NotFound when there is none.
func (o *Operator) listed(ctx context.Context, id string) (store.ListedOperation, error) {
	op, err := o.Store.ListedOperationOf(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.ListedOperation{}, &NotFound{What: "operation " + id}
	}
	return op, err
}

// retryDescription is what last_operation says of a retried operation until its next attempt
// ends.
const retryDescription = "queued again at an operator's asking"

// Retry queues failed operation id again for actor, under its own id, so that whoever polls it
// sees it run again; it may run maxAttempts more times. It is recorded as a repair
// "operations retry" of the operation, refused (Refused) unless the operation failed, is the
// latest of its instance or binding, is a provision, update, deprovision, bind or unbind, and
// nothing else runs on what it acts on; NotFound, unrecorded, when there is no such operation.
func (o *Operator) Retry(ctx context.Context, actor Actor, id string) (store.Repair, store.Operation, error) {
	if _, err := o.listed(ctx, id); err != nil {
		return store.Repair{}, store.Operation{}, err
	}
	return o.repair(ctx, actor, "operations retry", id, func() (store.Operation, error) {
		return o.Store.RetryOperation(ctx, id, maxAttempts, retryDescription)
	})
}

// Cancel fails queued operation id for actor with reason, which the platform then reads on
// last_operation ("cancelled by an operator: " and the reason), and leaves its instance or
// binding as a failure of its kind does. It is recorded as a repair "operations cancel" of the
// operation, done with the reason as its detail, or refused when the operation is not queued (a
// running one is its worker's); a reason that is empty, longer than 500 bytes or holds control
// characters is a bad request, and NotFound, unrecorded, when there is no such operation.
func (o *Operator) Cancel(ctx context.Context, actor Actor, id, reason string) (store.Repair, store.Operation, error) {
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason); err != nil {
		return store.Repair{}, store.Operation{}, err
	}
	if _, err := o.listed(ctx, id); err != nil {
		return store.Repair{}, store.Operation{}, err
	}
	return o.record(ctx, actor, "operations cancel", id, func() (made, error) {
		op, err := o.Store.CancelOperation(ctx, id, "cancelled by an operator: "+reason)
		return made{op: op, detail: reason}, err
	})
}

// checkReason refuses a cancel's reason that the platform could not show as one line.
func checkReason(reason string) error {
	switch {
	case reason == "":
		return badRequest("a cancel needs a reason, which the platform shows its user")
	case len(reason) > maxReasonBytes:
		return badRequest(fmt.Sprintf("the reason is longer than %d bytes", maxReasonBytes))
	case !utf8.ValidString(reason) || strings.IndexFunc(reason, unicode.IsControl) >= 0:
		return badRequest("the reason must be UTF-8 text of one line, without control characters")
	}
	return nil
}

// Refusal is the reason of a repair that the state it found did not allow, when err is one.
func Refusal(err error) (string, bool) { return refusal(err) }

// BadInput is the sentence of a request that named something not there or gave an input the
// operator's reads and repairs do not take, when err is one: the CLI's usage error.
func BadInput(err error) (string, bool) {
	if bad, ok := errors.AsType[badRequest](err); ok {
		return string(bad), true
	}
	if missing, ok := errors.AsType[*NotFound](err); ok {
		return missing.Error(), true
	}
	return "", false
}
