package store_test

import (
	"context"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

func noBackoff(int) time.Duration { return 0 }

// boundOn creates a binding of inst and runs its bind to success with credentials.
func boundOn(ctx context.Context, inst store.Instance, credentials string) store.Binding {
	b := newBinding(inst.ID)
	op := newOperation(store.OpBind, inst.ID, b.ID)
	Expect(st.CreateBinding(ctx, b, op)).To(Succeed())
	Expect(st.Succeed(ctx, claim(ctx, "setup", op.ID), json.RawMessage(credentials))).To(Succeed())
	return b
}

// boundBinding creates a binding on a ready instance and runs its bind to success.
func boundBinding(ctx context.Context, credentials string) (store.Instance, store.Binding) {
	inst := readyInstance(ctx)
	return inst, boundOn(ctx, inst, credentials)
}

// pendingBinding creates a binding of inst whose bind is still queued: only its secret is
// sealed.
func pendingBinding(ctx context.Context, inst store.Instance) store.Binding {
	b := newBinding(inst.ID)
	Expect(st.CreateBinding(ctx, b, newOperation(store.OpBind, inst.ID, b.ID))).To(Succeed())
	return b
}

// abandon claims the operation opID as owner with a lease that ends at once, as a worker that
// died would leave it, waits until RescueExpired has dealt with it, and returns the claim.
func abandon(ctx context.Context, owner, opID string, backoff func(int) time.Duration) store.Operation {
	stale, err := st.Claim(ctx, owner, time.Millisecond)
	Expect(err).NotTo(HaveOccurred())
	Expect(stale.ID).To(Equal(opID))
	Eventually(ctx, func() (int, error) { return st.RescueExpired(ctx, backoff) }).
		WithPolling(5 * time.Millisecond).Should(Equal(1))
	return stale
}

func instanceState(ctx context.Context, id string) store.InstanceState {
	inst, err := st.GetInstance(ctx, id)
	Expect(err).NotTo(HaveOccurred())
	return inst.State
}

func bindingState(ctx context.Context, instanceID, bindingID string) store.BindingState {
	b, err := st.GetBinding(ctx, instanceID, bindingID)
	Expect(err).NotTo(HaveOccurred())
	return b.State
}

func storedOperation(ctx context.Context, id string) store.Operation {
	op, err := st.GetOperation(ctx, id)
	Expect(err).NotTo(HaveOccurred())
	return op
}

// openWithKeys opens another store on the suite's database that seals with current and opens
// with current and old, closed when the spec ends.
func openWithKeys(ctx context.Context, current []byte, old ...[]byte) *store.Store {
	ring, err := store.NewKeyring(current, old...)
	Expect(err).NotTo(HaveOccurred())
	s, err := store.Open(ctx, databaseURL, ring)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return s
}

// onBindingUpdate installs, until the spec ends, a trigger name on bindings that runs body
// (plpgsql) at timing ("BEFORE" or "AFTER") each row update that when (an SQL condition on NEW
// and OLD) holds for.
func onBindingUpdate(ctx context.Context, name, timing, when, body string) {
	_, err := st.DB().ExecContext(ctx, "CREATE FUNCTION "+name+"() RETURNS trigger LANGUAGE plpgsql AS $$\n"+body+"\n$$")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		Expect(st.DB().ExecContext(ctx, "DROP FUNCTION "+name+"() CASCADE")).Error().NotTo(HaveOccurred())
	})
	Expect(st.DB().ExecContext(ctx, "CREATE TRIGGER "+name+"\n"+timing+" UPDATE ON bindings\nFOR EACH ROW\nWHEN ("+when+")\nEXECUTE FUNCTION "+name+"()")).
		Error().NotTo(HaveOccurred())
}
