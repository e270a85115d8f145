package acceptance_test

import (
	"encoding/json"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// catalogCheck is what `omnibroker catalog check --json` prints.
type catalogCheck struct {
	Valid        bool   `json:"valid"`
	StateChecked bool   `json:"state_checked"`
	Unchecked    string `json:"unchecked"`
	Findings     []struct {
		Kind        string   `json:"kind"`
		Backend     string   `json:"backend"`
		Node        string   `json:"node"`
		PlanID      string   `json:"plan_id"`
		Version     string   `json:"version"`
		Instances   int      `json:"instances"`
		InstanceIDs []string `json:"instance_ids"`
		Sentence    string   `json:"sentence"`
	} `json:"findings"`
}

// edited is yaml with from replaced by to, once; from must be there.
func edited(yaml, from, to string) string {
	GinkgoHelper()
	Expect(yaml).To(ContainSubstring(from))
	return strings.Replace(yaml, from, to, 1)
}

var _ = Describe("omnibroker catalog check against live state", Ordered, func() {
	const pgNode = "      - name: pg-local\n        url_env: OMNIBROKER_POSTGRES_URL\n        capacity: 1000\n"
	var (
		state stateDB
		// served is the catalog the broker serves: the suite's, with pg-local offering
		// version 16.
		served                 string
		versioned, unversioned string // an instance of quick2 in version 16, one of quick in none
		serving                *broker
	)

	BeforeAll(func() {
		served = edited(catalogYAML, pgNode, pgNode+"        versions: [\"16\"]\n")
		state = newStateDB()
		serving = startBroker(state, withAdmin(map[string]string{"OMNIBROKER_CONFIG": writeCatalog(served)}))
		cf := serving.client()
		versioned, unversioned = newID(), newID()
		cf.provisionReady(versioned, quick2Plan, map[string]any{"version": "16"})
		DeferCleanup(cf.deprovisionGone, versioned, quick2Plan)
		cf.provisionReady(unversioned, quickPlan, nil)
		DeferCleanup(cf.deprovisionGone, unversioned, quickPlan)
	})

	// check runs `catalog check --json` on yaml against the broker's state database.
	check := func(yaml string) (int, catalogCheck) {
		GinkgoHelper()
		s := runBinary(map[string]string{"DATABASE_URL": state.url}, "catalog", "check", "--json", writeCatalog(yaml))
		var report catalogCheck
		Expect(json.Unmarshal(s.Out.Contents(), &report)).To(Succeed(), "stdout is one JSON report: %s", s.Out.Contents())
		Expect(report.Valid).To(BeTrue())
		Expect(report.StateChecked).To(BeTrue(), "checked against the state database: %s", report.Unchecked)
		return s.ExitCode(), report
	}

	It("exits 0 when the file serves every live instance as it runs", func() {
		code, report := check(served)
		Expect(code).To(Equal(0))
		Expect(report.Findings).To(BeEmpty())

		s := runBinary(map[string]string{"DATABASE_URL": state.url}, "catalog", "check", writeCatalog(served))
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("it serves every live instance in the state database"))
	})

	DescribeTable("names what the file takes away from a live instance, and exits 1",
		func(edit func(yaml string) string, kind string, ids func() []string, sentence string) {
			code, report := check(edit(served))
			Expect(code).To(Equal(1))
			Expect(report.Findings).To(HaveLen(1))
			Expect(report.Findings[0].Kind).To(Equal(kind))
			Expect(report.Findings[0].Backend).To(Equal("postgres"))
			Expect(report.Findings[0].InstanceIDs).To(ConsistOf(ids()))
			Expect(report.Findings[0].Instances).To(Equal(len(ids())))
			Expect(report.Findings[0].Sentence).To(Equal(sentence))
		},
		Entry("its plan removed", func(y string) string {
			quick2 := y[strings.Index(y, "      - id: "+quick2PlanID+"\n"):strings.Index(y, "      - id: "+asyncPlanID+"\n")]
			Expect(quick2).To(ContainSubstring("name: quick2\n"))
			return edited(y, quick2, "")
		}, "plan-removed", func() []string { return []string{versioned} },
			"plan "+quick2PlanID+" is not in the catalog but has 1 live instance on backend postgres: they can be unbound and deleted, no longer bound or updated"),
		Entry("its node removed", func(y string) string {
			return edited(y, "      - name: pg-local\n", "      - name: pg-elsewhere\n")
		}, "node-removed", func() []string { return []string{versioned, unversioned} },
			"node pg-local is not among the nodes of backend postgres but has 2 live instances: no operation on them can reach it, their deletion included"),
		Entry("its node's capacity below what is placed", func(y string) string {
			return edited(y, pgNode, strings.Replace(pgNode, "capacity: 1000", "capacity: 1", 1))
		}, "over-capacity", func() []string { return []string{versioned, unversioned} },
			"node pg-local of backend postgres has capacity 1 but 2 instances placed on it: it takes no new ones"),
		Entry("the version it runs dropped", func(y string) string {
			return edited(y, `versions: ["16"]`, `versions: ["17"]`)
		}, "version-dropped", func() []string { return []string{versioned} },
			"node pg-local of backend postgres no longer offers version 16 but has 1 live instance of plan quick2 in it"),
	)

	It("prints each finding as a line of text naming the instances", func() {
		s := runBinary(map[string]string{"DATABASE_URL": state.url}, "catalog", "check",
			writeCatalog(edited(served, `versions: ["16"]`, `versions: ["17"]`)))
		Expect(s.ExitCode()).To(Equal(1))
		Expect(string(s.Out.Contents())).To(ContainSubstring("the catalog is valid\n"))
		Expect(string(s.Out.Contents())).To(ContainSubstring("version-dropped: node pg-local of backend postgres no longer offers version 16 but has 1 live instance of plan quick2 in it (instance " + versioned + ")\n"))
	})

	It("checks the file alone, saying so on stderr, without a state database or when it does not answer", func() {
		path := writeCatalog(edited(served, `versions: ["16"]`, `versions: ["17"]`))
		for env, why := range map[string]string{
			"":                          "DATABASE_URL is not set",
			"postgres://127.0.0.1:1/db": "the state database cannot be reached",
		} {
			s := runBinary(map[string]string{"DATABASE_URL": env}, "catalog", "check", path)
			Expect(s.ExitCode()).To(Equal(0), why)
			Expect(string(s.Out.Contents())).To(Equal(path + ": the catalog is valid\n"))
			Expect(string(s.Err.Contents())).To(MatchRegexp(`^omnibroker catalog check: the file alone is checked, not against live instances: .*%s.*\n$`, why))
		}
	})

	It("is logged by serve at start-up, which goes on serving, and answered by the operator API", func() {
		b := startBroker(state, withAdmin(map[string]string{"OMNIBROKER_CONFIG": writeCatalog(edited(served, `versions: ["16"]`, `versions: ["17"]`))}))
		var strands []logLine
		for _, line := range brokerLog(b) {
			if line.Message == "omnibroker.catalog-strands-instances" {
				strands = append(strands, line)
			}
		}
		Expect(strands).To(HaveLen(1), "one line per finding")
		Expect(strands[0].Level).To(Equal("error"))
		Expect(strands[0].Data).To(HaveKeyWithValue("kind", "version-dropped"))
		Expect(strands[0].Data).To(HaveKeyWithValue("node", "pg-local"))
		Expect(strands[0].Data).To(HaveKeyWithValue("instance-ids", ConsistOf(versioned)))
		Expect(strands[0].Data).To(HaveKeyWithValue("error", ContainSubstring("no longer offers version 16")))
		Expect(b.client().catalog().Status).To(Equal(200), "it goes on serving")

		By("answering the same on GET /admin/v1/catalog/check, and nothing for the catalog the first broker serves")
		for _, c := range []struct {
			b     *broker
			found []string
		}{{b, []string{"version-dropped"}}, {serving, nil}} {
			r := c.b.adminClient().do(http.MethodGet, "/admin/v1/catalog/check", nil, nil)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			var answer struct {
				catalogCheck
				Found bool `json:"found"`
			}
			Expect(json.Unmarshal(r.Raw, &answer)).To(Succeed())
			Expect(answer.Found).To(Equal(len(c.found) > 0))
			Expect(answer.Findings).To(HaveLen(len(c.found)))
			for i, kind := range c.found {
				Expect(answer.Findings[i].Kind).To(Equal(kind))
				Expect(answer.Findings[i].InstanceIDs).To(ConsistOf(versioned))
			}
		}
		expectSessionHasNoSecrets(b.session)
	})
})
