package operator_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"

	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

// checkedYAML is the catalog the comparison's specs check live instances against: backend pg
// with three nodes (pg-1 serves every plan in 15 and 16 and takes two instances, pg-2 only
// plan small in 16, pg-3 every plan in 15), and backend cache.
const checkedYAML = `services:
  - id: svc-pg
    name: pg
    description: d
    bindable: true
    plans:
      - {id: plan-small, name: small, description: d, backend: pg, default_version: "16"}
      - {id: plan-large, name: large, description: d, backend: pg}
  - id: svc-cache
    name: cache
    description: d
    bindable: true
    plans:
      - {id: plan-cache, name: cache, description: d, backend: cache}
backends:
  - name: pg
    kind: postgres
    nodes:
      - {name: pg-1, url_env: PG1_URL, versions: ["15", "16"], capacity: 2}
      - {name: pg-2, url_env: PG2_URL, plans: [small], versions: ["16"]}
      - {name: pg-3, url_env: PG3_URL, versions: ["15"]}
  - name: cache
    kind: redis
    nodes:
      - {name: cache-1, url_env: CACHE1_URL}
`

// used is a row of store.InstanceUsage: n instances of plan on node of backend that asked
// for version, in state, with ids id-1 … id-n.
func used(backend, node, plan, version string, state store.InstanceState, ids ...string) store.Usage {
	return store.Usage{Backend: backend, Node: node, PlanID: plan, Version: version, State: state,
		Instances: len(ids), InstanceIDs: ids}
}

var _ = Describe("CompareCatalog", func() {
	var cat *catalog.Catalog
	BeforeEach(func() {
		var err error
		cat, err = catalog.Parse([]byte(checkedYAML))
		Expect(err).NotTo(HaveOccurred())
	})

	It("finds nothing when the catalog serves every instance as it runs", func() {
		Expect(operator.CompareCatalog(cat, []store.Usage{
			used("pg", "pg-1", "plan-small", "", store.InstanceReady, "a", "b"),
			used("pg", "pg-2", "plan-small", "16", store.InstanceUpdating, "c"),
			used("pg", "pg-3", "plan-large", "15", store.InstanceDeprovisioning, "d"),
			used("pg", "", "plan-large", "17", store.InstanceProvisioning, "e"),
			used("cache", "cache-1", "plan-cache", "", store.InstanceReady, "f"),
		})).To(BeEmpty())
		Expect(operator.CompareCatalog(cat, nil)).To(BeEmpty())
	})

	DescribeTable("names what the catalog takes away from live instances, and which",
		func(u store.Usage, kind operator.FindingKind, fields Fields, sentence string) {
			found := operator.CompareCatalog(cat, []store.Usage{u})
			Expect(found).To(HaveLen(1))
			fields["Kind"] = Equal(kind)
			fields["Instances"] = Equal(u.Instances)
			fields["InstanceIDs"] = Equal([]string(u.InstanceIDs))
			fields["Sentence"] = Equal(sentence)
			Expect(found[0]).To(MatchFields(IgnoreExtras, fields))
		},
		Entry("a backend removed", used("mysql", "my-1", "plan-my", "", store.InstanceReady, "a"),
			operator.FindingBackendRemoved, Fields{"Backend": Equal("mysql"), "Node": BeEmpty()},
			"backend mysql is not in the catalog but has 1 live instance: no operation on them can run, their deletion included"),
		Entry("a node removed", used("pg", "pg-9", "plan-small", "", store.InstanceDeleteFailed, "a", "b"),
			operator.FindingNodeRemoved, Fields{"Backend": Equal("pg"), "Node": Equal("pg-9")},
			"node pg-9 is not among the nodes of backend pg but has 2 live instances: no operation on them can reach it, their deletion included"),
		Entry("a plan removed", used("pg", "", "plan-gone", "", store.InstanceProvisioning, "a"),
			operator.FindingPlanRemoved, Fields{"PlanID": Equal("plan-gone"), "Plan": BeEmpty()},
			"plan plan-gone is not in the catalog but has 1 live instance on backend pg: they can be unbound and deleted, no longer bound or updated"),
		Entry("a plan moved to another backend", used("pg", "pg-1", "plan-cache", "", store.InstanceReady, "a"),
			operator.FindingPlanMoved, Fields{"PlanID": Equal("plan-cache"), "Plan": Equal("cache")},
			"plan cache now names another backend but has 1 live instance on backend pg: they stay there and can no longer change plan"),
		Entry("a plan the node no longer serves", used("pg", "pg-2", "plan-large", "", store.InstanceReady, "a"),
			operator.FindingPlanNotServed, Fields{"Node": Equal("pg-2"), "Plan": Equal("large")},
			"node pg-2 of backend pg no longer serves plan large but has 1 live instance of it"),
		Entry("a version the node no longer offers", used("pg", "pg-1", "plan-large", "14", store.InstanceReady, "a"),
			operator.FindingVersionDropped, Fields{"Node": Equal("pg-1"), "Version": Equal("14")},
			"node pg-1 of backend pg no longer offers version 14 but has 1 live instance of plan large in it"),
		Entry("the plan's default version, which an instance that asked for none runs, no longer offered",
			used("pg", "pg-3", "plan-small", "", store.InstanceReady, "a"),
			operator.FindingVersionDropped, Fields{"Node": Equal("pg-3"), "Version": Equal("16")},
			"node pg-3 of backend pg no longer offers version 16 but has 1 live instance of plan small in it"),
	)

	It("does not count failed provisions for what is removed, but counts every placed instance against a node's capacity", func() {
		found := operator.CompareCatalog(cat, []store.Usage{
			used("mysql", "my-1", "plan-my", "", store.InstanceFailed, "a"),
			used("pg", "pg-9", "plan-small", "", store.InstanceFailed, "b"),
			used("pg", "pg-1", "plan-gone", "", store.InstanceFailed, "c"),
			used("pg", "pg-1", "plan-large", "14", store.InstanceFailed, "d"),
			used("pg", "pg-1", "plan-small", "", store.InstanceReady, "e", "f"),
		})
		Expect(found).To(HaveLen(1))
		Expect(found[0]).To(MatchFields(IgnoreExtras, Fields{
			"Kind": Equal(operator.FindingOverCapacity), "Backend": Equal("pg"), "Node": Equal("pg-1"),
			"Capacity": Equal(2), "Placed": Equal(4), "Instances": Equal(4),
			"InstanceIDs": Equal([]string{"c", "d", "e", "f"}),
			"Sentence":    Equal("node pg-1 of backend pg has capacity 2 but 4 instances placed on it: it takes no new ones"),
		}))
	})

	It("adds up the instances of one finding, keeps a few of their ids, and lists what stops every operation first", func() {
		found := operator.CompareCatalog(cat, []store.Usage{
			used("pg", "pg-2", "plan-gone", "", store.InstanceReady, "a", "b", "c"),
			used("pg", "pg-2", "plan-gone", "", store.InstanceUpdating, "d", "e", "f"),
			used("pg", "pg-9", "plan-small", "", store.InstanceReady, "g"),
		})
		Expect(found).To(HaveLen(2))
		Expect(found[0].Kind).To(Equal(operator.FindingNodeRemoved))
		Expect(found[1].Kind).To(Equal(operator.FindingPlanRemoved))
		Expect(found[1].Instances).To(Equal(6))
		Expect(found[1].InstanceIDs).To(Equal([]string{"a", "b", "c", "d", "e"}))
		Expect(found[1].Sentence).To(ContainSubstring("6 live instances on backend pg"))
	})
})
