package catalog_test

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/catalog"
)

var _ = Describe("Versions", func() {
	var c *catalog.Catalog

	BeforeEach(func() {
		cfg := minimalConfig()
		cfg.Backends[0].Nodes = []catalog.Node{
			{Name: "pg-1", URLEnv: "PG_URL", Versions: []string{"15", "16"}},
			{Name: "pg-2", URLEnv: "PG2_URL", Versions: []string{"16", "17"}},
			{Name: "pg-3", URLEnv: "PG3_URL", Plans: []string{"large"}, Versions: []string{"13"}},
		}
		cfg.Services[0].Plans[0].DefaultVersion = "16"
		var err error
		c, err = parseConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
	})

	plan := func(id string) catalog.Plan {
		p, _, ok := c.Plan(id)
		Expect(ok).To(BeTrue())
		return p
	}

	It("lists each version the nodes serving a plan offer, once, in catalog order", func() {
		Expect(c.Versions(plan("plan-1"))).To(Equal([]string{"15", "16", "17"}))
		Expect(c.Versions(plan("plan-2"))).To(Equal([]string{"15", "16", "17", "13"}))
	})

	It("takes the version parameter, else the plan's default", func() {
		Expect(catalog.Version(plan("plan-1"), map[string]any{"version": "15"})).To(Equal("15"))
		Expect(catalog.Version(plan("plan-1"), map[string]any{})).To(Equal("16"))
		Expect(catalog.Version(plan("plan-2"), nil)).To(Equal(""))
	})

	DescribeTable("CheckVersion",
		func(planID, params, problem string) {
			err := c.CheckVersion(plan(planID), json.RawMessage(params))
			if problem == "" {
				Expect(err).NotTo(HaveOccurred())
			} else {
				Expect(err).To(MatchError(problem))
			}
		},
		Entry("no parameters", "plan-1", ``, ""),
		Entry("no version", "plan-1", `{"other": 1}`, ""),
		Entry("an offered version", "plan-1", `{"version": "17"}`, ""),
		Entry("a version only a node of another plan offers", "plan-1", `{"version": "13"}`,
			"parameter version is not a version plan small offers; it offers 15, 16, 17"),
		Entry("a number", "plan-1", `{"version": 16}`, "parameter version must be a non-empty string"),
		Entry("an empty string", "plan-1", `{"version": ""}`, "parameter version must be a non-empty string"),
	)

	It("says so when a plan's nodes offer no versions at all", func() {
		cfg := minimalConfig()
		c, err := parseConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		p, _, _ := c.Plan("plan-1")
		Expect(c.CheckVersion(p, json.RawMessage(`{"version": "15"}`))).To(MatchError("plan small does not offer a choice of version"))
	})
})
