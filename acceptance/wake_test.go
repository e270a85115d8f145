package acceptance_test

// A request is woken when its operation finishes, not found by a poll: with the fallback
// poll at a minute, every answer inside the plan's 30 s wait_budget is a wake-up's.

import (
	"fmt"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// wakePlan is a Redis plan whose requests wait 30 s for their operation.
var wakePlan = plan{"5b0c7e1a-2f4d-4e8b-9a61-0d3c2b1a7e01", "5b0c7e1a-2f4d-4e8b-9a61-0d3c2b1a7e02"}

// wakeCatalog writes a catalog of wakePlan alone, with the test catalog's backends.
func wakeCatalog() string {
	GinkgoHelper()
	return catalogWith(fmt.Sprintf("  - {id: %s, name: wake, description: d, bindable: true, plans: [\n"+
		"      {id: %s, name: wake, description: d, backend: redis, wait_budget: 30s}]}\n", wakePlan.serviceID, wakePlan.planID))
}

// slowPolls is the environment of a broker whose workers and waiting requests poll only
// once a minute, so that within the 30 s budget only a wake-up moves them.
func slowPolls(extra map[string]string) map[string]string {
	env := map[string]string{
		"OMNIBROKER_CONFIG":        wakeCatalog(),
		"OMNIBROKER_WAIT_POLL":     "1m",
		"OMNIBROKER_POLL_INTERVAL": "1m",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// expectAnsweredDone provisions, binds, unbinds and deprovisions through c with
// accepts_incomplete=true, and expects each to be answered done (201, 201, 200, 200), not 202.
func expectAnsweredDone(c *osbClient) {
	GinkgoHelper()
	id, bindingID := newID(), newID()
	DeferCleanup(c.deprovisionGone, id, wakePlan)
	r := c.provision(id, provisionBody(wakePlan, nil), true)
	Expect(r.Status).To(Equal(http.StatusCreated), r.String())
	r = c.bind(id, bindingID, bindBody(wakePlan, newID(), nil), true)
	Expect(r.Status).To(Equal(http.StatusCreated), r.String())
	r = c.unbind(id, bindingID, wakePlan, true)
	Expect(r.Status).To(Equal(http.StatusOK), r.String())
	r = c.deprovision(id, wakePlan, true)
	Expect(r.Status).To(Equal(http.StatusOK), r.String())
}

var _ = Describe("Waking the request when its operation finishes", func() {
	It("answers done on one replica, whose worker wakes the request", func() {
		b := startBroker(newStateDB(), slowPolls(nil))
		expectAnsweredDone(b.client())
	})

	It("answers done on a replica without workers when another replica ran the operation", func() {
		state := newStateDB()
		startBroker(state, slowPolls(nil))
		front := startBroker(state, slowPolls(map[string]string{"OMNIBROKER_WORKERS": "0"}))
		expectAnsweredDone(front.client())
	})
})
