package backendtest

import (
	"context"

	"code.cloudfoundry.org/lager/v3/lagerctx"
	"code.cloudfoundry.org/lager/v3/lagertest"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// A Suite is the chassis of an adapter's suite: the server its node runs on, an admin login to
// it, the adapter under test, and a fresh test logger for every spec. NewSuite fills it in.
type Suite[A any, B backends.Backend] struct {
	// AdminURL is the admin URL of the suite's node.
	AdminURL string
	// Admin is the suite's own admin login to the node's server, for checking what the adapter did.
	Admin A
	// Backend is the adapter, with the node named local and the others of NewSuite.
	Backend B
	// Logger is this spec's test logger.
	Logger *lagertest.TestLogger

	kind string
	open func([]backends.Server) (B, error)
}

// NewSuite returns the chassis of the suite of the adapter of kind and registers its setup:
// before the suite, an admin login to server with admin, and the adapter opened with open (its
// package's New) on the node local, at server's URL, and on the nodes others make (made then,
// so that they may start listeners of the suite's own); before each spec, a new test logger.
// Both are released after the suite. A suite calls NewSuite once, at package level, in place
// of a BeforeSuite of its own.
func NewSuite[A any, B backends.Backend](
	kind string,
	server testkit.Server,
	admin func(testkit.TB, testkit.Server) A,
	open func([]backends.Server) (B, error),
	local string,
	others ...func() backends.Server,
) *Suite[A, B] {
	s := &Suite[A, B]{kind: kind, open: open}
	ginkgo.BeforeSuite(func() {
		s.AdminURL = server.URL()
		s.Admin = admin(ginkgo.GinkgoT(), server)
		servers := []backends.Server{{Name: local, AdminURL: s.AdminURL}}
		for _, node := range others {
			servers = append(servers, node())
		}
		s.Backend = testkit.OpenAdapter(ginkgo.GinkgoT(), open, local, servers...)
	})
	ginkgo.BeforeEach(func() {
		s.Logger = lagertest.NewTestLogger(kind + "-test")
	})
	return s
}

// Open opens another adapter of the suite's kind on servers, with its package's New, for a
// spec of its own, and closes it when the spec ends; the spec fails unless New accepts them.
// It does not connect, so that the nodes may be closed, hung or wrong.
func (s *Suite[A, B]) Open(servers ...backends.Server) B {
	ginkgo.GinkgoHelper()
	b, err := s.open(servers)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	ginkgo.DeferCleanup(b.Close)
	return b
}

// Node is a node named name at adminURL, for NewSuite.
func Node(name, adminURL string) func() backends.Server {
	return func() backends.Server { return backends.Server{Name: name, AdminURL: adminURL} }
}

// ClosedNode is a node named name where nothing listens, at scheme://user:ClosedNodePassword@
// 127.0.0.1:1 followed by rest, for NewSuite.
func ClosedNode(name, scheme, user, rest string) func() backends.Server {
	return Node(name, scheme+"://"+user+":"+ClosedNodePassword+"@127.0.0.1:1"+rest)
}

// HungNode listens on a free port of 127.0.0.1, accepts connections and never answers them, as
// a hung node would, until the spec (or, called outside one, the suite) ends. It returns the
// address.
func HungNode() string { return testkit.SilentListener(ginkgo.GinkgoT()) }

// Logged returns ctx carrying this spec's test logger, as the worker hands its session on.
func (s *Suite[A, B]) Logged(ctx context.Context) context.Context {
	return lagerctx.NewContext(ctx, s.Logger)
}

// Calls are the calls of the suite's adapter.
func (s *Suite[A, B]) Calls() Calls { return s.CallsOf(s.Backend) }

// CallsOf are the calls of b, an adapter of the suite's kind (such as one of Open's).
func (s *Suite[A, B]) CallsOf(b backends.Backend) Calls { return Call(s.kind, b) }

// Bound binds a NewBinding to inst, logged with this spec's logger, and returns it with its
// credentials; the spec fails unless the bind succeeds.
func (s *Suite[A, B]) Bound(ctx context.Context, inst backends.Instance) (backends.Binding, backends.Credentials) {
	ginkgo.GinkgoHelper()
	return s.Calls().Bound(s.Logged(ctx), inst)
}
