package backendtest

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// bindingPassword is the password of the binding the calls of ItFailsOnUnreachableNodes bind;
// no error and no log line may show it.
const bindingPassword = "Bx7kQ2mZ9pR4tW1vY6nC3hJ8sD5fG0aL"

// ItFailsOnUnreachableNodes registers the specs of an adapter's calls on a node it cannot
// reach, for each call that talks to the node (NodeCalls, an update with a binding, and the
// entries more makes for the instance), made for an instance on that node and a binding with a password of
// its own:
//   - on unknown, a node the adapter does not know, each call fails for good, with the
//     sentence that says so;
//   - on closed, a node where nothing listens, each call fails for a retry, with the sentence
//     that the node refused the connection; neither the error nor the log shows the admin's
//     password, the binding's, or urlPart, a part of the admin URL (its scheme "://", or its
//     login "user:" where the driver's errors name the URL without it).
func (s *Suite[A, B]) ItFailsOnUnreachableNodes(unknown, closed, urlPart string, more ...func(inst backends.Instance) ginkgo.TableEntry) {
	calls := func(node string) []ginkgo.TableEntry {
		inst := backends.Instance{ID: "some-id", Node: node}
		// The update hands on a binding, so that every adapter has a login to set on the node.
		entries := append(NodeCalls(s.kind, inst, bindingPassword), ginkgo.Entry("update", NodeCall(func(ctx context.Context, b backends.Backend) error {
			_, err := b.Update(ctx, backends.UpdateRequest{Instance: inst, FromPlan: "small", Bindings: []backends.Binding{{ID: "b", Password: bindingPassword}}})
			return err
		})))
		for _, m := range more {
			entries = append(entries, m(inst))
		}
		return entries
	}
	ginkgo.When("the instance is on a node this backend does not know", func() {
		ginkgo.DescribeTable("fails permanently, naming the node",
			func(ctx ginkgo.SpecContext, call NodeCall) {
				err := call(s.Logged(ctx), s.Backend)
				gomega.Expect(backends.IsPermanent(err)).To(gomega.BeTrue(), "%v", err)
				gomega.Expect(Description(err)).To(gomega.Equal("node " + unknown + " is not configured in this broker's " + s.kind + " backend"))
			},
			calls(unknown),
		)
	})

	ginkgo.When("the node refuses connections", func() {
		ginkgo.DescribeTable("fails for a retry, saying so in plain words and without the admin's or the binding's password",
			func(ctx ginkgo.SpecContext, call NodeCall) {
				err := call(s.Logged(ctx), s.Backend)
				gomega.Expect(err).To(gomega.HaveOccurred())
				gomega.Expect(backends.IsPermanent(err)).To(gomega.BeFalse(), "%v", err)
				gomega.Expect(Description(err)).To(gomega.Equal("node " + closed + " refused the connection"))
				log := string(s.Logger.Buffer().Contents())
				for _, secret := range []string{ClosedNodePassword, bindingPassword} {
					ExpectHidden(err.Error(), secret, "the error")
					ExpectHidden(log, secret, "the log")
				}
				gomega.Expect(strings.Contains(err.Error(), urlPart)).To(gomega.BeFalse(), "the error shows the admin URL")
				gomega.Expect(strings.Contains(log, urlPart)).To(gomega.BeFalse(), "the log shows the admin URL")
			},
			calls(closed),
		)
	})
}

// UntrustedCAFile writes the certificate of a CA of its own, which signed no node's
// certificate, to a file of the spec's, and returns its path: a node's ca_file that does not
// vouch for the node.
func UntrustedCAFile() string {
	ginkgo.GinkgoHelper()
	path := filepath.Join(ginkgo.GinkgoT().TempDir(), "other-ca.pem")
	testkit.NewCA(ginkgo.GinkgoT()).WriteFile(ginkgo.GinkgoT(), path)
	return path
}

// ExpectUntrusted checks what b says of node, whose TLS certificate a CA other than the node's
// ca_file signed (UntrustedCAFile): Ping, and a Provision on it, fail with the sentence that
// names the node and says so, as a failure a retry may get past (an operator fixes the
// ca_file), and neither the error nor the spec's log shows secret, the admin's password.
func (s *Suite[A, B]) ExpectUntrusted(ctx context.Context, b backends.Backend, node, secret string) {
	ginkgo.GinkgoHelper()
	sentence := backends.UntrustedCertificate.Sentence(node, "")
	gomega.Expect(Description(b.Ping(ctx, node))).To(gomega.Equal(sentence))
	inst := backends.Instance{ID: uuid.NewString(), Node: node, Plan: "small", Parameters: map[string]any{}}
	err := s.CallsOf(b).Provision(s.Logged(ctx), inst)
	gomega.Expect(Description(err)).To(gomega.Equal(sentence))
	gomega.Expect(backends.IsPermanent(err)).To(gomega.BeFalse(), "an operator can fix the ca_file, and a retry then succeeds")
	ExpectHidden(err.Error(), secret, "the error")
	ExpectHidden(string(s.Logger.Buffer().Contents()), secret, "the log")
}
