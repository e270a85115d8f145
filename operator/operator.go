package operator

import (
	"context"
	"errors"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// Operator is what the CLI's operator commands and the /admin/v1 API share: the state
// database, the adapters of the catalog's backends, and the log every repair goes to.
type Operator struct {
	Store    *store.Store
	Backends map[string]backends.Backend
	Catalog  *catalog.Catalog
	Logger   lager.Logger
}

// Through which door a repair was asked for.
const (
	ViaCLI = "cli"
	ViaAPI = "api"
)

// Actor is who asked for a repair: the OS user through the CLI, the API user through /admin/v1.
type Actor struct {
	Name string
	Via  string
}

// Refused is a repair that the state it found does not allow; Reason says why, for a person.
type Refused struct{ Reason string }

func (r *Refused) Error() string { return r.Reason }

// refusal is the reason of a refused repair: a Refused error's, or an operation in the way.
func refusal(err error) (string, bool) {
	if r, ok := errors.AsType[*Refused](err); ok {
		return r.Reason, true
	}
	if r, ok := errors.AsType[*store.RefusedError](err); ok {
		return r.Reason, true
	}
	if errors.Is(err, store.ErrBusy) {
		return "another operation of the same object, instance or binding is queued or running", true
	}
	return "", false
}

// Nodes are the node names of each backend, as the catalog configures them.
type Nodes map[string][]string

// Nodes is the catalog's nodes by backend.
func (o *Operator) Nodes() Nodes {
	nodes := Nodes{}
	for _, be := range o.Catalog.Config.Backends {
		for _, n := range be.Nodes {
			nodes[be.Name] = append(nodes[be.Name], n.Name)
		}
	}
	return nodes
}

// repair records that actor asked for action on target, runs it, and records and logs how it
// went: queued when run returns an operation (its state then says how it ends), done when it
// returns none, refused or failed when it returns an error. Its error is run's, or the state
// database's when the repair could not even be recorded, in which case nothing was run.
func (o *Operator) repair(ctx context.Context, actor Actor, action, target string, run func() (store.Operation, error)) (store.Repair, store.Operation, error) {
	return o.record(ctx, actor, action, target, func() (made, error) {
		op, err := run()
		return made{op: op, queued: op.ID != ""}, err
	})
}

// made is what a repair made in the state database: the operation it queued or acted on, if
// any, whether it went to the queue, and a sentence to record with it (never a credential).
type made struct {
	op     store.Operation
	queued bool
	detail string
}

// record is repair for a run that says what it made: queued when it queued an operation, else
// done, with its detail; refused or failed when it returns an error.
func (o *Operator) record(ctx context.Context, actor Actor, action, target string, run func() (made, error)) (store.Repair, store.Operation, error) {
	rec, err := o.Store.StartRepair(ctx, actor.Name, actor.Via, action, target)
	if err != nil {
		return store.Repair{}, store.Operation{}, err
	}
	data := lager.Data{"repair-id": rec.ID, "requested-by": actor.Name, "via": actor.Via, "action": action, "target": target}
	o.Logger.Info("repair-requested", data)
	m, runErr := run()
	op := m.op
	if runErr != nil {
		op = store.Operation{}
	}
	rec.OperationID, rec.Outcome, rec.Detail = op.ID, store.RepairDone, m.detail
	switch reason, refused := refusal(runErr); {
	case refused:
		rec.Outcome, rec.Detail = store.RepairRefused, reason
	case runErr != nil:
		rec.Outcome, rec.Detail = store.RepairFailed, sentence(runErr)
	case m.queued:
		rec.Outcome = store.RepairQueued
	}
	if err := o.Store.FinishRepair(ctx, rec.ID, rec.Outcome, rec.OperationID, rec.Detail); err != nil && runErr == nil {
		runErr = err
	}
	data["outcome"] = rec.Outcome
	if op.ID != "" {
		data["operation-id"] = op.ID
	}
	if rec.Outcome == store.RepairFailed {
		o.Logger.Error("repair-finished", runErr, data)
	} else {
		o.Logger.Info("repair-finished", data)
	}
	return rec, op, runErr
}

// sentence is what a person reads of a failure: a backend's sentence, a refusal's reason, the
// store's words for a row that is not there, never driver text.
func sentence(err error) string {
	return sentenceWithin(err, listTimeout)
}

// sentenceWithin is sentence for a call that had timeout to answer.
func sentenceWithin(err error, timeout time.Duration) string {
	if s, ok := backends.SentenceOf(err); ok {
		return s
	}
	if reason, ok := refusal(err); ok {
		return reason
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the node did not answer within " + timeout.String()
	case errors.Is(err, store.ErrNotFound):
		return "it is not in the state database"
	}
	return "it could not be done; the log of the one who asked says why"
}
