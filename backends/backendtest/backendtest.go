// Package backendtest is what the specs of the adapters share: calling a backend the way they
// speak of it, and reading the sentence a failure carries. It is imported by tests only, and
// imports nothing of ours but backends.
package backendtest

import (
	"context"

	"github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

// Calls runs a backend's contract with an instance (and a binding) in and an error (and
// credentials) out, through the Logging wrapper that cmd puts on every adapter, so that the
// specs see the log lines the broker writes. A spec that needs a field these calls do not
// set builds the request itself.
type Calls struct{ backend backends.Backend }

// Call returns the calls of backend b of kind.
func Call(kind string, b backends.Backend) Calls {
	return Calls{backend: backends.Wrap(b, backends.Logging(kind))}
}

// Provision provisions inst.
func (c Calls) Provision(ctx context.Context, inst backends.Instance) error {
	_, err := c.backend.Provision(ctx, backends.ProvisionRequest{Instance: inst})
	return err
}

// Update moves inst, which had plan fromPlan, to inst.Plan and inst.Parameters.
func (c Calls) Update(ctx context.Context, inst backends.Instance, fromPlan string) error {
	_, err := c.backend.Update(ctx, backends.UpdateRequest{Instance: inst, FromPlan: fromPlan})
	return err
}

// Deprovision deprovisions inst.
func (c Calls) Deprovision(ctx context.Context, inst backends.Instance) error {
	return c.backend.Deprovision(ctx, backends.DeprovisionRequest{Instance: inst})
}

// Bind binds b to inst and returns its credentials.
func (c Calls) Bind(ctx context.Context, inst backends.Instance, b backends.Binding) (backends.Credentials, error) {
	res, err := c.backend.Bind(ctx, backends.BindRequest{Instance: inst, Binding: b})
	return res.Credentials, err
}

// Unbind unbinds b from inst.
func (c Calls) Unbind(ctx context.Context, inst backends.Instance, b backends.Binding) error {
	return c.backend.Unbind(ctx, backends.UnbindRequest{Instance: inst, Binding: b})
}

// BindingLost reports whether b's login on inst's node is gone.
func (c Calls) BindingLost(ctx context.Context, inst backends.Instance, b backends.Binding) (bool, error) {
	res, err := c.backend.CheckBinding(ctx, backends.CheckBindingRequest{Instance: inst, Binding: b})
	return res.Lost, err
}

// Description is what a person reads on last_operation for err. The spec fails when err
// carries no sentence.
func Description(err error) string {
	sentence, ok := backends.SentenceOf(err)
	gomega.ExpectWithOffset(1, ok).To(gomega.BeTrue(), "%v carries no description", err)
	return sentence
}
