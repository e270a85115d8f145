package backendtest

import (
	"context"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

// ItReportsUsage registers the spec of Usage that every adapter passes: an instance of
// provisioned into which data.Write put data through a binding reports, within a few seconds
// (RabbitMQ's management API samples), a figure named figure above zero; Usage changes
// nothing, so the binding still reads its data (data.Works).
func (s *Suite[A, B]) ItReportsUsage(provisioned func(context.Context) backends.Instance, data Data, figure string) {
	ginkgo.It("reports what an instance uses on its node", func(ctx ginkgo.SpecContext) {
		inst := provisioned(ctx)
		b := s.bound(ctx, inst)
		data.Write(ctx, inst, b)
		gomega.Eventually(func(g gomega.Gomega) {
			res, err := s.Calls().backend.Usage(s.Logged(ctx), backends.UsageRequest{Instance: inst})
			g.Expect(err).NotTo(gomega.HaveOccurred())
			g.Expect(res.Figures).To(gomega.ContainElement(gomega.SatisfyAll(
				gomega.HaveField("Name", figure), gomega.HaveField("Value", gomega.BeNumerically(">", 0)))))
		}, 15*time.Second, 500*time.Millisecond).Should(gomega.Succeed())
		data.Works(ctx, inst, b)
	})
}
