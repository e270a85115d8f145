package redis_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

var _ = Describe("Objects", func() {
	suite.ItRemovesOrphans("redis-local", provisioned,
		func(ctx context.Context, inst backends.Instance, b backendtest.Bound) {
			Expect(mustLogin(ctx, b.Credentials).Set(ctx, keyPrefix(inst)+"note", "kept", 0).Err()).To(Succeed())
		},
		func(ctx context.Context, inst backends.Instance, b backendtest.Bound) {
			Expect(mustLogin(ctx, b.Credentials).Get(ctx, keyPrefix(inst)+"note").Val()).To(Equal("kept"))
		})
})
