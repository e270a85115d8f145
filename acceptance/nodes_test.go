package acceptance_test

import (
	"encoding/json"
	"net/http"
	"os/user"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// nodeListed is one node as `omnibroker nodes --json` lists it.
type nodeListed struct {
	Name      string `json:"name"`
	Backend   string `json:"backend"`
	Placed    int    `json:"placed"`
	Capacity  int    `json:"capacity"`
	Reachable bool   `json:"reachable"`
	Reason    string `json:"reason"`
	Drain     *struct {
		DrainedBy string `json:"drained_by"`
		Reason    string `json:"reason"`
	} `json:"drain"`
}

// runNodes runs `omnibroker nodes ARGS` against state with env on top of the suite's.
func runNodes(state stateDB, env map[string]string, args ...string) (int, string) {
	GinkgoHelper()
	s := runOperator(state, env, append([]string{"nodes"}, args...)...)
	return s.ExitCode(), string(s.Out.Contents())
}

// listNodes is `omnibroker nodes --json`, by node name.
func listNodes(state stateDB, env map[string]string) (int, map[string]nodeListed) {
	GinkgoHelper()
	code, out := runNodes(state, env, "--json")
	var listed struct {
		Nodes []nodeListed `json:"nodes"`
	}
	Expect(json.Unmarshal([]byte(out), &listed)).To(Succeed(), out)
	byName := map[string]nodeListed{}
	for _, n := range listed.Nodes {
		byName[n.Name] = n
	}
	return code, byName
}

var _ = Describe("omnibroker nodes", func() {
	It("lists every node; a drained node takes no new instance on any replica, at once and across restarts (a replica started later), and keeps serving its own", func() {
		redisBPort := freePort()
		startRedisServer(redisBPort)
		env := withAdmin(poolEnv(freePort(), redisBPort))
		b := startBroker(newStateDB(), env)
		c := b.client()
		provisioned := func() string {
			id := newID()
			c.provisionReady(id, pooledPG, nil)
			DeferCleanup(c.deprovisionGone, id, pooledPG)
			return id
		}
		onA := provisioned()
		Expect(nodeOf(b, onA)).To(Equal("pg-a"), "a tie goes to the node listed first")

		By("draining pg-a with the CLI while the broker runs")
		code, out := runNodes(b.state, env, "drain", "pg-a", "--reason", "retiring the server")
		Expect(code).To(Equal(0), out)
		Expect(out).To(ContainSubstring("node pg-a takes no new instances"))
		code, out = runNodes(b.state, env, "drain", "pg-a")
		Expect(code).To(Equal(1), "drained already: %s", out)

		By("placing the next two on pg-b, where without the drain the second would go to pg-a")
		Expect([]string{nodeOf(b, provisioned()), nodeOf(b, provisioned())}).To(Equal([]string{"pg-b", "pg-b"}))
		bindingID := newID()
		c.bindReady(onA, bindingID, pooledPG, newID())
		c.unbindGone(onA, bindingID, pooledPG)

		By("listing the nodes: placed, capacity, the drain and who made it, and a node that does not answer")
		me, err := user.Current()
		Expect(err).NotTo(HaveOccurred())
		code, nodes := listNodes(b.state, env)
		Expect(code).To(Equal(1), "redis-down does not answer")
		Expect(nodes["pg-a"]).To(SatisfyAll(HaveField("Placed", 1), HaveField("Capacity", 3), HaveField("Reachable", true),
			HaveField("Drain.DrainedBy", me.Username), HaveField("Drain.Reason", "retiring the server")))
		Expect(nodes["pg-b"]).To(SatisfyAll(HaveField("Placed", 2), HaveField("Drain", BeNil())))
		Expect(nodes["redis-down"]).To(SatisfyAll(HaveField("Reachable", false), HaveField("Reason", ContainSubstring("redis-down"))))
		Expect(nodes).To(HaveKey("rabbitmq-b"))

		By("refusing a new instance once both nodes of its plan are drained, on a replica started after the drains")
		code, out = runNodes(b.state, env, "drain", "pg-b")
		Expect(code).To(Equal(0), out)
		late := startBroker(b.state, env).client()
		refused := newID()
		r := late.provision(refused, provisionBody(pooledPG, nil), true)
		last := late.awaitInstance(refused, pooledPG, operationOf(r))
		Expect(last.str("state")).To(Equal("failed"))
		Expect(last.str("description")).To(ContainSubstring("drained of new instances"))
		late.deprovisionGone(refused, pooledPG)

		By("undraining pg-a through the operator API: new instances go there again")
		admin := b.adminClient()
		r = admin.do(http.MethodPost, "/admin/v1/nodes/pg-a/undrain", nil, nil)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		Expect(nodeOf(b, provisioned())).To(Equal("pg-a"))
		r = admin.do(http.MethodPost, "/admin/v1/nodes/pg-a/undrain", nil, nil)
		Expect(r.Status).To(Equal(http.StatusConflict), r.String())
		r = admin.do(http.MethodPost, "/admin/v1/nodes/no-such-node/drain", nil, map[string]string{"reason": "x"})
		Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
		Expect(repairsOf(b)).To(ContainElements(
			SatisfyAll(HaveField("Action", "nodes drain"), HaveField("Target", "pg-a"), HaveField("Via", "cli"),
				HaveField("RequestedBy", me.Username), HaveField("Outcome", "done")),
			SatisfyAll(HaveField("Action", "nodes drain"), HaveField("Target", "pg-a"), HaveField("Outcome", "refused")),
			SatisfyAll(HaveField("Action", "nodes undrain"), HaveField("Target", "pg-a"), HaveField("Via", "api"),
				HaveField("RequestedBy", adminUsername), HaveField("Outcome", "done")),
		))
		code, out = runNodes(b.state, env, "undrain", "pg-b")
		Expect(code).To(Equal(0), out)
	})

	It("names an unknown node as a usage error", func() {
		code, _ := runNodes(newStateDB(), nil, "drain", "no-such-node")
		Expect(code).To(Equal(2))
	})
})
