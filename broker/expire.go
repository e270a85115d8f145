package broker

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// expireBatch bounds how many expire operations one sweep queues; the next sweep queues more.
const expireBatch = 500

// expire queues, every ExpiryInterval (jittered, so that replicas spread out), an expire
// operation for each bound binding whose lifetime has run out, until ctx ends. The worker that
// runs it removes the binding's login as an unbind does, and the binding becomes expired.
// Replicas sweep at the same time without harm: a binding has at most one operation queued
// or running, so the second one queued is refused (store.ErrBusy) and passed over.
func (p *Pool) expire(ctx context.Context, logger lager.Logger) {
	for p.pause(ctx, p.cfg.ExpiryInterval) {
		p.sweepExpired(ctx, logger)
	}
}

// sweepExpired queues the expire operations of one sweep. A binding whose instance is busy
// with another operation, or that changed since it was listed, is passed over: the next sweep
// finds it again if it still needs one.
func (p *Pool) sweepExpired(ctx context.Context, logger lager.Logger) {
	refs, err := p.b.store.ExpiredBindings(ctx, expireBatch)
	if err != nil {
		if ctx.Err() == nil {
			logger.Error("list-expired-bindings-failed", err)
		}
		return
	}
	for _, ref := range refs {
		data := lager.Data{"instance-id": ref.InstanceID, "binding-id": ref.BindingID}
		op := p.b.newOperation(ctx, store.OpExpire, ref.InstanceID, ref.BindingID, nil, nil)
		err := p.b.store.StartBindingOperation(ctx, ref.InstanceID, ref.BindingID, store.BindingBound, op)
		switch {
		case errors.Is(err, store.ErrBusy):
			logger.Debug("expiry-deferred", data)
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNotBound):
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			logger.Error("queue-expiry-failed", err, data)
		default:
			data["operation-id"] = op.ID
			logger.Info("expiry-queued", data)
		}
	}
}

// bindRequest is the Request of a bind of plan: the lifetime of its credentials, when the plan
// gives them one, and when the platform should renew them, four fifths of the way through.
func bindRequest(plan catalog.Plan) json.RawMessage {
	lifetime := time.Duration(plan.BindingLifetime)
	if lifetime <= 0 {
		return nil
	}
	// Two durations always marshal.
	raw, _ := json.Marshal(store.BindRequest{Lifetime: lifetime, RenewAfter: lifetime - lifetime/5})
	return raw
}
