package fault_test

import (
	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagertest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/fault"
)

var _ = Describe("Fault points", func() {
	DescribeTable("which log lines a point fires on",
		func(point, message string, fires bool) {
			died := false
			s, err := fault.NewSink(point, func() { died = true })
			Expect(err).NotTo(HaveOccurred())
			s.Log(lager.LogFormat{Message: message})
			Expect(died).To(Equal(fires))
		},
		Entry(nil, fault.Queued, "omnibroker.provision.queued", true),
		Entry(nil, fault.Queued, "omnibroker.unbind.queued-again", true),
		Entry(nil, fault.Queued, "omnibroker.provision.store-create-instance-failed", false),
		Entry(nil, fault.Queued, "omnibroker.operation.redis-bind.queued", false),
		Entry(nil, fault.InsideBackendCall, "omnibroker.operation.postgres-provision.owner-role-created", true),
		Entry(nil, fault.InsideBackendCall, "omnibroker.operation.mysql-unbind.sessions-killed", true),
		Entry(nil, fault.InsideBackendCall, "omnibroker.operation.postgres-provision.done", false),
		Entry(nil, fault.InsideBackendCall, "omnibroker.operation.postgres-provision.failed", false),
		Entry(nil, fault.InsideBackendCall, "omnibroker.operation.claimed", false),
		Entry(nil, fault.InsideBackendCall, "omnibroker.provision.queued", false),
		Entry(nil, fault.AfterBackendCall, "omnibroker.operation.rabbitmq-deprovision.done", true),
		Entry(nil, fault.AfterBackendCall, "omnibroker.operation.postgres-bind.binding-role-created", false),
		Entry(nil, fault.AfterBackendCall, "omnibroker.operation.succeeded", false),
		Entry(nil, fault.AfterBackendCall, "omnibroker.operation.redis-bind.cancelled", false),
	)

	It("refuses a point it does not know, naming those it does", func() {
		_, err := fault.NewSink("after-commit", func() {})
		Expect(err).To(MatchError(ContainSubstring(fault.AfterBackendCall)))
	})

	It("registers nothing when no point is named", func() {
		logger := lagertest.NewTestLogger("test")
		Expect(fault.Arm(logger, "")).To(Succeed())
		logger.Info("provision.queued")
		Expect(logger.LogMessages()).To(ConsistOf("test.provision.queued"))
	})
})
