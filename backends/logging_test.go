package backends_test

import (
	"context"
	"errors"
	"strings"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"
	"code.cloudfoundry.org/lager/v3/lagertest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

// recorder is a Backend that records the calls that reach it, logs one step on the logger it
// is handed, and fails with err.
type recorder struct {
	calls []string
	err   error
	lost  bool
}

func (r *recorder) called(ctx context.Context, call string) {
	r.calls = append(r.calls, call)
	lagerctx.FromContext(ctx).Info("step")
}

func (r *recorder) Provision(ctx context.Context, _ backends.ProvisionRequest) (backends.ProvisionResponse, error) {
	r.called(ctx, "provision")
	return backends.ProvisionResponse{}, r.err
}

func (r *recorder) Update(ctx context.Context, _ backends.UpdateRequest) (backends.UpdateResponse, error) {
	r.called(ctx, "update")
	return backends.UpdateResponse{}, r.err
}

func (r *recorder) Deprovision(ctx context.Context, _ backends.DeprovisionRequest) error {
	r.called(ctx, "deprovision")
	return r.err
}

func (r *recorder) Bind(ctx context.Context, req backends.BindRequest) (backends.BindResponse, error) {
	r.called(ctx, "bind")
	return backends.BindResponse{Credentials: backends.Credentials{"password": req.Binding.Password}}, r.err
}

func (r *recorder) Unbind(ctx context.Context, _ backends.UnbindRequest) error {
	r.called(ctx, "unbind")
	return r.err
}

func (r *recorder) LosesBindings() bool { r.calls = append(r.calls, "loses-bindings"); return true }

func (r *recorder) CheckBinding(ctx context.Context, _ backends.CheckBindingRequest) (backends.CheckBindingResponse, error) {
	r.calls = append(r.calls, "check-binding")
	return backends.CheckBindingResponse{Lost: r.lost}, r.err
}

func (r *recorder) Ping(context.Context, string) error {
	r.calls = append(r.calls, "ping")
	return r.err
}
func (r *recorder) ListObjects(context.Context, backends.ListObjectsRequest) (backends.ListObjectsResponse, error) {
	r.calls = append(r.calls, "list-objects")
	return backends.ListObjectsResponse{Objects: []backends.Object{{Kind: backends.ObjectUser, Name: "ob_x"}}}, r.err
}

func (r *recorder) RemoveObject(ctx context.Context, _ backends.RemoveObjectRequest) error {
	r.called(ctx, "remove-object")
	return r.err
}

func (r *recorder) Owned(backends.OwnedRequest) backends.OwnedResponse {
	r.calls = append(r.calls, "owned")
	return backends.OwnedResponse{Instance: []backends.Object{{Kind: backends.ObjectVhost, Name: "ob_v"}}}
}

func (r *recorder) Usage(context.Context, backends.UsageRequest) (backends.UsageResponse, error) {
	r.calls = append(r.calls, "usage")
	return backends.UsageResponse{Figures: []backends.Figure{{Name: "keys", Value: 2}}}, r.err
}

func (r *recorder) Close() error { r.calls = append(r.calls, "close"); return r.err }

var _ = Describe("Logging", func() {
	const password = "Zq8vK3mW7pR2tY5nB9cX4hJ6sD1fG0aL"
	var (
		next   *recorder
		logger *lagertest.TestLogger
		ctx    context.Context
		inst   = backends.Instance{ID: "inst-1", Node: "node-a", Plan: "small", Parameters: map[string]any{"secret": password}}
		bnd    = backends.Binding{ID: "bind-1", Password: password}
	)

	BeforeEach(func() {
		next = &recorder{}
		logger = lagertest.NewTestLogger("test")
		ctx = lagerctx.NewContext(context.Background(), logger)
	})

	logsOf := func() []lager.LogFormat { return logger.Logs() }

	It("gives each call a session named for the kind and the call, with the request's ids, on which the adapter logs its steps", func() {
		b := backends.Wrap(next, backends.Logging("kind"))
		_, err := b.Update(ctx, backends.UpdateRequest{Instance: inst, FromPlan: "tiny"})
		Expect(err).NotTo(HaveOccurred())
		res, err := b.Bind(ctx, backends.BindRequest{Instance: inst, Binding: bnd})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Credentials["password"] == password).To(BeTrue(), "the response passes through")

		logs := logsOf()
		Expect(logs).To(HaveLen(4))
		Expect(logs[0].Message).To(Equal("test.kind-update.step"))
		Expect(logs[1].Message).To(Equal("test.kind-update.done"))
		Expect(logs[1].Data).To(HaveKeyWithValue("instance-id", "inst-1"))
		Expect(logs[1].Data).To(HaveKeyWithValue("node", "node-a"))
		Expect(logs[1].Data).To(HaveKeyWithValue("plan", "small"))
		Expect(logs[1].Data).To(HaveKeyWithValue("from-plan", "tiny"))
		Expect(logs[3].Message).To(Equal("test.kind-bind.done"))
		Expect(logs[3].Data).To(HaveKeyWithValue("binding-id", "bind-1"))
		Expect(strings.Contains(string(logger.Buffer().Contents()), password)).To(BeFalse(), "the log shows the password or the parameters")
	})

	It("ends the session with the failure and whether it is permanent, or with cancelled", func() {
		next.err = backends.Permanent("node node-a is gone", errors.New("gone"))
		b := backends.Wrap(next, backends.Logging("kind"))
		Expect(b.Deprovision(ctx, backends.DeprovisionRequest{Instance: inst})).To(MatchError(next.err))
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		Expect(b.Unbind(cancelled, backends.UnbindRequest{Instance: inst, Binding: bnd})).To(HaveOccurred())

		logs := logsOf()
		Expect(logs[1].Message).To(Equal("test.kind-deprovision.failed"))
		Expect(logs[1].LogLevel).To(Equal(lager.ERROR))
		Expect(logs[1].Data).To(HaveKeyWithValue("permanent", true))
		Expect(logs[3].Message).To(Equal("test.kind-unbind.cancelled"))
	})

	It("forwards every method of the contract, so that nothing is lost behind it", func() {
		next.lost = true
		b := backends.Wrap(next, backends.Logging("outer"), backends.Logging("inner"))
		Expect(b.Provision(ctx, backends.ProvisionRequest{Instance: inst})).Error().NotTo(HaveOccurred())
		Expect(b.LosesBindings()).To(BeTrue())
		check, err := b.CheckBinding(ctx, backends.CheckBindingRequest{Instance: inst, Binding: bnd})
		Expect(err).NotTo(HaveOccurred())
		Expect(check.Lost).To(BeTrue())
		Expect(b.Ping(ctx, "node-a")).To(Succeed())
		listed, err := b.ListObjects(ctx, backends.ListObjectsRequest{Node: "node-a"})
		Expect(err).NotTo(HaveOccurred())
		Expect(listed.Objects).To(HaveLen(1))
		Expect(b.Owned(backends.OwnedRequest{Instance: inst}).Instance).To(HaveLen(1))
		usage, err := b.Usage(ctx, backends.UsageRequest{Instance: inst})
		Expect(err).NotTo(HaveOccurred())
		Expect(usage.Figures).To(HaveLen(1))
		orphan := backends.Object{Kind: backends.ObjectDatabase, Name: "ob_0123"}
		Expect(b.RemoveObject(ctx, backends.RemoveObjectRequest{Node: "node-a", Object: orphan})).To(Succeed())
		Expect(b.Close()).To(Succeed())
		Expect(next.calls).To(Equal([]string{"provision", "loses-bindings", "check-binding", "ping",
			"list-objects", "owned", "usage", "remove-object", "close"}))

		logs := logsOf()
		Expect(logs).To(HaveLen(6), "CheckBinding, Ping, ListObjects, Owned and Usage are not logged")
		Expect(logs[4].Message).To(Equal("test.outer-remove-object.inner-remove-object.done"))
		Expect(logs[4].Data).To(HaveKeyWithValue("object", "ob_0123"))
		Expect(logs[5].Data).To(HaveKeyWithValue("object-kind", "database"))
		Expect(logs[0].Message).To(Equal("test.outer-provision.inner-provision.step"), "the first middleware is the outermost")
	})
})
