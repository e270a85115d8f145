package acceptance_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// idle is the environment of a broker that answers requests but never claims an operation,
// so that an operation stays queued for as long as a spec needs.
var idle = map[string]string{"OMNIBROKER_WORKERS": "0"}

var _ = Describe("Concurrent operations", func() {
	var state stateDB

	BeforeEach(func() {
		state = newStateDB()
	})

	When("a provision is still queued", func() {
		It("refuses other operations with 422 ConcurrencyError until it is done", func() {
			id := newID()
			dropLeftoverDatabase(id)
			waiting := startBroker(state, idle)
			cf := waiting.client()

			By("provisioning on a broker without workers")
			body := provisionBody(asyncPlan, nil)
			r := cf.provision(id, body, true)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			op := operationOf(r)

			By("polling: the operation stays in progress and says when to ask again")
			Consistently(func(g Gomega) {
				r := cf.lastOperation(id, asyncPlan, op)
				g.Expect(r.Status).To(Equal(http.StatusOK), r.String())
				g.Expect(r.Body).To(HaveKeyWithValue("state", "in progress"))
				g.Expect(r.Header.Get("Retry-After")).To(MatchRegexp(`^[0-9]+$`))
			}).Should(Succeed())

			By("sending the same provision again")
			r = cf.provision(id, body, true)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			Expect(r.Body).To(HaveKeyWithValue("operation", op))

			By("fetching, updating and deleting the instance meanwhile")
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
			expectOSBErrorCode(cf.update(id, updateBody(asyncPlan, asyncPlan, map[string]any{"extensions": []any{"hstore"}}), true),
				http.StatusUnprocessableEntity, "ConcurrencyError")
			expectOSBErrorCode(cf.deprovision(id, asyncPlan, true), http.StatusUnprocessableEntity, "ConcurrencyError")
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())

			By("restarting with workers: the queued provision runs")
			waiting.stop()
			working := startBroker(state, nil)
			cf = working.client()
			expectSucceeded(cf.awaitInstance(id, asyncPlan, op))
			Expect(databaseExists(backendDatabase(id))).To(BeTrue())
			cf.deprovisionGone(id, asyncPlan)
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())
		})
	})

	When("an update is still queued", func() {
		It("answers 422 ConcurrencyError to GET instance, deprovision and another update, and 202 to the same update", func() {
			id := newID()
			dropLeftoverDatabase(id)

			By("provisioning on a broker with workers")
			working := startBroker(state, nil)
			working.client().provisionReady(id, asyncPlan, map[string]any{"extensions": []any{"citext"}})
			working.stop()

			By("updating on a broker without workers")
			waiting := startBroker(state, idle)
			cf := waiting.client()
			r := cf.update(id, updateBody(asyncPlan, asyncPlan, map[string]any{"extensions": []any{"citext", "hstore"}}), true)
			Expect(r.Status).To(Equal(http.StatusAccepted), r.String())
			op := operationOf(r)
			expectOSBErrorCode(cf.getInstance(id), http.StatusUnprocessableEntity, "ConcurrencyError")
			expectOSBErrorCode(cf.deprovision(id, asyncPlan, true), http.StatusUnprocessableEntity, "ConcurrencyError")
			expectOSBErrorCode(cf.update(id, updateBody(asyncPlan, asyncPlan, map[string]any{"extensions": []any{"pg_trgm"}}), true),
				http.StatusUnprocessableEntity, "ConcurrencyError")

			By("answering a re-sent identical PATCH with 202 and the same operation")
			again := cf.update(id, updateBody(asyncPlan, asyncPlan, map[string]any{"extensions": []any{"citext", "hstore"}}), true)
			Expect(again.Status).To(Equal(http.StatusAccepted), again.String())
			Expect(operationOf(again)).To(Equal(op))

			By("restarting with workers: the queued update runs")
			waiting.stop()
			working = startBroker(state, nil)
			cf = working.client()
			expectSucceeded(cf.awaitInstance(id, asyncPlan, op))
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(asJSON(r.Body["parameters"])).To(MatchJSON(`{"extensions": ["citext", "hstore"]}`))
			cf.deprovisionGone(id, asyncPlan)
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())
		})
	})

	When("a deprovision is still queued", func() {
		It("answers the same DELETE, sent twice at once, with 202 and one operation, which a broker with workers then finishes", func() {
			id := newID()
			dropLeftoverDatabase(id)

			By("provisioning on a broker with workers")
			working := startBroker(state, nil)
			working.client().provisionReady(id, asyncPlan, nil)
			working.stop()

			By("deleting twice at once on a broker without workers")
			waiting := startBroker(state, idle)
			cf := waiting.client()
			answers := fanOut([]string{id, id}, func(id string) (response, error) {
				return cf.try(http.MethodDelete, instancePath(id), planQuery(asyncPlan, incomplete(true)), nil)
			})
			for i, r := range answers {
				Expect(r.Status).To(Equal(http.StatusAccepted), "DELETE %d: %s", i, r)
			}
			op := operationOf(answers[0])
			Expect(operationOf(answers[1])).To(Equal(op), "both DELETEs follow one operation")
			Expect(operationStates(state.open(), id, "deprovision")).To(Equal([]string{"queued"}))
			Expect(databaseExists(backendDatabase(id))).To(BeTrue())

			By("restarting with workers: the queued deprovision runs")
			waiting.stop()
			working = startBroker(state, nil)
			cf = working.client()
			expectSucceeded(cf.awaitInstance(id, asyncPlan, op))
			Expect(databaseExists(backendDatabase(id))).To(BeFalse())
			expectJSONObject(cf.deprovision(id, asyncPlan, true), http.StatusGone)
		})
	})
})

var _ = Describe("Deleting what does not exist", func() {
	It("answers 410 Gone to deprovision of an unknown instance", func() {
		expectJSONObject(shared.client().deprovision(newID(), quickPlan, true), http.StatusGone)
	})

	It("answers 410 Gone to unbind of an unknown binding", func() {
		cf := shared.client()
		id := newID()
		r := cf.provision(id, provisionBody(quickPlan, nil), true)
		DeferCleanup(cf.deprovisionGone, id, quickPlan)
		Expect(r.Status).To(Equal(http.StatusCreated), r.String())
		expectJSONObject(cf.unbind(id, newID(), quickPlan, true), http.StatusGone)
	})
})
