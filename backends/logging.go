package backends

import (
	"context"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"
)

// Middleware is a cross-cutting concern around a Backend: given the next Backend, it returns
// one that does its part around each call and forwards every method to next. cmd stacks them
// on every adapter with Wrap; Logging is one, and the metrics of a later issue will be another.
// Model: hashicorp/vault sdk/database/dbplugin/v5/middleware.go.
type Middleware func(next Backend) Backend

// Wrap stacks ms around b, the first outermost, so Wrap(b, Logging(k), metrics) logs a call
// before metrics sees it.
func Wrap(b Backend, ms ...Middleware) Backend {
	for i := len(ms) - 1; i >= 0; i-- {
		b = ms[i](b)
	}
	return b
}

// Logging is the middleware that gives each call of a backend of kind its own lager session,
// named for the kind and the call ("postgres-provision") and carrying the ids of the request
// (instance-id, binding-id, node, plan, from-plan), on the logger the caller put in ctx; the
// adapter logs its steps on it (lagerctx.FromContext) and the session ends with one line:
// done, cancelled, or failed with whether it is permanent. It logs ids and names, never a
// password or parameters. RemoveObject is logged with the node and the object. CheckBinding,
// Ping, ListObjects, Owned and Usage pass through unlogged: the broker and the operator log what they
// find, and CheckBinding runs for every live binding on every sweep.
func Logging(kind string) Middleware {
	return func(next Backend) Backend { return &logging{kind: kind, next: next} }
}

type logging struct {
	kind string
	next Backend
}

// session starts the call's session, puts it in ctx for the adapter, and returns the function
// that logs how the call ended.
func (l *logging) session(ctx context.Context, call string, data lager.Data) (context.Context, func(error)) {
	log := lagerctx.FromContext(ctx).Session(l.kind+"-"+call, data)
	return lagerctx.NewContext(ctx, log), func(err error) {
		switch {
		case err == nil:
			log.Info("done")
		case ctx.Err() != nil:
			log.Info("cancelled")
		default:
			log.Error("failed", err, lager.Data{"permanent": IsPermanent(err)})
		}
	}
}

func instanceData(inst Instance) lager.Data {
	return lager.Data{"instance-id": inst.ID, "node": inst.Node}
}

func bindingData(inst Instance, b Binding) lager.Data {
	return lager.Data{"instance-id": inst.ID, "binding-id": b.ID, "node": inst.Node}
}

func (l *logging) Provision(ctx context.Context, req ProvisionRequest) (ProvisionResponse, error) {
	data := instanceData(req.Instance)
	data["plan"] = req.Instance.Plan
	ctx, end := l.session(ctx, "provision", data)
	res, err := l.next.Provision(ctx, req)
	end(err)
	return res, err
}

func (l *logging) Update(ctx context.Context, req UpdateRequest) (UpdateResponse, error) {
	data := instanceData(req.Instance)
	data["plan"], data["from-plan"] = req.Instance.Plan, req.FromPlan
	ctx, end := l.session(ctx, "update", data)
	res, err := l.next.Update(ctx, req)
	end(err)
	return res, err
}

func (l *logging) Deprovision(ctx context.Context, req DeprovisionRequest) error {
	ctx, end := l.session(ctx, "deprovision", instanceData(req.Instance))
	err := l.next.Deprovision(ctx, req)
	end(err)
	return err
}

func (l *logging) Bind(ctx context.Context, req BindRequest) (BindResponse, error) {
	ctx, end := l.session(ctx, "bind", bindingData(req.Instance, req.Binding))
	res, err := l.next.Bind(ctx, req)
	end(err)
	return res, err
}

func (l *logging) Unbind(ctx context.Context, req UnbindRequest) error {
	ctx, end := l.session(ctx, "unbind", bindingData(req.Instance, req.Binding))
	err := l.next.Unbind(ctx, req)
	end(err)
	return err
}

func (l *logging) LosesBindings() bool { return l.next.LosesBindings() }

func (l *logging) CheckBinding(ctx context.Context, req CheckBindingRequest) (CheckBindingResponse, error) {
	return l.next.CheckBinding(ctx, req)
}

func (l *logging) Ping(ctx context.Context, node string) error { return l.next.Ping(ctx, node) }

func (l *logging) ListObjects(ctx context.Context, req ListObjectsRequest) (ListObjectsResponse, error) {
	return l.next.ListObjects(ctx, req)
}

func (l *logging) RemoveObject(ctx context.Context, req RemoveObjectRequest) error {
	ctx, end := l.session(ctx, "remove-object", lager.Data{
		"node": req.Node, "object-kind": req.Object.Kind, "object": req.Object.Name,
	})
	err := l.next.RemoveObject(ctx, req)
	end(err)
	return err
}

func (l *logging) Owned(req OwnedRequest) OwnedResponse { return l.next.Owned(req) }

func (l *logging) Usage(ctx context.Context, req UsageRequest) (UsageResponse, error) {
	return l.next.Usage(ctx, req)
}

func (l *logging) Close() error { return l.next.Close() }
