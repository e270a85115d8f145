package store_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("GetBindingWithInstance", func() {
	It("reads a binding, its secrets unsealed, with its instance in one round trip", func(ctx SpecContext) {
		inst, b := boundBinding(ctx, `{"password":"p"}`)
		got, gotInst, err := st.GetBindingWithInstance(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		want, err := st.GetBinding(ctx, inst.ID, b.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(want))
		Expect(got.Password).To(Equal(b.Password))
		Expect(gotInst.ID).To(Equal(inst.ID))
		Expect(gotInst.PlanID).To(Equal(inst.PlanID))
		Expect(gotInst.State).To(Equal(store.InstanceReady))

		_, _, err = st.GetBindingWithInstance(ctx, inst.ID, "no-such-binding")
		Expect(err).To(MatchError(store.ErrNotFound))
	})
})
