package postgres_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

var _ = Describe("Objects", func() {
	suite.ItRemovesOrphans("pg-local",
		func(ctx context.Context) backends.Instance { return provisioned(ctx, nil) },
		func(ctx context.Context, _ backends.Instance, b backendtest.Bound) {
			backendtest.WriteNote(ctx, mustLogin(ctx, b.Credentials))
		},
		func(ctx context.Context, _ backends.Instance, b backendtest.Bound) {
			backendtest.ExpectNote(ctx, mustLogin(ctx, b.Credentials))
		})
})
