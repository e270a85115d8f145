package store_test

import (
	"encoding/json"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Purge operations", func() {
	purgeOf := func() store.PurgeRequest {
		return store.PurgeRequest{Backend: "redis", Node: "redis-1", ObjectKind: "user", ObjectName: "ob_" + uuid.NewString()[:8]}
	}

	It("queue a purge addressed by node and object, one at a time per object, that changes no instance when it succeeds", func(ctx SpecContext) {
		req := purgeOf()
		op, err := store.NewPurge(req, 3)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.EnqueuePurge(ctx, op)).To(Succeed())
		again, err := store.NewPurge(req, 3)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.EnqueuePurge(ctx, again)).To(MatchError(store.ErrBusy))

		claimed := claim(ctx, "worker", op.ID)
		Expect(claimed.Kind).To(Equal(store.OpPurge))
		Expect(claimed.InstanceID).To(Equal(store.PurgeAddress(req)))
		var got store.PurgeRequest
		Expect(json.Unmarshal(claimed.Request, &got)).To(Succeed())
		Expect(got).To(Equal(req))
		Expect(st.Succeed(ctx, claimed, nil)).To(Succeed())
		Expect(storedOperation(ctx, op.ID).State).To(Equal(store.OpSucceeded))

		next, err := store.NewPurge(req, 3)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.EnqueuePurge(ctx, next)).To(Succeed(), "once the first has finished")
		Expect(st.Fail(ctx, claim(ctx, "worker", next.ID), "node redis-1 refused the connection")).To(Succeed())
		Expect(storedOperation(ctx, next.ID).State).To(Equal(store.OpFailed))
	})

	It("refuse an operation of another kind", func(ctx SpecContext) {
		Expect(st.EnqueuePurge(ctx, newOperation(store.OpProvision, uuid.NewString(), ""))).To(HaveOccurred())
	})
})

var _ = Describe("Owners", func() {
	It("lists every instance placed on the node and each of its bindings, whatever their states", func(ctx SpecContext) {
		node := "node-" + uuid.NewString()
		inst, b := boundBinding(ctx, `{}`)
		bare, _ := createInstance(ctx)
		elsewhere, _ := createInstance(ctx)
		for id, on := range map[string]string{inst.ID: node, bare.ID: node, elsewhere.ID: "other-" + node} {
			Expect(st.DB().ExecContext(ctx, `UPDATE instances SET node = $2 WHERE id = $1`, id, on)).Error().NotTo(HaveOccurred())
		}
		owners, err := st.Owners(ctx, "postgresql", node)
		Expect(err).NotTo(HaveOccurred())
		Expect(owners).To(ConsistOf(
			store.Owner{InstanceID: inst.ID, InstanceState: store.InstanceReady, BindingID: b.ID, BindingState: store.BindingBound},
			store.Owner{InstanceID: bare.ID, InstanceState: store.InstanceProvisioning},
		))
	})
})
