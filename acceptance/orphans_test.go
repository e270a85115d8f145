package acceptance_test

import (
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// orphansReport is what `omnibroker orphans --json` prints.
type orphansReport struct {
	Orphans   []orphanFound `json:"orphans"`
	Missing   []orphanFound `json:"missing"`
	Unchecked []struct {
		Node   string `json:"node"`
		Reason string `json:"reason"`
	} `json:"unchecked"`
	Repairs []struct {
		State string `json:"state"`
	} `json:"repairs"`
}

type orphanFound struct {
	Node       string `json:"node"`
	InstanceID string `json:"instance_id"`
	BindingID  string `json:"binding_id"`
	Restorable bool   `json:"restorable"`
	Object     struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"object"`
}

func names(found []orphanFound) []string {
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = f.Object.Name
	}
	return out
}

// orphans runs `omnibroker orphans --json` with args against state and returns its exit
// status and report.
func orphans(state stateDB, env map[string]string, args ...string) (int, orphansReport) {
	GinkgoHelper()
	s := runOperator(state, env, append([]string{"orphans", "--json"}, args...)...)
	var report orphansReport
	out := s.Out.Contents()
	Expect(json.Unmarshal(out, &report)).To(Succeed(), "stdout is one JSON report: %s", out)
	return s.ExitCode(), report
}

// forget deletes instance id, its bindings and its operations from the state database behind
// the broker's back, as a restore of an older backup loses them.
func forget(state stateDB, id string) {
	GinkgoHelper()
	db := state.open()
	for _, stmt := range []string{`DELETE FROM operations WHERE instance_id = $1`,
		`DELETE FROM bindings WHERE instance_id = $1`, `DELETE FROM instances WHERE id = $1`} {
		_, err := db.Exec(stmt, id)
		Expect(err).NotTo(HaveOccurred())
	}
}

var _ = Describe("omnibroker orphans", func() {
	// The shared servers hold the objects of every suite running at once, each with a state
	// database of its own, so the specs purge only their own orphans (--object).
	DescribeTable("finds the objects of an instance the state database forgot next to a live one, purges them through the queue and leaves the live one alone",
		func(ctx SpecContext, p plan, backend string, objects func(id, bindingID string) []string) {
			state := newStateDB()
			cf := startBroker(state, nil).client()
			liveID, liveBinding := newID(), newID()
			cf.provisionReady(liveID, p, nil)
			DeferCleanup(cf.deprovisionGone, liveID, p)
			cf.bindReady(liveID, liveBinding, p, newID())
			DeferCleanup(cf.unbindGone, liveID, liveBinding, p)

			By("forgetting a second instance and its binding behind the broker's back")
			goneID, goneBinding := newID(), newID()
			cf.provisionReady(goneID, p, nil)
			creds := cf.bindReady(goneID, goneBinding, p, newID())
			if backend == "redis" { // a key prefix is there only while it holds keys
				Expect(redisLogin(ctx, creds.str("uri")).Set(ctx, redisKeyPrefix(goneID)+"k", "v", 0).Err()).To(Succeed())
			}
			forget(state, goneID)
			orphaned := objects(goneID, goneBinding)
			DeferCleanup(func() { // what a failed spec left behind
				for _, name := range orphaned {
					orphans(state, nil, "--backend", backend, "--object", name, "--purge", "--yes")
				}
			})

			By("listing them as orphans, and nothing of the live instance")
			code, report := orphans(state, nil, "--backend", backend)
			Expect(code).To(Equal(1), "found something to act on")
			Expect(names(report.Orphans)).To(ContainElements(orphaned))
			Expect(names(report.Orphans)).NotTo(ContainElements(objects(liveID, liveBinding)))
			Expect(report.Missing).To(BeEmpty())
			Expect(report.Unchecked).To(BeEmpty())

			By("refusing to purge without --yes when no one can answer")
			code, _ = orphans(state, nil, "--backend", backend, "--object", orphaned[0], "--purge")
			Expect(code).To(Equal(3))

			By("purging each one with --yes")
			for _, name := range orphaned {
				code, report := orphans(state, nil, "--backend", backend, "--object", name, "--purge", "--yes")
				Expect(code).To(Equal(0), "%s purged", name)
				Expect(report.Repairs).To(HaveLen(1))
				Expect(report.Repairs[0].State).To(Equal("succeeded"))
			}
			_, report = orphans(state, nil, "--backend", backend)
			Expect(names(report.Orphans)).NotTo(ContainElements(orphaned))
			Expect(report.Missing).To(BeEmpty(), "the live instance and binding keep every object")
		},
		Entry("on PostgreSQL: the database, the binding role and the owner role", quickPlan, "postgres",
			func(id, b string) []string {
				return []string{backendName("ob_", id), backendName("ob_b_", id, b), backendName("ob_o_", id)}
			}),
		Entry("on MySQL: the user and the database", mysqlPlan, "mysql",
			func(id, b string) []string { return []string{loginName(id, b), backendName("ob_", id)} }),
		Entry("on Redis: the ACL user and the key prefix", redisPlan, "redis",
			func(id, b string) []string { return []string{loginName(id, b), redisKeyPrefix(id)} }),
		Entry("on RabbitMQ: the user and the vhost", rabbitPlan, "rabbitmq",
			func(id, b string) []string { return []string{loginName(id, b), backendName("ob_", id)} }),
	)

	It("finds a live binding whose login was dropped by hand and makes it again with its password", func(ctx SpecContext) {
		state := newStateDB()
		cf := startBroker(state, nil).client()
		id, bindingID := newID(), newID()
		cf.provisionReady(id, mysqlPlan, nil)
		DeferCleanup(cf.deprovisionGone, id, mysqlPlan)
		creds := cf.bindReady(id, bindingID, mysqlPlan, newID())
		DeferCleanup(cf.unbindGone, id, bindingID, mysqlPlan)
		rememberSecret("the restored binding's password", creds.str("password"))
		user := loginName(id, bindingID)
		_, err := mysqlAdmin().Exec("DROP USER `" + user + "`@'%'")
		Expect(err).NotTo(HaveOccurred())

		code, report := orphans(state, nil, "--backend", "mysql", "--object", user)
		Expect(code).To(Equal(1))
		Expect(report.Missing).To(HaveLen(1))
		Expect(report.Missing[0].BindingID).To(Equal(bindingID))
		Expect(report.Missing[0].Restorable).To(BeTrue())

		code, report = orphans(state, nil, "--backend", "mysql", "--object", user, "--restore")
		Expect(code).To(Equal(0))
		Expect(report.Repairs).To(HaveLen(1))
		Expect(report.Repairs[0].State).To(Equal("succeeded"))
		app, err := mysqlTryLogin(ctx, creds.str("uri"))
		Expect(err).NotTo(HaveOccurred(), "the app logs in again with the credentials it has")
		Expect(app.PingContext(ctx)).To(Succeed())
	})

	It("reports a node that does not answer as unchecked, and exits 3", func() {
		state := newStateDB()
		startBroker(state, nil)
		s := runOperator(state, map[string]string{"OMNIBROKER_REDIS_URL": "redis://omnibroker:n0t-the-Pa55word@127.0.0.1:1"},
			"orphans", "--backend", "redis")
		Expect(s).To(gexec.Exit(3))
		Expect(string(s.Out.Contents())).To(ContainSubstring("unchecked: node redis-local of backend redis"))
		Expect(strings.Contains(string(s.Out.Contents())+string(s.Err.Contents()), "n0t-the-Pa55word")).To(BeFalse(), "the admin URL's password appears")
	})
})
