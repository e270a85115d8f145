package broker_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/internal/testkit"
	"github.com/omnibroker/omnibroker/store"
)

// What the endpoint specs share: the routes a platform calls, fixtures in the situations the
// specs need (ready, held at placement, failed, an operation waiting on its backoff), and
// checks on what a refused request left behind. Every fixture cleans up after itself, so
// the suite's database and the backends keep only what a spec could not remove (instances
// of the down plan, whose node never answers).

func instancePath(id string) string { return "/v2/service_instances/" + id }

func bindingPath(id, bindingID string) string {
	return instancePath(id) + "/service_bindings/" + bindingID
}

// query starts the query string of a request, with accepts_incomplete=true when async.
func query(async bool) string {
	if async {
		return "?accepts_incomplete=true&"
	}
	return "?"
}

// ids is the service_id and plan_id a DELETE carries in its query.
func ids(serviceID, planID string) string { return "service_id=" + serviceID + "&plan_id=" + planID }

// serviceOf is the service of a plan of the suite's catalog.
func serviceOf(plan string) string {
	if plan == cachePlan {
		return cacheServiceID
	}
	return serviceID
}

// instanceBody is the body of a PUT of an instance of plan.
func instanceBody(plan string) map[string]any {
	body := provisionBody(plan)
	body["service_id"] = serviceOf(plan)
	return body
}

func provision(id, plan string, async bool) response {
	return call("PUT", instancePath(id)+query(async), instanceBody(plan))
}

func deprovision(id, plan string, async bool) response {
	return call("DELETE", instancePath(id)+query(async)+ids(serviceOf(plan), plan), nil)
}

func update(id string, body map[string]any, async bool) response {
	return call("PATCH", instancePath(id)+query(async), body)
}

// updateBody is a PATCH of an instance of the pg service to plan ("" keeps the plan) with params.
func updateBody(plan string, params map[string]any) map[string]any {
	body := map[string]any{"service_id": serviceID}
	if plan != "" {
		body["plan_id"] = plan
	}
	if params != nil {
		body["parameters"] = params
	}
	return body
}

func bindBody(plan, appGUID string) map[string]any {
	return map[string]any{"service_id": serviceOf(plan), "plan_id": plan, "app_guid": appGUID}
}

func bind(id, bindingID string, body map[string]any, async bool) response {
	return call("PUT", bindingPath(id, bindingID)+query(async), body)
}

func unbind(id, bindingID, plan string, async bool) response {
	return call("DELETE", bindingPath(id, bindingID)+query(async)+ids(serviceOf(plan), plan), nil)
}

// poll is GET last_operation of the instance (bindingID "") or of a binding, naming opID
// when it is not "".
func poll(id, bindingID, opID string) response {
	path := instancePath(id)
	if bindingID != "" {
		path = bindingPath(id, bindingID)
	}
	path += "/last_operation"
	if opID != "" {
		path += "?operation=" + opID
	}
	return call("GET", path, nil)
}

// finished polls until the operation is no longer in progress and returns the last answer.
func finished(id, bindingID, opID string) response {
	GinkgoHelper()
	var last response
	Eventually(func() any {
		last = poll(id, bindingID, opID)
		return last.body["state"]
	}, 20*time.Second, 50*time.Millisecond).ShouldNot(Or(Equal("in progress"), BeNil()))
	return last
}

// expectRefusal checks an OSB error body: the status, and the error key when key is not "".
func expectRefusal(resp response, status int, key string) {
	GinkgoHelper()
	Expect(resp.status).To(Equal(status), "body %v", redacted(resp.body))
	Expect(resp.body["description"]).NotTo(BeEmpty())
	if key != "" {
		Expect(resp.body["error"]).To(Equal(key))
	}
}

// operationID is the operation a 202 answer names.
func operationID(resp response) string {
	GinkgoHelper()
	Expect(resp.status).To(Equal(202), "body %v", redacted(resp.body))
	op, _ := resp.body["operation"].(string)
	Expect(op).NotTo(BeEmpty())
	return op
}

// startedOperation is the operation a request on an async-only plan started. The broker
// answers 202 with it, or 200 or 201 when the worker finished it before the broker's one look
// (the request never waits); either way it can then be polled by its id.
func startedOperation(resp response, id, bindingID string) string {
	GinkgoHelper()
	if resp.status == 202 {
		return operationID(resp)
	}
	Expect(resp.status).To(BeElementOf(200, 201), "body %v", redacted(resp.body))
	var opID string
	Expect(st.DB().Get(&opID, `SELECT id FROM operations WHERE instance_id = $1 AND COALESCE(binding_id, '') = $2
		ORDER BY created_at DESC LIMIT 1`, id, bindingID)).To(Succeed())
	return opID
}

// redacted is a body fit for a failure message: credentials show only which keys they have.
func redacted(body map[string]any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		out[k] = v
	}
	if creds, ok := body["credentials"].(map[string]any); ok {
		keys := make([]string, 0, len(creds))
		for k := range creds {
			keys = append(keys, k)
		}
		out["credentials"] = keys
	}
	return out
}

// rows counts what the state database holds about an instance: its instance row, its
// binding rows and its operation rows.
type rows struct{ instances, bindings, operations int }

func rowsOf(id string) rows {
	GinkgoHelper()
	var r rows
	for _, c := range []struct {
		n     *int
		query string
	}{
		{&r.instances, "SELECT count(*) FROM instances WHERE id = $1"},
		{&r.bindings, "SELECT count(*) FROM bindings WHERE instance_id = $1"},
		{&r.operations, "SELECT count(*) FROM operations WHERE instance_id = $1"},
	} {
		Expect(st.DB().Get(c.n, c.query, id)).To(Succeed())
	}
	return r
}

// sameSecrets compares credentials without printing them.
func sameSecrets(a, b any) bool { return reflect.DeepEqual(a, b) }

// deleteAtEnd deletes the instance when the spec ends, on whatever plan it
// then has, waiting out any operation that still runs on it.
func deleteAtEnd(id string) {
	DeferCleanup(func() {
		Eventually(func() int {
			var plan string
			if err := st.DB().Get(&plan, "SELECT plan_id FROM instances WHERE id = $1", id); errors.Is(err, sql.ErrNoRows) {
				return 410
			}
			return deprovision(id, plan, true).status
		}, 20*time.Second, 100*time.Millisecond).Should(BeElementOf(200, 410))
	})
}

// readyInstance provisions an instance of plan and waits until it is ready; it is deleted
// when the spec ends.
func readyInstance(plan string) string {
	GinkgoHelper()
	id := uuid.NewString()
	resp := provision(id, plan, true)
	deleteAtEnd(id)
	if resp.status == 202 {
		Expect(finished(id, "", operationID(resp)).body).To(HaveKeyWithValue("state", "succeeded"))
	} else {
		Expect(resp.status).To(Equal(201))
	}
	return id
}

// binding is what a platform keeps of a bind: the binding id, the app it is for and the
// credentials it handed out.
type binding struct {
	id, app string
	creds   map[string]any
}

// boundBinding binds the instance (of plan) for a new app and waits until it is bound; it is
// unbound when the spec ends.
func boundBinding(id, plan string) binding {
	GinkgoHelper()
	b := binding{id: uuid.NewString(), app: uuid.NewString()}
	resp := bind(id, b.id, bindBody(plan, b.app), true)
	unbindAtEnd(id, b.id, plan)
	if resp.status == 202 {
		Expect(finished(id, b.id, operationID(resp)).body).To(HaveKeyWithValue("state", "succeeded"))
		resp = call("GET", bindingPath(id, b.id), nil)
		Expect(resp.status).To(Equal(200))
	} else {
		Expect(resp.status).To(Equal(201))
	}
	b.creds, _ = resp.body["credentials"].(map[string]any)
	Expect(b.creds).NotTo(BeEmpty())
	return b
}

// unbindAtEnd deletes the binding when the spec ends, waiting out any operation on it.
func unbindAtEnd(id, bindingID, plan string) {
	DeferCleanup(func() {
		Eventually(func() int { return unbind(id, bindingID, plan, true).status }, 20*time.Second, 100*time.Millisecond).
			Should(BeElementOf(200, 410))
	})
}

// shared is an instance, and perhaps a binding of it, that the specs of an Ordered
// container share.
type shared struct {
	id string
	b  binding
}

// readyBeforeAll makes a ready instance of plan before the container's first spec.
func readyBeforeAll(plan string) *shared {
	f := &shared{}
	BeforeAll(func() { f.id = readyInstance(plan) })
	return f
}

// boundBeforeAll makes a ready instance of plan and a binding of it before the container's
// first spec.
func boundBeforeAll(plan string) *shared {
	f := &shared{}
	BeforeAll(func() {
		f.id = readyInstance(plan)
		f.b = boundBinding(f.id, plan)
	})
	return f
}

// heldProvision starts a provision of the down plan whose worker waits at placement, because
// the spec holds the placement lock of that plan's backend, as a placement running elsewhere
// would. It returns the instance and the running operation. When the spec ends the lock is let
// go, and the provision fails on the node, which refuses connections; nothing is created.
func heldProvision() (string, string) {
	GinkgoHelper()
	id := uuid.NewString()
	var opID string
	DeferCleanup(func() {
		if opID != "" {
			finished(id, "", opID)
		}
	})
	testkit.HoldPlacementLock(GinkgoT(), st.DB().DB, "down")
	opID = operationID(provision(id, downPlan, true))
	Eventually(func() any { return poll(id, "", opID).body["description"] }, 10*time.Second, 20*time.Millisecond).
		Should(Equal("provision is running"))
	return id, opID
}

// failedInstance is an instance of the down plan whose provision failed, since its node
// refuses connections. It stays: deleting it would fail the same way.
func failedInstance() string {
	GinkgoHelper()
	id := uuid.NewString()
	Expect(finished(id, "", operationID(provision(id, downPlan, true))).body).To(HaveKeyWithValue("state", "failed"))
	return id
}

// deleteFailedInstance is an instance of the down plan whose provision, and then whose
// deprovision, failed on its node, and the failed deprovision.
func deleteFailedInstance() (string, string) {
	GinkgoHelper()
	id := failedInstance()
	opID := operationID(deprovision(id, downPlan, true))
	Expect(finished(id, "", opID).body).To(HaveKeyWithValue("state", "failed"))
	return id, opID
}

// describeUnusable is the table of a request on an instance that a failed operation left
// unusable: it answers 422 InstanceNotReady and writes nothing.
func describeUnusable(text string, request func(id string) response) bool {
	return DescribeTable(text,
		func(unusable func() string) {
			id := unusable()
			before := rowsOf(id)
			expectRefusal(request(id), 422, "InstanceNotReady")
			Expect(rowsOf(id)).To(Equal(before))
		},
		Entry("after its provision failed", failedInstance),
		Entry("after its deprovision failed", func() string { id, _ := deleteFailedInstance(); return id }),
	)
}

// waiting starts op on the instance (or its binding) as a transient failure would leave it:
// queued, with its next attempt an hour away. When the spec ends it may run at once.
func waiting(kind store.OperationKind, id, bindingID string, request any) store.Operation {
	GinkgoHelper()
	ctx := context.Background()
	op := later(kind, id, bindingID)
	if request != nil {
		data, err := json.Marshal(request)
		Expect(err).NotTo(HaveOccurred())
		op.Request = data
	}
	var err error
	switch kind {
	case store.OpUpdate:
		err = st.StartInstanceOperation(ctx, id, store.InstanceUpdating, op)
	case store.OpDeprovision:
		err = st.StartInstanceOperation(ctx, id, store.InstanceDeprovisioning, op)
	case store.OpUnbind:
		err = st.StartBindingOperation(ctx, id, bindingID, store.BindingDeleting, op)
	default:
		Fail("waiting has no start for " + string(kind))
	}
	Expect(err).NotTo(HaveOccurred())
	return op
}

// later is an operation whose next attempt is an hour away; when the spec ends it may run.
func later(kind store.OperationKind, id, bindingID string) store.Operation {
	op := store.Operation{
		ID: uuid.NewString(), Kind: kind, InstanceID: id, BindingID: bindingID,
		MaxAttempts: 1, RunAfter: time.Now().Add(time.Hour),
	}
	DeferCleanup(runNow, op.ID)
	return op
}

// waitingBind records the bind of a new app as the broker does (the binding row with its
// sealed password, and the bind operation) with its first attempt an hour away. When the
// spec ends the bind may run, and the binding is then deleted.
func waitingBind(id, plan string) (binding, store.Operation) {
	GinkgoHelper()
	b := binding{id: uuid.NewString(), app: uuid.NewString()}
	password, err := backends.NewPassword()
	Expect(err).NotTo(HaveOccurred())
	unbindAtEnd(id, b.id, plan)
	op := later(store.OpBind, id, b.id)
	Expect(st.CreateBinding(context.Background(), store.Binding{
		ID: b.id, InstanceID: id, ServiceID: serviceOf(plan), PlanID: plan, AppGUID: b.app,
		State: store.BindingCreating, Password: password,
	}, op)).To(Succeed())
	return b, op
}

// loginWorks tells whether an application can log in with the credentials of a binding of
// the pg service. It says only yes or no, so no failure message carries the password.
func loginWorks(creds map[string]any) bool {
	GinkgoHelper()
	uri, _ := creds["uri"].(string)
	db, err := sql.Open("postgres", uri)
	Expect(err == nil).To(BeTrue(), "the uri of the credentials parses")
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx) == nil
}

// dropDatabase removes the instance's database from the local node behind the broker's
// back, as a person with the node's admin login might; name is the credentials' name.
func dropDatabase(name any) {
	GinkgoHelper()
	db, ok := name.(string)
	Expect(ok && db != "").To(BeTrue(), "the credentials name a database")
	admin, err := sql.Open("postgres", adminURL)
	Expect(err).NotTo(HaveOccurred())
	defer admin.Close()
	_, err = admin.Exec("DROP DATABASE " + pq.QuoteIdentifier(db) + " WITH (FORCE)")
	Expect(err).NotTo(HaveOccurred())
}

// wrongDeleteQueries are the DELETE queries (of an instance or a binding of it) whose service_id
// and plan_id are missing or not the instance's, each with what the 400 must say.
var wrongDeleteQueries = []TableEntry{
	Entry("no service_id", "plan_id="+quickPlan, "service_id is required"),
	Entry("no plan_id", "service_id="+serviceID, "plan_id is required"),
	Entry("another plan", ids(serviceID, asyncPlan), "must be those of service instance"),
	Entry("another service", ids(cacheServiceID, cachePlan), "must be those of service instance"),
	Entry("a service's name", ids("pg", quickPlan), `; service_id "pg" is a service name; its id is "`+serviceID+`"`),
	Entry("a plan's name", ids(serviceID, "quick"), `; plan_id "quick" is a plan name; its id is "`+quickPlan+`"`),
}
