package backendtest

import (
	"context"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

// A Bound is a binding of a spec's instance with the credentials its bind returned.
type Bound struct {
	backends.Binding
	Credentials backends.Credentials
}

// Unbound are an adapter's checks of what an unbind of the first of two bindings did, made
// by the hold of ItUnbinds before the unbind and run after it, in this order.
type Unbound struct {
	// Ended checks that the session the first binding held was ended.
	Ended func(ctx context.Context)
	// Gone checks that the first binding's credentials no longer log in and that its login is
	// gone from the node.
	Gone func(ctx context.Context)
	// Kept checks that the other binding still works and finds what the first one wrote.
	Kept func(ctx context.Context)
}

// ItUnbinds registers the specs of Unbind that every adapter passes, on instances of
// provisioned. The spec named text binds an instance twice and hands both bindings to hold,
// which logs in with the first, holds a session of it and writes through it; then it unbinds
// the first binding, runs the checks hold returned, and unbinds it again, which must succeed
// as well. The other spec unbinds a binding that never existed, which succeeds.
func (s *Suite[A, B]) ItUnbinds(text string, provisioned func(context.Context) backends.Instance,
	hold func(ctx context.Context, inst backends.Instance, first, other Bound) Unbound) {
	ginkgo.It(text, func(ctx ginkgo.SpecContext) {
		inst := provisioned(ctx)
		first, other := s.bound(ctx, inst), s.bound(ctx, inst)
		unbound := hold(ctx, inst, first, other)

		gomega.Expect(s.Calls().Unbind(s.Logged(ctx), inst, first.Binding)).To(gomega.Succeed())

		unbound.Ended(ctx)
		unbound.Gone(ctx)
		unbound.Kept(ctx)
		gomega.Expect(s.Calls().Unbind(s.Logged(ctx), inst, first.Binding)).To(gomega.Succeed())
	})

	ginkgo.It("succeeds for a binding that never existed", func(ctx ginkgo.SpecContext) {
		inst := provisioned(ctx)
		gomega.Expect(s.Calls().Unbind(s.Logged(ctx), inst, NewBinding())).To(gomega.Succeed())
	})
}

func (s *Suite[A, B]) bound(ctx context.Context, inst backends.Instance) Bound {
	ginkgo.GinkgoHelper()
	b, creds := s.Bound(ctx, inst)
	return Bound{Binding: b, Credentials: creds}
}
