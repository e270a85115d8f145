package catalog_test

import (
	"errors"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/catalog"
)

var _ = Describe("maintenance_info", func() {
	DescribeTable("a plan's version must be a semantic version",
		func(version string, ok bool) {
			cfg := minimalConfig()
			cfg.Services[0].Plans[0].MaintenanceInfo = &catalog.MaintenanceInfo{Version: version, Description: "d"}
			c, err := parseConfig(cfg)
			if ok {
				Expect(err).NotTo(HaveOccurred())
				p, _, _ := c.Plan(cfg.Services[0].Plans[0].ID)
				Expect(p.MaintenanceVersion()).To(Equal(version))
				return
			}
			var invalid *catalog.ValidationError
			Expect(errors.As(err, &invalid)).To(BeTrue(), "%v", err)
			Expect(invalid.Problems).To(ConsistOf(ContainSubstring(`services[0] "pg": plans[0] "small": maintenance_info.version`)))
		},
		Entry("1.0.0", "1.0.0", true),
		Entry("a pre-release and a build", "2.10.3-rc.1+build.7", true),
		Entry("none", "", false),
		Entry("a Go module version with its v", "v1.0.0", false),
		Entry("two parts", "1.0", false),
		Entry("a leading zero", "1.02.0", false),
		Entry("a space", "1.0.0 ", false),
	)

	It("refuses a key other than version and description, naming it", func() {
		_, err := catalog.Parse([]byte(strings.Replace(minimal, "backend: pg-pool",
			"backend: pg-pool\n        maintenance_info: {version: 1.0.0, public: {a: b}}", 1)))
		Expect(err).To(MatchError(ContainSubstring(`maintenance_info: unknown key "public"`)))
	})

	It("refuses more than 2,000 characters of JSON", func() {
		cfg := minimalConfig()
		cfg.Services[0].Plans[0].MaintenanceInfo = &catalog.MaintenanceInfo{Version: "1.0.0", Description: strings.Repeat("x", 2000)}
		_, err := parseConfig(cfg)
		Expect(err).To(MatchError(ContainSubstring(`plans[0] "small": maintenance_info is 2036 bytes of JSON, more than the 2000`)))
	})

	It("is on every plan of the shipped catalog", func() {
		c, err := catalog.Load("../config/catalog.yml")
		Expect(err).NotTo(HaveOccurred())
		for _, s := range c.Services() {
			for _, p := range s.Plans {
				Expect(p.MaintenanceVersion()).NotTo(BeEmpty(), "plan %s of %s", p.Name, s.Name)
			}
		}
	})
})
