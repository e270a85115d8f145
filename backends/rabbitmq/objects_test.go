package rabbitmq_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

var _ = Describe("Objects", func() {
	suite.ItRemovesOrphans("rabbitmq-local", provisioned,
		func(_ context.Context, _ backends.Instance, b backendtest.Bound) {
			ch, err := mustDial(b.Credentials).Channel()
			Expect(err).NotTo(HaveOccurred())
			_, err = ch.QueueDeclare("kept", true, false, false, false, nil)
			Expect(err).NotTo(HaveOccurred())
		},
		func(_ context.Context, _ backends.Instance, b backendtest.Bound) {
			ch, err := mustDial(b.Credentials).Channel()
			Expect(err).NotTo(HaveOccurred())
			_, err = ch.QueueDeclarePassive("kept", true, false, false, false, nil)
			Expect(err).NotTo(HaveOccurred(), "the queue is still there")
		})
})
