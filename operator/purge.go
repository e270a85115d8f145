package operator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/omnibroker/omnibroker/store"
)

// maxAttempts is how often a repair's operation runs before it fails: a node that keeps
// refusing is the operator's to look at, and the command says so.
const maxAttempts = 3

// waitPoll is how often Wait re-reads an operation between its wake-ups.
const waitPoll = time.Second

// Purge queues the removal of orphan o from its node, an operation of kind purge addressed by
// the node and the object, and returns it. store.ErrBusy when a purge of it is queued or
// running already.
func Purge(ctx context.Context, logger lager.Logger, st *store.Store, o Orphan) (store.Operation, error) {
	op, err := store.NewPurge(store.PurgeRequest{
		Backend: o.Backend, Node: o.Node, ObjectKind: string(o.Object.Kind), ObjectName: o.Object.Name,
	}, maxAttempts)
	if err != nil {
		return store.Operation{}, err
	}
	if err := st.EnqueuePurge(ctx, op); err != nil {
		return store.Operation{}, err
	}
	logger.Info("purge-queued", lager.Data{"operation-id": op.ID, "backend": o.Backend, "node": o.Node,
		"object-kind": o.Object.Kind, "object": o.Object.Name})
	return op, nil
}

// Restore queues a restore of m, a live binding's login that is gone (m.Restorable): the
// worker runs Bind again with the binding's sealed password, and the binding stays bound.
// store.ErrBusy when another operation of the binding or its instance excludes it.
func Restore(ctx context.Context, logger lager.Logger, st *store.Store, m Missing) (store.Operation, error) {
	if !m.Restorable || m.BindingID == "" {
		return store.Operation{}, fmt.Errorf("%s of instance %s is not a binding's login that can be made again", m.Object, m.InstanceID)
	}
	op := store.NewOperation(store.OpRestore, m.InstanceID, m.BindingID, maxAttempts, nil, nil)
	if err := st.StartBindingOperation(ctx, m.InstanceID, m.BindingID, store.BindingBound, op); err != nil {
		return store.Operation{}, err
	}
	logger.Info("restore-queued", lager.Data{"operation-id": op.ID, "instance-id": m.InstanceID,
		"binding-id": m.BindingID, "node": m.Node})
	return op, nil
}

// Wait waits for operation id to succeed or fail, woken when it finishes (in this process or,
// by NOTIFY, in another) and re-reading it every waitPoll in case a wake-up is lost, and
// returns it as it ended; ctx bounds the wait.
func Wait(ctx context.Context, st *store.Store, id string) (store.Operation, error) {
	woken, stop := st.Watch(id)
	defer stop()
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		op, err := st.GetOperation(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Operation{}, err
		}
		if err == nil && (op.State == store.OpSucceeded || op.State == store.OpFailed) {
			return op, nil
		}
		select {
		case <-ctx.Done():
			return op, ctx.Err()
		case <-woken:
		case <-tick.C:
		}
	}
}
