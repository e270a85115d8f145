package backendtest

import (
	"context"
	"slices"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

// Data are an adapter's steps for ItRemovesOrphans: Write puts data into inst through b's
// login, and Works checks that b still logs in and reads it back.
type Data struct {
	Write, Works func(ctx context.Context, inst backends.Instance, b Bound)
}

// ItRemovesOrphans registers the specs of ListObjects, RemoveObject and Owned that every
// adapter passes, on instances of provisioned on node. The first makes a live instance and an
// orphan behind the broker's back (an instance and a binding made through the adapter that no
// state records), each with data that data.Write puts there through its binding; it finds both in
// ListObjects, named as Owned names them, removes the orphan's objects one by one in the
// listed order, and then finds them gone, removes them again (which succeeds) and checks with
// data.Works that the live binding still logs in and reads what it wrote. The second asks
// for objects without the broker's naming, which RemoveObject refuses for good.
func (s *Suite[A, B]) ItRemovesOrphans(node string, provisioned func(context.Context) backends.Instance,
	data Data) {
	ginkgo.It("lists an orphan next to a live instance, and removes the orphan's objects alone", func(ctx ginkgo.SpecContext) {
		live, orphan := provisioned(ctx), provisioned(ctx)
		liveB, orphanB := s.bound(ctx, live), s.bound(ctx, orphan)
		data.Write(ctx, live, liveB)
		data.Write(ctx, orphan, orphanB)
		liveObjects := s.owned(live, liveB)
		orphanObjects := s.owned(orphan, orphanB)

		listed := s.list(ctx, node)
		gomega.Expect(listed).To(gomega.ContainElements(liveObjects))
		gomega.Expect(listed).To(gomega.ContainElements(orphanObjects))

		var removed []backends.Object
		for _, o := range listed {
			if slices.Contains(orphanObjects, o) {
				gomega.Expect(s.remove(ctx, node, o)).To(gomega.Succeed(), "remove %s", o)
				removed = append(removed, o)
			}
		}
		gomega.Expect(removed).To(gomega.ConsistOf(orphanObjects))

		listed = s.list(ctx, node)
		for _, o := range orphanObjects {
			gomega.Expect(listed).NotTo(gomega.ContainElement(o))
			gomega.Expect(s.remove(ctx, node, o)).To(gomega.Succeed(), "remove %s again", o)
		}
		gomega.Expect(listed).To(gomega.ContainElements(liveObjects))
		data.Works(ctx, live, liveB)
	})

	ginkgo.It("refuses for good to remove what does not carry the broker's naming", func(ctx ginkgo.SpecContext) {
		for _, kind := range []backends.ObjectKind{backends.ObjectDatabase, backends.ObjectRole,
			backends.ObjectUser, backends.ObjectKeyPrefix, backends.ObjectVhost} {
			for _, name := range []string{"postgres", "ob_admin", backends.Name("ob_x_", "instance")} {
				err := s.remove(ctx, node, backends.Object{Kind: kind, Name: name})
				gomega.Expect(backends.IsPermanent(err)).To(gomega.BeTrue(), "remove %s %s: %v", kind, name, err)
			}
		}
	})
}

// owned are the objects Owned names for inst and b, those it may lack included.
func (s *Suite[A, B]) owned(inst backends.Instance, b Bound) []backends.Object {
	res := s.Backend.Owned(backends.OwnedRequest{Instance: inst, Bindings: []backends.Binding{b.Binding}})
	gomega.Expect(res.Bindings).To(gomega.HaveKey(b.ID))
	return append(append(res.Instance, res.Kept...), res.Bindings[b.ID]...)
}

func (s *Suite[A, B]) list(ctx context.Context, node string) []backends.Object {
	ginkgo.GinkgoHelper()
	res, err := s.Calls().backend.ListObjects(s.Logged(ctx), backends.ListObjectsRequest{Node: node})
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return res.Objects
}

func (s *Suite[A, B]) remove(ctx context.Context, node string, o backends.Object) error {
	return s.Calls().backend.RemoveObject(s.Logged(ctx), backends.RemoveObjectRequest{Node: node, Object: o})
}
