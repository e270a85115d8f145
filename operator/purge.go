package operator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omnibroker/omnibroker/store"
)

// maxAttempts is how often a repair's operation runs before it fails: a node that keeps
// refusing is the operator's to look at, and the command says so.
const maxAttempts = 3

// waitPoll is how often Wait re-reads an operation between its wake-ups.
const waitPoll = time.Second

// Purge queues, for actor, the removal of orphan found from its node: an operation of kind
// purge addressed by the node and the object (store.PurgeAddress). It is recorded as a repair
// "orphans purge", refused when a purge of the object is queued or running already.
func (o *Operator) Purge(ctx context.Context, actor Actor, found Orphan) (store.Repair, store.Operation, error) {
	req := store.PurgeRequest{Backend: found.Backend, Node: found.Node, ObjectKind: string(found.Object.Kind), ObjectName: found.Object.Name}
	return o.repair(ctx, actor, "orphans purge", store.PurgeAddress(req), func() (store.Operation, error) {
		op, err := store.NewPurge(req, maxAttempts)
		if err != nil {
			return store.Operation{}, err
		}
		return op, o.Store.EnqueuePurge(ctx, op)
	})
}

// Restore queues, for actor, a restore of m, a live binding's login that is gone
// (m.Restorable): the worker runs Bind again with the binding's sealed password, and the
// binding stays bound. It is recorded as a repair "orphans restore" of the binding, refused
// when m is not restorable or another operation of the binding or its instance excludes it.
func (o *Operator) Restore(ctx context.Context, actor Actor, m Missing) (store.Repair, store.Operation, error) {
	return o.repair(ctx, actor, "orphans restore", "binding "+m.BindingID+" of instance "+m.InstanceID, func() (store.Operation, error) {
		if !m.Restorable || m.BindingID == "" {
			return store.Operation{}, &Refused{fmt.Sprintf("%s of instance %s is not a binding's login that can be made again", m.Object, m.InstanceID)}
		}
		op := store.NewOperation(store.OpRestore, m.InstanceID, m.BindingID, maxAttempts, nil, nil)
		if err := o.Store.StartBindingOperation(ctx, m.InstanceID, m.BindingID, store.BindingBound, op); err != nil {
			return store.Operation{}, err
		}
		return op, nil
	})
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
