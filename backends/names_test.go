package backends_test

import (
	"crypto/sha256"
	"encoding/hex"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

var _ = Describe("UserName", func() {
	It("is ob_ and 26 base32 characters of both ids, within MySQL's 32, and differs for every pair of ids", func() {
		a := backends.UserName("instance", backends.Binding{ID: "binding"})
		Expect(a).To(MatchRegexp(`^ob_[a-z2-7]{26}$`))
		Expect(backends.UserName("instance", backends.Binding{ID: "binding2"})).NotTo(Equal(a))
		Expect(backends.UserName("instance2", backends.Binding{ID: "binding"})).NotTo(Equal(a))
		// The ids are separated, so moving a character from one to the other changes the name.
		Expect(backends.UserName("instanceb", backends.Binding{ID: "inding"})).NotTo(Equal(a))
	})

	It("keeps, for a binding recorded before, the name made then: 48 bits of the instance's id and 48 of both", func() {
		hash := func(s string) string {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		}
		Expect(backends.UserName("instance", backends.Binding{ID: "binding", LegacyName: true})).
			To(Equal("ob_" + hash("instance\x00")[:12] + "_" + hash("instance\x00binding\x00")[:12]))
	})
})

var _ = Describe("IsName and IsUserName", func() {
	It("tell the broker's names from others, so that an operator's own objects are never orphans", func() {
		Expect(backends.IsName("ob_", backends.Name("ob_", "instance"))).To(BeTrue())
		Expect(backends.IsName("ob_o_", backends.Name("ob_o_", "instance"))).To(BeTrue())
		Expect(backends.IsName("ob_", backends.Name("ob_o_", "instance"))).To(BeFalse())
		Expect(backends.IsName("ob_", "ob_test_database")).To(BeFalse())
		Expect(backends.IsUserName(backends.UserName("i", backends.Binding{ID: "b"}))).To(BeTrue())
		Expect(backends.IsUserName(backends.UserName("i", backends.Binding{ID: "b", LegacyName: true}))).To(BeTrue())
		Expect(backends.IsUserName("ob_admin")).To(BeFalse())
		Expect(backends.IsUserName(backends.Name("ob_", "instance"))).To(BeFalse())
	})
})
