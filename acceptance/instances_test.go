package acceptance_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/user"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// instanceListed is one instance as `omnibroker instances --json` lists it, and as
// `instances show --json` shows it (then with its bindings and last operation in full).
type instanceListed struct {
	ID            string `json:"id"`
	Plan          string `json:"plan"`
	Node          string `json:"node"`
	State         string `json:"state"`
	LastOperation struct {
		ID          string `json:"id"`
		Kind        string `json:"kind"`
		State       string `json:"state"`
		Description string `json:"description"`
	} `json:"last_operation"`
}

// instanceShown is `omnibroker instances show ID --json`.
type instanceShown struct {
	instanceListed
	Bindings []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"bindings"`
	Usage []struct {
		Name  string `json:"name"`
		Value int64  `json:"value"`
	} `json:"usage"`
}

// purgeAnswer is `omnibroker instances purge ID --json` and the operator API's answer.
type purgeAnswer struct {
	Repair struct {
		Action      string `json:"action"`
		Outcome     string `json:"outcome"`
		OperationID string `json:"operation_id"`
		Detail      string `json:"detail"`
	} `json:"repair"`
	Operation struct {
		State string `json:"state"`
	} `json:"operation"`
	Forgotten struct {
		Bindings  []string      `json:"binding_ids"`
		MayBeLeft []orphanFound `json:"may_be_left"`
	} `json:"forgotten"`
}

// runInstances runs `omnibroker instances ARGS` against state, with env on top of the suite's,
// and returns its exit status and stdout.
func runInstances(state stateDB, env map[string]string, args ...string) (int, string) {
	GinkgoHelper()
	s := runOperator(state, env, append([]string{"instances"}, args...)...)
	return s.ExitCode(), string(s.Out.Contents())
}

// listInstances is `omnibroker instances --json ARGS`, by id.
func listInstances(state stateDB, args ...string) (int, map[string]instanceListed) {
	GinkgoHelper()
	code, out := runInstances(state, nil, append([]string{"--json"}, args...)...)
	var listed struct {
		Instances []instanceListed `json:"instances"`
	}
	Expect(json.Unmarshal([]byte(out), &listed)).To(Succeed(), out)
	byID := map[string]instanceListed{}
	for _, i := range listed.Instances {
		byID[i.ID] = i
	}
	return code, byID
}

// showInstance is `omnibroker instances show ID --json`.
func showInstance(state stateDB, id string) (int, instanceShown) {
	GinkgoHelper()
	code, out := runInstances(state, nil, "show", id, "--json")
	var shown instanceShown
	Expect(json.Unmarshal([]byte(out), &shown)).To(Succeed(), out)
	return code, shown
}

// nowhere is an admin URL of the suite's MariaDB node at a port nothing listens on.
func nowhere() map[string]string {
	return map[string]string{"OMNIBROKER_MYSQL_URL": fmt.Sprintf("mysql://root:n0t-the-Pa55word@127.0.0.1:%d/", freePort())}
}

var _ = Describe("omnibroker instances", func() {
	It("lists and shows an instance stuck in delete_failed, refuses to purge it while its node is down or without an answer, and purges it through the queue once the node answers: its database and users gone, its rows gone, and the platform's DELETE answers 410", func(ctx SpecContext) {
		state := newStateDB()
		id, bindingID := newID(), newID()
		healthy := startBroker(state, nil)
		cf := healthy.client()
		cf.provisionReady(id, mysqlPlan, nil)
		cf.bindReady(id, bindingID, mysqlPlan, newID())
		readyID := newID()
		cf.provisionReady(readyID, redisPlan, nil)
		// A Redis instance without bindings or keys has nothing on its node; the last broker deletes it.
		healthy.stop()
		db, login := backendName("ob_", id), loginName(id, bindingID)
		admin := mysqlAdmin()
		DeferCleanup(admin.Close)
		Expect(mysqlCount(admin, `SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, db)).To(Equal(1))

		By("deleting it through a broker that cannot reach its node: delete_failed")
		env := nowhere()
		env["OMNIBROKER_MAX_ATTEMPTS"] = "1"
		broken := startBroker(state, env)
		r := broken.client().deprovision(id, mysqlPlan, true)
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		last := broken.client().awaitInstance(id, mysqlPlan, operationOf(r))
		Expect(last.str("state")).To(Equal("failed"), last.String())
		broken.stop()

		By("listing it with --node and --state, and not under another node or state")
		code, listed := listInstances(state, "--node", "mysql-local", "--state", "delete_failed")
		Expect(code).To(Equal(1), "an instance to act on")
		Expect(listed).To(HaveLen(1))
		Expect(listed[id]).To(SatisfyAll(HaveField("Plan", "mysql"), HaveField("State", "delete_failed"),
			HaveField("LastOperation.Kind", "deprovision"), HaveField("LastOperation.State", "failed")))
		code, listed = listInstances(state, "--state", "ready")
		Expect(code).To(Equal(0))
		Expect(listed).To(HaveKey(readyID))
		Expect(listed).NotTo(HaveKey(id))
		_, listed = listInstances(state, "--node", "redis-local", "--plan", "redis")
		Expect(listed).To(SatisfyAll(HaveKey(readyID), Not(HaveKey(id))))
		code, _ = runInstances(state, nil, "--state", "stuck")
		Expect(code).To(Equal(2), "a state that is not one")

		By("showing its binding and its last operation")
		code, shown := showInstance(state, id)
		Expect(code).To(Equal(1))
		Expect(shown.Node).To(Equal("mysql-local"))
		Expect(shown.Bindings).To(ConsistOf(SatisfyAll(HaveField("ID", bindingID), HaveField("State", "bound"))))
		Expect(shown.LastOperation).To(SatisfyAll(HaveField("ID", operationOf(r)), HaveField("Kind", "deprovision"),
			HaveField("State", "failed"), HaveField("Description", ContainSubstring("mysql-local"))))
		Expect(shown.Usage).To(ConsistOf(HaveField("Name", "database size")), "what the node says it uses (0 bytes: it has no tables)")
		code, text := runInstances(state, nil, "show", id)
		Expect(code).To(Equal(1))
		Expect(text).To(SatisfyAll(ContainSubstring(bindingID), ContainSubstring("delete_failed"), ContainSubstring("deprovision failed"),
			MatchRegexp(`usage +database size \d+ bytes`)))

		By("refusing to purge it while its node does not answer, and without --yes when no one can answer")
		code, out := runInstances(state, nowhere(), "purge", id, "--yes")
		Expect(code).To(Equal(3), out)
		Expect(out).To(ContainSubstring("forget"))
		Expect(out).NotTo(ContainSubstring("n0t-the-Pa55word"))
		code, out = runInstances(state, nil, "purge", id)
		Expect(code).To(Equal(3), out)
		_, shown = showInstance(state, id)
		Expect(shown.State).To(Equal("delete_failed"), "nothing changed")

		By("purging it with --yes once the node answers")
		code, out = runInstances(state, nil, "purge", id, "--yes")
		Expect(code).To(Equal(0), out)
		Expect(out).To(ContainSubstring("purged"))
		Expect(mysqlCount(admin, `SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, db)).To(BeZero(), "the database")
		Expect(mysqlCount(admin, `SELECT count(*) FROM mysql.user WHERE User = ?`, login)).To(BeZero(), "the binding's user")
		rows := state.open()
		Expect(count(rows, `SELECT count(*) FROM instances WHERE id = $1`, id)).To(BeZero())
		Expect(count(rows, `SELECT count(*) FROM bindings WHERE instance_id = $1`, id)).To(BeZero())
		code, _ = runInstances(state, nil, "show", id)
		Expect(code).To(Equal(2), "no such instance")

		By("answering the platform's DELETE with 410, and recording the repairs")
		after := startBroker(state, withAdmin(nil))
		r = after.client().deprovision(id, mysqlPlan, true)
		Expect(r.Status).To(Equal(http.StatusGone), r.String())
		me, err := user.Current()
		Expect(err).NotTo(HaveOccurred())
		Expect(repairsOf(after)).To(ContainElements(
			SatisfyAll(HaveField("Action", "instances purge"), HaveField("Target", id), HaveField("Outcome", "refused")),
			SatisfyAll(HaveField("Action", "instances purge"), HaveField("Target", id), HaveField("RequestedBy", me.Username),
				HaveField("Via", "cli"), HaveField("Outcome", "queued"), HaveField("OperationState", "succeeded")),
		))
		after.client().deprovisionGone(readyID, redisPlan)
	})

	It("forgets an instance whose node does not answer: its rows go, it prints what may be left, orphans lists that, and DELETE answers 410", func() {
		state := newStateDB()
		b := startBroker(state, nil)
		cf := b.client()
		id, bindingID := newID(), newID()
		cf.provisionReady(id, mysqlPlan, nil)
		cf.bindReady(id, bindingID, mysqlPlan, newID())
		left := []string{loginName(id, bindingID), backendName("ob_", id)}
		DeferCleanup(func() {
			for _, name := range left {
				orphans(state, nil, "--backend", "mysql", "--object", name, "--purge", "--yes")
			}
		})

		By("forgetting it with a command that cannot reach the node")
		code, out := runInstances(state, nowhere(), "purge", id, "--forget", "--yes", "--json")
		Expect(code).To(Equal(0), out)
		var answer purgeAnswer
		Expect(json.Unmarshal([]byte(out), &answer)).To(Succeed(), out)
		Expect(answer.Repair).To(SatisfyAll(HaveField("Action", "instances forget"), HaveField("Outcome", "done")))
		Expect(answer.Forgotten.Bindings).To(ConsistOf(bindingID))
		Expect(names(answer.Forgotten.MayBeLeft)).To(ConsistOf(left))
		code, out = runInstances(state, nowhere(), "show", id)
		Expect(code).To(Equal(2), out)
		rows := state.open()
		Expect(count(rows, `SELECT count(*) FROM bindings WHERE instance_id = $1`, id)).To(BeZero())

		By("listing what was left as orphans")
		code, report := orphans(state, nil, "--backend", "mysql", "--object", left[0])
		Expect(code).To(Equal(1))
		Expect(names(report.Orphans)).To(ConsistOf(left[0]))
		_, report = orphans(state, nil, "--backend", "mysql", "--object", left[1])
		Expect(names(report.Orphans)).To(ConsistOf(left[1]))

		By("answering the platform's DELETE with 410")
		r := cf.deprovision(id, mysqlPlan, true)
		Expect(r.Status).To(Equal(http.StatusGone), r.String())
	})

	It("lists, shows (with the keys the node counts), purges and forgets through the operator API", func(ctx SpecContext) {
		b := startBroker(newStateDB(), withAdmin(nil))
		cf, admin := b.client(), b.adminClient()
		purged, forgotten, bindingID := newID(), newID(), newID()
		cf.provisionReady(purged, redisPlan, nil)
		creds := cf.bindReady(purged, bindingID, redisPlan, newID())
		for _, k := range []string{"a", "b"} {
			Expect(redisLogin(ctx, creds.str("uri")).Set(ctx, redisKeyPrefix(purged)+k, "v", 0).Err()).To(Succeed())
		}
		cf.provisionReady(forgotten, mysqlPlan, nil)
		left := backendName("ob_", forgotten)
		DeferCleanup(func() { orphans(b.state, nil, "--backend", "mysql", "--object", left, "--purge", "--yes") })

		r := admin.do(http.MethodGet, "/admin/v1/instances", map[string][]string{"plan": {"redis"}, "state": {"ready"}}, nil)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		var listed struct {
			Instances []instanceListed `json:"instances"`
		}
		Expect(json.Unmarshal(r.Raw, &listed)).To(Succeed())
		Expect(listed.Instances).To(ConsistOf(HaveField("ID", purged)))
		r = admin.do(http.MethodGet, "/admin/v1/instances/"+purged, nil, nil)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		var shown instanceShown
		Expect(json.Unmarshal(r.Raw, &shown)).To(Succeed())
		Expect(shown.Bindings).To(ConsistOf(HaveField("ID", bindingID)))
		Expect(shown.LastOperation).To(SatisfyAll(HaveField("Kind", "provision"), HaveField("State", "succeeded")))
		Expect(shown.Usage).To(ConsistOf(SatisfyAll(HaveField("Name", "keys"), HaveField("Value", BeEquivalentTo(2)))))

		By("purging one through the queue, which the broker's workers run")
		r = admin.do(http.MethodPost, "/admin/v1/instances/"+purged+"/purge", nil, map[string]bool{"forget": false})
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		Eventually(func() int {
			return admin.do(http.MethodGet, "/admin/v1/instances/"+purged, nil, nil).Status
		}, 30*time.Second).Should(Equal(http.StatusNotFound))
		Expect(redisUsers(ctx, redisAdmin())).NotTo(ContainElement(loginName(purged, bindingID)), "the binding's ACL user")
		Expect(cf.deprovision(purged, redisPlan, true).Status).To(Equal(http.StatusGone))

		By("forgetting the other")
		r = admin.do(http.MethodPost, "/admin/v1/instances/"+forgotten+"/purge", nil, map[string]bool{"forget": true})
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		var answer purgeAnswer
		Expect(json.Unmarshal(r.Raw, &answer)).To(Succeed())
		Expect(names(answer.Forgotten.MayBeLeft)).To(ConsistOf(left))
		Expect(cf.deprovision(forgotten, mysqlPlan, true).Status).To(Equal(http.StatusGone))
		r = admin.do(http.MethodPost, "/admin/v1/instances/"+forgotten+"/purge", nil, nil)
		Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
		Expect(repairsOf(b)).To(ContainElements(
			SatisfyAll(HaveField("Action", "instances purge"), HaveField("Target", purged), HaveField("Via", "api"),
				HaveField("RequestedBy", adminUsername), HaveField("OperationState", "succeeded")),
			SatisfyAll(HaveField("Action", "instances forget"), HaveField("Target", forgotten), HaveField("Outcome", "done")),
		))
	})
})
