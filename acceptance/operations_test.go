package acceptance_test

import (
	"encoding/json"
	"net/http"
	"os/user"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// listedOperation is an operation as `omnibroker operations --json` and the operator API list it.
type listedOperation struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	InstanceID  string `json:"instance_id"`
	BindingID   string `json:"binding_id"`
	State       string `json:"state"`
	Attempt     int    `json:"attempt"`
	MaxAttempts int    `json:"max_attempts"`
	Node        string `json:"node"`
	Description string `json:"description"`
	Latest      bool   `json:"latest"`
}

type operationList struct {
	Operations []listedOperation `json:"operations"`
	Found      bool              `json:"found"`
}

type operationDetail struct {
	listedOperation
	Attempts []struct {
		Attempt     int    `json:"attempt"`
		Worker      string `json:"worker"`
		Outcome     string `json:"outcome"`
		Description string `json:"description"`
	} `json:"attempts"`
}

// operationRepair is the answer of a retry or a cancel, from the CLI's --json or the API.
type operationRepair struct {
	Repair struct {
		Action  string `json:"action"`
		Outcome string `json:"outcome"`
		Detail  string `json:"detail"`
	} `json:"repair"`
	Operation listedOperation `json:"operation"`
}

// operationsCLI runs `omnibroker operations` with args against state, with env over the
// suite's, and returns its session once it exited, having checked that it printed no secret.
func operationsCLI(state stateDB, env map[string]string, args ...string) *gexec.Session {
	GinkgoHelper()
	s := runOperator(state, env, append([]string{"operations"}, args...)...)
	expectSessionHasNoSecrets(s)
	return s
}

// decoded is the JSON the session printed on stdout, decoded into a T.
func decoded[T any](s *gexec.Session) T {
	GinkgoHelper()
	var v T
	Expect(json.Unmarshal(s.Out.Contents(), &v)).To(Succeed(), "stdout is one JSON document: %s", s.Out.Contents())
	return v
}

var _ = Describe("omnibroker operations", func() {
	It("finds the failed deprovision of an instance a mis-set MySQL URL left delete_failed, and retries it once the URL is right", func() {
		state := newStateDB()
		broken := map[string]string{
			"OMNIBROKER_MYSQL_URL":    "mysql://root@127.0.0.1:1/",
			"OMNIBROKER_MAX_ATTEMPTS": "2",
			"OMNIBROKER_RETRY_BASE":   "100ms",
		}
		b := startBroker(state, withAdmin(broken))
		cf := b.client()
		id := newID()

		By("provisioning and deprovisioning against a MySQL node that refuses the connection")
		r := cf.provision(id, provisionBody(mysqlPlan, nil), true)
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		provision := operationOf(r)
		Expect(cf.awaitInstance(id, mysqlPlan, provision).str("state")).To(Equal("failed"))
		r = cf.deprovision(id, mysqlPlan, true)
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		deprovision := operationOf(r)
		failed := cf.awaitInstance(id, mysqlPlan, deprovision)
		Expect(failed.str("state")).To(Equal("failed"))
		Expect(failed.str("description")).To(ContainSubstring("mysql-local"))
		var instanceState string
		Expect(state.open().QueryRow(`SELECT state FROM instances WHERE id = $1`, id).Scan(&instanceState)).To(Succeed())
		Expect(instanceState).To(Equal("delete_failed"))

		By("restarting the broker with the right URL")
		b.stop()
		b = startBroker(state, withAdmin(nil))
		cf = b.client()

		By("listing the failed operations: the deprovision among them, something to act on")
		s := operationsCLI(state, nil, "--state", "failed", "--json")
		Expect(s.ExitCode()).To(Equal(1), "found something to act on")
		list := decoded[operationList](s)
		Expect(list.Found).To(BeTrue())
		Expect(list.Operations).To(ContainElement(SatisfyAll(
			HaveField("ID", deprovision), HaveField("Kind", "deprovision"), HaveField("InstanceID", id),
			HaveField("State", "failed"), HaveField("Attempt", 2), HaveField("MaxAttempts", 2),
			HaveField("Node", "mysql-local"), HaveField("Description", ContainSubstring("mysql-local")), HaveField("Latest", true))))
		Expect(list.Operations).To(ContainElement(SatisfyAll(HaveField("ID", provision), HaveField("Latest", false))))
		s = operationsCLI(state, nil, "--instance", id)
		Expect(s.ExitCode()).To(Equal(1))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^ID +KIND +INSTANCE +BINDING +STATE +ATTEMPT +AGE +NODE +DESCRIPTION$`))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^%s +deprovision +%s +- +failed +2/2 +\S+ +mysql-local +\S`, deprovision, id))

		By("showing the deprovision's attempts")
		s = operationsCLI(state, nil, "show", deprovision, "--json")
		Expect(s.ExitCode()).To(Equal(1))
		detail := decoded[operationDetail](s)
		Expect(detail.ID).To(Equal(deprovision))
		Expect(detail.Attempts).To(HaveExactElements(
			SatisfyAll(HaveField("Attempt", 1), HaveField("Outcome", "retried"), HaveField("Worker", Not(BeEmpty())),
				HaveField("Description", ContainSubstring("mysql-local"))),
			SatisfyAll(HaveField("Attempt", 2), HaveField("Outcome", "failed"), HaveField("Description", ContainSubstring("mysql-local"))),
		))
		s = operationsCLI(state, nil, "show", deprovision)
		Expect(string(s.Out.Contents())).To(ContainSubstring("operation " + deprovision + ": deprovision of instance " + id))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^  2 +\S+ +\S+ +\S+ +failed +.*mysql-local`))

		By("refusing to retry the provision, which is not the latest operation of its instance")
		s = operationsCLI(state, nil, "retry", provision)
		Expect(s.ExitCode()).To(Equal(1))
		Expect(string(s.Out.Contents())).To(ContainSubstring("refused: operation " + provision + " is not the latest operation of its instance"))
		me, err := user.Current()
		Expect(err).NotTo(HaveOccurred())
		Expect(repairsOf(b)).To(ContainElement(SatisfyAll(HaveField("Action", "operations retry"), HaveField("Target", provision),
			HaveField("Outcome", "refused"), HaveField("Via", "cli"), HaveField("RequestedBy", me.Username))))

		By("retrying the deprovision, which now succeeds")
		s = operationsCLI(state, nil, "retry", deprovision)
		Expect(s.ExitCode()).To(Equal(0), "%s", s.Out.Contents())
		Expect(string(s.Out.Contents())).To(ContainSubstring("operation " + deprovision + " (deprovision of instance " + id + "): succeeded"))
		Expect(repairsOf(b)).To(ContainElement(SatisfyAll(HaveField("Action", "operations retry"), HaveField("Target", deprovision),
			HaveField("Outcome", "queued"), HaveField("OperationID", deprovision), HaveField("OperationState", "succeeded"))))

		By("answering the platform as for an instance that is gone")
		expectJSONObject(cf.deprovision(id, mysqlPlan, true), http.StatusGone)
		Expect(cf.getInstance(id).Status).To(Equal(http.StatusNotFound))
		expectJSONObject(cf.lastOperation(id, mysqlPlan, ""), http.StatusGone)
		expectSucceeded(cf.lastOperation(id, mysqlPlan, deprovision))
		s = operationsCLI(state, nil, "--state", "failed", "--instance", id)
		Expect(s.ExitCode()).To(Equal(0), "the failed provision is no operation to act on: its instance is gone: %s", s.Out.Contents())
	})

	It("retries a failed unbind once the node answers again: the login goes, and the platform's DELETE answers 410", func(ctx SpecContext) {
		state := newStateDB()
		b := startBroker(state, nil)
		cf := b.client()
		id, bindingID := newID(), newID()
		cf.provisionReady(id, mysqlPlan, nil)
		creds := cf.bindReady(id, bindingID, mysqlPlan, newID())
		rememberSecret("the unbound binding's password", creds.str("password"))

		By("unbinding while the broker's MySQL URL points at a port nothing listens on")
		b.stop()
		b = startBroker(state, map[string]string{"OMNIBROKER_MYSQL_URL": "mysql://root@127.0.0.1:1/",
			"OMNIBROKER_MAX_ATTEMPTS": "1"})
		cf = b.client()
		r := cf.unbind(id, bindingID, mysqlPlan, true)
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		unbind := operationOf(r)
		Expect(cf.awaitBinding(id, bindingID, mysqlPlan, unbind).str("state")).To(Equal("failed"))
		b.stop()
		b = startBroker(state, nil)
		cf = b.client()

		By("retrying it")
		s := operationsCLI(state, nil, "--state", "failed", "--json")
		Expect(s.ExitCode()).To(Equal(1))
		Expect(decoded[operationList](s).Operations).To(ConsistOf(SatisfyAll(HaveField("ID", unbind),
			HaveField("BindingID", bindingID), HaveField("Kind", "unbind"), HaveField("Latest", true))))
		s = operationsCLI(state, nil, "retry", unbind)
		Expect(s.ExitCode()).To(Equal(0), "%s", s.Out.Contents())
		Expect(string(s.Out.Contents())).To(ContainSubstring("(unbind of binding " + bindingID + " of instance " + id + "): succeeded"))
		_, err := mysqlTryLogin(ctx, creds.str("uri"))
		Expect(err).To(HaveOccurred(), "the binding's login is gone")
		expectJSONObject(cf.unbind(id, bindingID, mysqlPlan, true), http.StatusGone)
		Expect(cf.getBinding(id, bindingID).Status).To(Equal(http.StatusNotFound))
		cf.deprovisionGone(id, mysqlPlan)
	})

	It("cancels a queued provision with a reason the platform reads, the instance failed, and refuses to cancel a finished or a running one", func() {
		state := newStateDB()
		cf := startBroker(state, map[string]string{"OMNIBROKER_WORKERS": "0"}).client()
		id, body := newID(), provisionBody(quickPlan, nil)
		r := cf.provision(id, body, true)
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		provision := operationOf(r)

		By("listing it as queued, and cancelling it")
		s := operationsCLI(state, nil, "--state", "queued", "--instance", id, "--json")
		Expect(s.ExitCode()).To(Equal(0), "a queued operation is nothing to act on by itself")
		Expect(decoded[operationList](s).Operations).To(ConsistOf(HaveField("ID", provision)))
		Expect(operationsCLI(state, nil, "--state", "queued", "--older-than", "1ms").ExitCode()).To(Equal(1), "one queued longer than that is stuck")
		reason := "node pg-local is being replaced; create the service again tomorrow"
		s = operationsCLI(state, nil, "cancel", provision, "--reason", reason, "--json")
		Expect(s.ExitCode()).To(Equal(0), "%s", s.Err.Contents())
		cancelled := decoded[operationRepair](s)
		Expect(cancelled.Repair.Outcome).To(Equal("done"))
		Expect(cancelled.Repair.Detail).To(Equal(reason))
		Expect(cancelled.Operation.State).To(Equal("failed"))

		last := cf.lastOperation(id, quickPlan, provision)
		Expect(last.Status).To(Equal(http.StatusOK), last.String())
		Expect(last.str("state")).To(Equal("failed"))
		Expect(last.str("description")).To(Equal("cancelled by an operator: " + reason))
		var instanceState string
		Expect(state.open().QueryRow(`SELECT state FROM instances WHERE id = $1`, id).Scan(&instanceState)).To(Succeed())
		Expect(instanceState).To(Equal("failed"))

		By("refusing to cancel it again, now that it has failed, and taking a new provision of the instance")
		s = operationsCLI(state, nil, "cancel", provision, "--reason", "again")
		Expect(s.ExitCode()).To(Equal(1))
		Expect(string(s.Out.Contents())).To(ContainSubstring("refused: operation " + provision + " has failed already"))
		r = cf.provision(id, body, true)
		Expect(r.Status).To(Equal(http.StatusAccepted), "a new provision of the failed instance: %s", r)

		By("refusing a cancel without a reason, and of an operation that does not exist")
		s = operationsCLI(state, nil, "cancel", operationOf(r))
		Expect(s.ExitCode()).To(Equal(2))
		Expect(string(s.Err.Contents())).To(ContainSubstring("a cancel needs a reason"))
		s = operationsCLI(state, nil, "show", newID())
		Expect(s.ExitCode()).To(Equal(2))
		Expect(string(s.Err.Contents())).To(ContainSubstring("does not exist"))

		By("refusing to cancel a provision that a worker runs, on a node that does not answer")
		hung := newStateDB()
		hungCF := startBroker(hung, map[string]string{"OMNIBROKER_MYSQL_URL": "mysql://root@" + testkit.SilentListener(GinkgoT()) + "/",
			"OMNIBROKER_SHUTDOWN_TIMEOUT": "1s"}).client()
		hungID := newID()
		r = hungCF.provision(hungID, provisionBody(mysqlPlan, nil), true)
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		running := operationOf(r)
		Eventually(func() []listedOperation {
			return decoded[operationList](operationsCLI(hung, nil, "--state", "running", "--json")).Operations
		}, 30*time.Second).Should(ConsistOf(HaveField("ID", running)))
		s = operationsCLI(hung, nil, "cancel", running, "--reason", "stuck")
		Expect(s.ExitCode()).To(Equal(1))
		Expect(string(s.Out.Contents())).To(ContainSubstring("refused: operation " + running + " is running"))
	})

	It("does the same through the operator API: lists, cancels a queued provision, retries it, and a broker's workers run it", func() {
		state := newStateDB()
		idle := startBroker(state, withAdmin(map[string]string{"OMNIBROKER_WORKERS": "0"}))
		cf, admin := idle.client(), idle.adminClient()
		id := newID()
		r := cf.provision(id, provisionBody(quickPlan, nil), true)
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		provision := operationOf(r)
		operationPath := "/admin/v1/operations/" + provision

		By("listing it, and showing it with no attempt yet")
		r = admin.do(http.MethodGet, "/admin/v1/operations", map[string][]string{"instance": {id}, "state": {"queued"}}, nil)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		var list operationList
		Expect(json.Unmarshal(r.Raw, &list)).To(Succeed())
		Expect(list.Operations).To(ConsistOf(SatisfyAll(HaveField("ID", provision), HaveField("Kind", "provision"), HaveField("State", "queued"))))
		Expect(list.Found).To(BeFalse())
		r = admin.do(http.MethodGet, operationPath, nil, nil)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		Expect(r.Body).To(HaveKeyWithValue("attempts", BeEmpty()))

		By("refusing to retry it while it is queued")
		r = admin.do(http.MethodPost, operationPath+"/retry", nil, nil)
		Expect(r.Status).To(Equal(http.StatusConflict), r.String())
		Expect(r.str("description")).To(ContainSubstring("is queued; retry takes a failed one"))

		By("cancelling it with a reason")
		reason := "the plan is being withdrawn; pick another"
		r = admin.do(http.MethodPost, operationPath+"/cancel", nil, map[string]string{"reason": reason})
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
		var answer operationRepair
		Expect(json.Unmarshal(r.Raw, &answer)).To(Succeed())
		Expect(answer.Operation.State).To(Equal("failed"))
		Expect(answer.Repair).To(SatisfyAll(HaveField("Action", "operations cancel"), HaveField("Outcome", "done"), HaveField("Detail", reason)))
		last := cf.lastOperation(id, quickPlan, provision)
		Expect(last.str("state")).To(Equal("failed"))
		Expect(last.str("description")).To(Equal("cancelled by an operator: " + reason))
		r = admin.do(http.MethodPost, operationPath+"/cancel", nil, map[string]string{"reason": reason})
		Expect(r.Status).To(Equal(http.StatusConflict), "a failed one: %s", r)

		By("retrying it: the same operation queued again, which a broker with workers runs")
		r = admin.do(http.MethodPost, operationPath+"/retry", nil, map[string]string{})
		Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
		Expect(json.Unmarshal(r.Raw, &answer)).To(Succeed())
		Expect(answer.Repair.Outcome).To(Equal("queued"))
		Expect(answer.Operation).To(SatisfyAll(HaveField("ID", provision), HaveField("State", "queued")))
		Expect(cf.lastOperation(id, quickPlan, provision).str("state")).To(Equal("in progress"))
		startBroker(state, nil)
		expectSucceeded(cf.awaitInstance(id, quickPlan, provision))
		DeferCleanup(cf.deprovisionGone, id, quickPlan)
		Eventually(func() []repairRow { return repairsOf(idle) }, 30*time.Second).Should(ContainElements(
			SatisfyAll(HaveField("Action", "operations cancel"), HaveField("Target", provision), HaveField("Via", "api"),
				HaveField("RequestedBy", adminUsername), HaveField("Outcome", "done")),
			SatisfyAll(HaveField("Action", "operations retry"), HaveField("Target", provision), HaveField("Outcome", "queued"),
				HaveField("OperationState", "succeeded")),
			SatisfyAll(HaveField("Action", "operations retry"), HaveField("Outcome", "refused")),
		))
		r = admin.do(http.MethodGet, operationPath, nil, nil)
		var detail operationDetail
		Expect(json.Unmarshal(r.Raw, &detail)).To(Succeed())
		Expect(detail.State).To(Equal("succeeded"))
		Expect(detail.Attempts).To(ConsistOf(HaveField("Outcome", "succeeded")))

		By("answering 404 for an operation that does not exist, and 400 for input it does not take")
		for _, c := range []struct {
			method, path string
			query        map[string][]string
			body         any
			status       int
		}{
			{http.MethodGet, "/admin/v1/operations/" + newID(), nil, nil, http.StatusNotFound},
			{http.MethodPost, "/admin/v1/operations/" + newID() + "/retry", nil, nil, http.StatusNotFound},
			{http.MethodPost, "/admin/v1/operations/" + newID() + "/cancel", nil, map[string]string{"reason": "x"}, http.StatusNotFound},
			{http.MethodPost, operationPath + "/cancel", nil, map[string]string{"reason": " "}, http.StatusBadRequest},
			{http.MethodPost, operationPath + "/cancel", nil, map[string]string{"reason": strings.Repeat("x", 501)}, http.StatusBadRequest},
			{http.MethodGet, "/admin/v1/operations", map[string][]string{"state": {"stuck"}}, nil, http.StatusBadRequest},
			{http.MethodGet, "/admin/v1/operations", map[string][]string{"older_than": {"-5m"}}, nil, http.StatusBadRequest},
		} {
			r := admin.do(c.method, c.path, c.query, c.body)
			Expect(r.Status).To(Equal(c.status), "%s %s: %s", c.method, c.path, r)
			Expect(r.str("description")).NotTo(BeEmpty(), r.String())
		}
	})
})
