package broker

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/store"
)

// checkTimeout bounds one CheckBinding call. A node whose check fails is not asked again in the
// same sweep, so a node that does not answer holds the sweep up once, for no longer than this.
const checkTimeout = 10 * time.Second

// restoreQuiet is how many sweep intervals a binding whose restore failed is left alone, so
// that a node that keeps refusing the Bind does not get a failed operation every sweep.
const restoreQuiet = 15

// restore sweeps, every RestoreInterval (jittered, so that replicas spread out), the live
// bindings of the backends whose nodes can forget what Bind made, until ctx ends. Replicas
// sweep at the same time without harm: at most one operation per instance can be queued, so
// a binding found lost twice is restored once.
func (p *Pool) restore(ctx context.Context, logger lager.Logger) {
	for p.pause(ctx, p.cfg.RestoreInterval) {
		p.sweep(ctx, logger)
	}
}

// sweep checks every live binding of every backend whose nodes can lose them (LosesBindings) and
// queues a restore of each one whose login is gone. A binding that cannot be checked is
// logged and passed over; the next sweep tries it again.
func (p *Pool) sweep(ctx context.Context, logger lager.Logger) {
	for _, name := range slices.Sorted(maps.Keys(p.b.backends)) {
		if !p.b.backends[name].LosesBindings() {
			continue
		}
		refs, err := p.b.store.BoundBindings(ctx, name, restoreQuiet*p.cfg.RestoreInterval)
		if err != nil {
			if ctx.Err() == nil {
				logger.Error("list-bound-bindings-failed", err, lager.Data{"backend": name})
			}
			continue
		}
		lost, failed := 0, 0
		unchecked := map[string]bool{} // nodes whose check failed in this sweep
		for _, ref := range refs {
			if ctx.Err() != nil {
				return
			}
			found, err := p.checkBinding(ctx, logger, ref, unchecked)
			switch {
			case err != nil && ctx.Err() == nil:
				failed++
				logger.Error("binding-check-failed", err, lager.Data{
					"backend": name, "instance-id": ref.InstanceID, "binding-id": ref.BindingID,
				})
			case found:
				lost++
			}
		}
		logger.Debug("swept", lager.Data{"backend": name, "bindings": len(refs), "lost": lost, "failed": failed})
	}
}

// checkBinding asks the binding's adapter whether its node has lost the binding's login and,
// when it has, queues a restore, which runs Bind again with the sealed password. It reports
// whether the login was lost. A binding or instance gone, or no longer bound or in use, since
// it was listed needs no restore; another operation of the instance queued or running
// (store.ErrBusy) defers it to the next sweep. A binding on a node in unchecked is passed over;
// a node whose check fails is added to it.
func (p *Pool) checkBinding(ctx context.Context, logger lager.Logger, ref store.BindingRef, unchecked map[string]bool) (bool, error) {
	inst, err := p.b.store.GetInstance(ctx, ref.InstanceID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	binding, err := p.b.store.GetBinding(ctx, ref.InstanceID, ref.BindingID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if binding.State != store.BindingBound {
		return false, nil
	}
	backend, target, _, err := p.target(inst, true)
	if err != nil {
		return false, err
	}
	if !backend.LosesBindings() || unchecked[target.Node] {
		return false, nil
	}
	checkCtx, cancel := context.WithTimeout(lagerctx.NewContext(ctx, logger), checkTimeout)
	check, err := backend.CheckBinding(checkCtx, backends.CheckBindingRequest{Instance: target, Binding: bindingOf(binding)})
	cancel()
	if err != nil {
		unchecked[target.Node] = true
		return false, err
	}
	if !check.Lost {
		return false, nil
	}

	data := lager.Data{"instance-id": ref.InstanceID, "binding-id": ref.BindingID, "node": target.Node}
	logger.Info("binding-lost", data)
	op := p.b.newOperation(ctx, store.OpRestore, ref.InstanceID, ref.BindingID, binding.Context, nil)
	// One attempt: the next sweep is its retry, and between the two the instance stays free
	// for the platform's own requests, which a queued restore would turn away with 422.
	op.MaxAttempts = 1
	err = p.b.store.StartBindingOperation(ctx, ref.InstanceID, ref.BindingID, store.BindingBound, op)
	switch {
	case errors.Is(err, store.ErrBusy):
		logger.Info("restore-deferred", data)
		return true, nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNotBound):
		return true, nil
	case err != nil:
		return true, err
	}
	data["operation-id"] = op.ID
	logger.Info("restore-queued", data)
	return true, nil
}
