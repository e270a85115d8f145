package broker

import (
	"context"

	"github.com/omnibroker/omnibroker/backends"
)

// recordedBindings are every binding row of the instance, whatever its state, as the backend
// needs them to name their logins: Deprovision removes exactly those, cut-short binds' included,
// and Update sets a plan's limits on them.
func (p *Pool) recordedBindings(ctx context.Context, instanceID string) ([]backends.Binding, error) {
	names, err := p.b.store.BindingNames(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	bindings := make([]backends.Binding, len(names))
	for i, n := range names {
		bindings[i] = backends.Binding{ID: n.ID, LegacyName: n.LegacyName}
	}
	return bindings, nil
}
