package store_test

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("Binding expiry", func() {
	It("starts a binding's lifetime when its bind succeeds, and a binding without one has none", func(ctx SpecContext) {
		inst := readyInstance(ctx)
		b := newBinding(inst.ID)
		op := newOperation(store.OpBind, inst.ID, b.ID)
		op.Request, _ = json.Marshal(store.BindRequest{Lifetime: time.Hour, RenewAfter: 48 * time.Minute})
		Expect(st.CreateBinding(ctx, b, op)).To(Succeed())
		Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), json.RawMessage(`{"password":"p"}`))).To(Succeed())

		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.ExpiresAt).NotTo(BeNil())
		Expect(*got.ExpiresAt).To(BeTemporally("~", time.Now().Add(time.Hour), time.Minute))
		Expect(got.ExpiresAt.Sub(*got.RenewBefore)).To(Equal(12 * time.Minute))
		Expect(got.Expired).To(BeFalse())

		_, plain := boundBinding(ctx, `{}`)
		got, err = st.GetBinding(ctx, plain.InstanceID, plain.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.ExpiresAt).To(BeNil())
		Expect(got.RenewBefore).To(BeNil())
		Expect(got.Expired).To(BeFalse())
	})

	It("lists a bound binding past expires_at for expiry and not for restore, marks it expired when its expire succeeds, and deletes it once", func(ctx SpecContext) {
		inst, b := boundBinding(ctx, `{}`)
		Expect(st.DB().ExecContext(ctx, `UPDATE bindings SET expires_at = now() - interval '1 second' WHERE id = $1`, b.ID)).Error().NotTo(HaveOccurred())
		ref := store.BindingRef{InstanceID: inst.ID, BindingID: b.ID}
		Expect(st.ExpiredBindings(ctx, 1000)).To(ContainElement(ref))
		Expect(st.BoundBindings(ctx, inst.Backend, time.Minute)).NotTo(ContainElement(ref))
		got, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Expired).To(BeTrue())
		Expect(st.DeleteExpiredBinding(ctx, inst.ID, b.ID)).To(MatchError(store.ErrNotFound), "a bound binding is not deleted so")

		op := newOperation(store.OpExpire, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingBound, op)).To(Succeed())
		Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(store.BindingBound), "bound while its expire is queued")
		Expect(st.Succeed(ctx, claim(ctx, "w", op.ID), nil)).To(Succeed())
		Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(store.BindingExpired))
		Expect(st.ExpiredBindings(ctx, 1000)).NotTo(ContainElement(ref))

		Expect(st.DeleteExpiredBinding(ctx, inst.ID, b.ID)).To(Succeed())
		_, err = st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).To(MatchError(store.ErrNotFound))
		Expect(st.DeleteExpiredBinding(ctx, inst.ID, b.ID)).To(MatchError(store.ErrNotFound))
	})

	It("keeps a binding bound when its expire fails, so that the next sweep lists it again", func(ctx SpecContext) {
		inst, b := boundBinding(ctx, `{}`)
		Expect(st.DB().ExecContext(ctx, `UPDATE bindings SET expires_at = now() WHERE id = $1`, b.ID)).Error().NotTo(HaveOccurred())
		op := newOperation(store.OpExpire, inst.ID, b.ID)
		Expect(st.StartBindingOperation(ctx, inst.ID, b.ID, store.BindingBound, op)).To(Succeed())
		Expect(st.Fail(ctx, claim(ctx, "w", op.ID), "the node refused")).To(Succeed())
		Expect(bindingState(ctx, inst.ID, b.ID)).To(Equal(store.BindingBound))
		Expect(st.ExpiredBindings(ctx, 1000)).To(ContainElement(store.BindingRef{InstanceID: inst.ID, BindingID: b.ID}))
	})
})
