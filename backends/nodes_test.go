package backends_test

import (
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

var _ = Describe("OpenNodes", func() {
	var closed []string
	open := func(s backends.Server) (string, error) {
		if s.AdminURL == "bad" {
			return "", errors.New("node " + s.Name + ": admin URL is not a URL")
		}
		return s.Name, nil
	}
	closeNode := func(n string) error { closed = append(closed, n); return nil }

	BeforeEach(func() { closed = nil })

	It("finds each node by name, and refuses an unknown one permanently, naming it", func() {
		ns, err := backends.OpenNodes("kind", []backends.Server{{Name: "a"}, {Name: "b"}}, open, closeNode)
		Expect(err).NotTo(HaveOccurred())
		Expect(ns.Get("b")).To(Equal("b"))
		_, err = ns.Get("c")
		Expect(backends.IsPermanent(err)).To(BeTrue())
		Expect(err).To(MatchError(ContainSubstring(`unknown kind node "c"`)))
		Expect(ns.Close()).To(Succeed())
		Expect(closed).To(ConsistOf("a", "b"))
	})

	DescribeTable("refuses a bad list, closing what it opened",
		func(servers []backends.Server, problem string) {
			_, err := backends.OpenNodes("kind", servers, open, closeNode)
			Expect(err).To(MatchError(problem))
			Expect(closed).To(ConsistOf("a"))
		},
		Entry("a node without a name", []backends.Server{{Name: "a"}, {}}, "a kind node has no name"),
		Entry("a node listed twice", []backends.Server{{Name: "a"}, {Name: "a"}}, `kind node "a" is listed twice`),
		Entry("a node that does not open", []backends.Server{{Name: "a"}, {Name: "b", AdminURL: "bad"}}, "node b: admin URL is not a URL"),
	)
})
