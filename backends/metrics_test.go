package backends_test

import (
	"context"
	"errors"

	"code.cloudfoundry.org/lager/v3/lagerctx"
	"code.cloudfoundry.org/lager/v3/lagertest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnibroker/omnibroker/backends"
)

// timings is how many calls m timed, by node, call and outcome, for the backend "main-pg".
func timings(m *backends.CallMetrics) map[[3]string]uint64 {
	GinkgoHelper()
	registry := prometheus.NewRegistry()
	Expect(registry.Register(m)).To(Succeed())
	families, err := registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	counts := map[[3]string]uint64{}
	for _, f := range families {
		Expect(f.GetName()).To(Equal("omnibroker_backend_call_duration_seconds"))
		for _, s := range f.Metric {
			labels := map[string]string{}
			for _, l := range s.Label {
				labels[l.GetName()] = l.GetValue()
			}
			Expect(labels).To(HaveKeyWithValue("backend", "main-pg"))
			Expect(labels).To(HaveLen(4), "backend, node, call and outcome; never an id")
			counts[[3]string{labels["node"], labels["call"], labels["outcome"]}] += s.Histogram.GetSampleCount()
		}
	}
	return counts
}

var _ = Describe("CallMetrics", func() {
	var (
		next *recorder
		ctx  context.Context
		inst = backends.Instance{ID: "inst-1", Node: "node-a", Plan: "small"}
		bnd  = backends.Binding{ID: "bind-1", Password: "pw"}
	)

	BeforeEach(func() {
		next = &recorder{}
		ctx = lagerctx.NewContext(context.Background(), lagertest.NewTestLogger("test"))
	})

	It("times each call on the node it goes to, by outcome, and forwards every method", func() {
		m := backends.NewCallMetrics()
		b := backends.Wrap(next, backends.Logging("postgres"), m.Middleware("main-pg"))
		Expect(b.Provision(ctx, backends.ProvisionRequest{Instance: inst})).Error().NotTo(HaveOccurred())
		Expect(b.Bind(ctx, backends.BindRequest{Instance: inst, Binding: bnd})).Error().NotTo(HaveOccurred())
		Expect(b.Ping(ctx, "node-b")).To(Succeed())
		Expect(b.CheckBinding(ctx, backends.CheckBindingRequest{Instance: inst, Binding: bnd})).Error().NotTo(HaveOccurred())
		Expect(b.LosesBindings()).To(BeTrue())
		Expect(b.ListObjects(ctx, backends.ListObjectsRequest{Node: "node-b"})).Error().NotTo(HaveOccurred())
		Expect(b.Owned(backends.OwnedRequest{Instance: inst}).Instance).To(HaveLen(1))
		Expect(b.Usage(ctx, backends.UsageRequest{Instance: inst})).Error().NotTo(HaveOccurred())
		orphan := backends.Object{Kind: backends.ObjectUser, Name: "ob_x"}
		Expect(b.RemoveObject(ctx, backends.RemoveObjectRequest{Node: "node-b", Object: orphan})).To(Succeed())

		next.err = errors.New("connection refused")
		Expect(b.Update(ctx, backends.UpdateRequest{Instance: inst})).Error().To(HaveOccurred())
		next.err = backends.Permanent("node node-a is gone", nil)
		Expect(b.Deprovision(ctx, backends.DeprovisionRequest{Instance: inst})).To(HaveOccurred())
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		Expect(b.Unbind(cancelled, backends.UnbindRequest{Instance: inst, Binding: bnd})).To(HaveOccurred())
		Expect(b.Close()).To(HaveOccurred())

		Expect(next.calls).To(Equal([]string{"provision", "bind", "ping", "check-binding", "loses-bindings",
			"list-objects", "owned", "usage", "remove-object", "update", "deprovision", "unbind", "close"}))
		Expect(timings(m)).To(Equal(map[[3]string]uint64{
			{"node-a", "provision", "ok"}:          1,
			{"node-a", "bind", "ok"}:               1,
			{"node-b", "ping", "ok"}:               1,
			{"node-a", "check_binding", "ok"}:      1,
			{"node-b", "list_objects", "ok"}:       1,
			{"node-b", "remove_object", "ok"}:      1,
			{"node-a", "usage", "ok"}:              1,
			{"node-a", "update", "transient"}:      1,
			{"node-a", "deprovision", "permanent"}: 1,
			{"node-a", "unbind", "cancelled"}:      1,
		}))
	})
})
