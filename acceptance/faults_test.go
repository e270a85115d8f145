package acceptance_test

// The fault suite's kills at the points of the binary's fault hook (OMNIBROKER_FAULT, see
// internal/fault): the process SIGKILLs itself there, a broker without the hook takes over,
// and the servers are checked directly for nothing lost, nothing done twice and no orphan.

import (
	"database/sql"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// recovering is the environment of the brokers of the fault specs. Their leases are ten
// minutes: a killed process's running operation that runs again within a spec was freed by the
// end of the process's database session, to which it was tied, not by its lease.
var recovering = map[string]string{
	"OMNIBROKER_LEASE":         "10m",
	"OMNIBROKER_POLL_INTERVAL": "500ms",
	"OMNIBROKER_RETRY_BASE":    "200ms",
}

// withFault is env with the fault hook armed at point.
func withFault(env map[string]string, point string) map[string]string {
	out := map[string]string{"OMNIBROKER_FAULT": point}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// expectKilledItself waits until b has SIGKILLed itself, as its fault hook does.
func (b *broker) expectKilledItself() {
	GinkgoHelper()
	Eventually(b.session, 30*time.Second).Should(gexec.Exit(128+9), "the broker kills itself at its fault point")
	expectSessionHasNoSecrets(b.session)
}

// members counts the roles that are members of role on the postgres node: the instance's
// binding logins, for its owner role.
func members(role string) int {
	GinkgoHelper()
	return count(adminDB, `SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = $1`, role)
}

// actsAs tells whether role exists and its sessions act as owner (ALTER ROLE … SET role), the
// postgres adapter's last step of a bind.
func actsAs(role, owner string) bool {
	GinkgoHelper()
	return count(adminDB, `SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
		WHERE r.rolname = $1 AND 'role='||$2 = ANY(s.setconfig)`, role, owner) == 1
}

// operationRow is what the state database holds of an operation.
type operationRow struct {
	id, state string
	attempt   int
}

// operationsOf lists the operations of kind on an instance (or binding), oldest first.
func operationsOf(db *sql.DB, instanceID, bindingID, kind string) []operationRow {
	GinkgoHelper()
	rows, err := db.Query(`SELECT id, state, attempt FROM operations
		WHERE instance_id = $1 AND coalesce(binding_id, '') = $2 AND kind = $3 ORDER BY created_at`, instanceID, bindingID, kind)
	Expect(err).NotTo(HaveOccurred())
	defer rows.Close()
	var ops []operationRow
	for rows.Next() {
		var o operationRow
		Expect(rows.Scan(&o.id, &o.state, &o.attempt)).To(Succeed())
		ops = append(ops, o)
	}
	Expect(rows.Err()).NotTo(HaveOccurred())
	return ops
}

// atDeath is what a fault point leaves behind when the broker kills itself there: the state
// of the operation it was at, the fewest attempts it can have had, and whether the backend
// object exists.
type atDeath struct {
	state   string
	attempt int
	created bool
}

// faultStep is one request sent to a broker that kills itself at the fault point and sent
// again, as a platform would, to a broker without the hook on the same state database.
type faultStep struct {
	what     string
	instance string
	method   string
	path     string
	body     map[string]any
	kind     string
	binding  string
	// object is the backend object the step creates; partial the one that already exists
	// when the adapter is stopped inside its call.
	object, partial func() bool
}

// killAndRecover runs step against a broker armed at point, checks what the death left behind,
// and has a broker without the hook finish it; it returns that broker and how long it took,
// from its start until the operation succeeded.
func killAndRecover(state stateDB, point string, step faultStep, death atDeath) (*broker, time.Duration) {
	GinkgoHelper()
	db := state.open()
	instanceID := step.instance

	By(step.what + " on a broker armed at " + point)
	env := withFault(recovering, point)
	if point == "queued" {
		// Without workers of its own: a local worker woken by the queue's NOTIFY may claim the
		// operation in the instant between the commit and the kill, which would then be a kill
		// of a running operation, the other points' case.
		env["OMNIBROKER_WORKERS"] = "0"
	}
	armed := startBroker(state, env)
	r, err := armed.client().try(step.method, step.path, incomplete(true), step.body)
	if err == nil {
		Expect(r.Status).To(Equal(http.StatusAccepted), "only an answer sent before the fault: %s", r)
	}
	armed.expectKilledItself()

	ops := operationsOf(db, instanceID, step.binding, step.kind)
	Expect(ops).To(HaveLen(1))
	Expect(ops[0].state).To(Equal(death.state), "the operation at the fault point")
	// At least: an attempt may have failed on a transient error (a node out of connections)
	// before the one that reached the fault point.
	Expect(ops[0].attempt).To(BeNumerically(">=", death.attempt), "attempts at the fault point")
	killedAt := ops[0].attempt
	Expect(step.object()).To(Equal(death.created), "the backend object at the fault point")
	if point == "inside-backend-call" {
		Expect(step.partial()).To(BeTrue(), "the adapter's first step was done when the call was cut")
	}

	By("sending it again to a broker without the hook")
	started := time.Now()
	next := startBroker(state, recovering)
	c := next.client()
	r = c.do(step.method, step.path, incomplete(true), step.body)
	Expect(r.Status).To(BeElementOf(http.StatusOK, http.StatusCreated, http.StatusAccepted), r.String())
	if r.Status == http.StatusAccepted {
		Expect(operationOf(r)).To(Equal(ops[0].id), "the re-sent request follows the operation it queued")
		poll := func() response { return c.lastOperation(instanceID, quickPlan, ops[0].id) }
		if step.binding != "" {
			poll = func() response { return c.bindingLastOperation(instanceID, step.binding, quickPlan, ops[0].id) }
		}
		expectSucceeded(await(poll, 60*time.Second))
	}
	took := time.Since(started)

	ops = operationsOf(db, instanceID, step.binding, step.kind)
	Expect(ops).To(HaveLen(1), "one operation, not a second one")
	Expect(ops[0].state).To(Equal("succeeded"))
	Expect(ops[0].attempt).To(BeNumerically(">", killedAt), "the work was done again after the fault")
	Expect(step.object()).To(BeTrue())
	// The request is woken by the completion's commit, and the worker logs succeeded after it.
	Eventually(func() []string { return logLines(next, "succeeded", ops[0].id) }).Should(HaveLen(1), "the operation succeeded once")
	return next, took
}

var _ = Describe("Fault points", func() {
	DescribeTable("a broker that SIGKILLs itself at a fault point, then a broker without the hook",
		func(point string, provisioned, bound atDeath) {
			// The state on a cluster of its own: no other spec can take its connections.
			state, _ := privateState()
			id, bindingID := newID(), newID()
			dropLeftoverDatabase(id)
			db, owner, login := backendDatabase(id), backendName("ob_o_", id), backendName("ob_b_", id, bindingID)

			next, took := killAndRecover(state, point, faultStep{
				what: "provisioning", instance: id, method: http.MethodPut, path: instancePath(id), kind: "provision",
				body:    provisionBody(quickPlan, nil),
				object:  func() bool { return databaseExists(db) },
				partial: func() bool { return roleExists(owner) },
			}, provisioned)
			GinkgoWriter.Printf("fault %s: the provision succeeded %s after the restart\n", point, took)
			Expect(roleExists(owner)).To(BeTrue())
			r := next.client().getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			next.stop()

			next, took = killAndRecover(state, point, faultStep{
				what: "binding", instance: id, method: http.MethodPut, path: bindingPath(id, bindingID), kind: "bind", binding: bindingID,
				body:    bindBody(quickPlan, newID(), nil),
				object:  func() bool { return actsAs(login, owner) },
				partial: func() bool { return roleExists(login) },
			}, bound)
			GinkgoWriter.Printf("fault %s: the bind succeeded %s after the restart\n", point, took)
			c := next.client()
			r = c.getBinding(id, bindingID)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			var one int
			Expect(mustConnect(credentialsOf(r).str("uri")).QueryRow(`SELECT 1`).Scan(&one)).To(Succeed(), "the app logs in")
			Expect(members(owner)).To(Equal(1), "one login for the binding, and no other")

			By("unbinding and deprovisioning: nothing is left on the node")
			c.unbindGone(id, bindingID, quickPlan)
			c.deprovisionGone(id, quickPlan)
			Expect(roleExists(login)).To(BeFalse())
			Expect(roleExists(owner)).To(BeFalse())
			Expect(databaseExists(db)).To(BeFalse())
		},
		Entry("queued: the operation is in the queue, unclaimed",
			"queued", atDeath{"queued", 0, false}, atDeath{"queued", 0, false}),
		Entry("inside the backend call: the adapter has done its first step",
			"inside-backend-call", atDeath{"running", 1, false}, atDeath{"running", 1, false}),
		Entry("after the backend call: done on the node, not yet recorded",
			"after-backend-call", atDeath{"running", 1, true}, atDeath{"running", 1, true}),
	)
})
