package acceptance_test

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
)

// route is one OSB endpoint; every one of them checks auth and the API version, including
// the ones the broker serves with handlers of its own.
type route struct {
	method string
	path   string
	body   any
}

// unknownBindingID is the binding the routes name; like unknownID, nothing ever creates it.
const unknownBindingID = "11111111-1111-4111-8111-111111111111"

var routes = func() []TableEntry {
	id, bindingID := unknownID, unknownBindingID
	all := []route{
		{http.MethodGet, "/v2/catalog", nil},
		{http.MethodPut, instancePath(id) + "?accepts_incomplete=true", provisionBody(quickPlan, nil)},
		{http.MethodPatch, instancePath(id) + "?accepts_incomplete=true", updateBody(quickPlan, quickPlan, nil)},
		{http.MethodDelete, instancePath(id) + "?accepts_incomplete=true&service_id=" + pgServiceID + "&plan_id=" + quickPlanID, nil},
		{http.MethodGet, instancePath(id), nil},
		{http.MethodGet, instancePath(id) + "/last_operation", nil},
		{http.MethodPut, bindingPath(id, bindingID) + "?accepts_incomplete=true", bindBody(quickPlan, unknownID, nil)},
		{http.MethodDelete, bindingPath(id, bindingID) + "?accepts_incomplete=true&service_id=" + pgServiceID + "&plan_id=" + quickPlanID, nil},
		{http.MethodGet, bindingPath(id, bindingID), nil},
		{http.MethodGet, bindingPath(id, bindingID) + "/last_operation", nil},
	}
	var entries []TableEntry
	for _, r := range all {
		entries = append(entries, Entry(r.method+" "+r.path, r))
	}
	return entries
}()

// send sends a request whose path may carry its own query.
func (c *osbClient) send(r route) response {
	GinkgoHelper()
	return c.do(r.method, r.path, nil, r.body)
}

// refusedOnEveryRoute is a table of every route, each sent by a client that spoil changes and
// answered with status in OSB's JSON.
func refusedOnEveryRoute(description string, status int, spoil func(c *osbClient)) bool {
	return DescribeTable(description,
		func(r route) {
			c := shared.client()
			spoil(c)
			expectOSBError(c.send(r), status)
		},
		routes,
	)
}

var _ = Describe("Error answers", func() {
	AfterEach(func() {
		By("checking that the refused request stored nothing")
		expectNoInstanceStored(sharedState, unknownID)
		expectNoBindingStored(sharedState, unknownBindingID)
	})

	refusedOnEveryRoute("answer 401 in JSON without credentials", http.StatusUnauthorized, func(c *osbClient) { c.noAuth = true })
	refusedOnEveryRoute("answer 401 in JSON with a wrong password", http.StatusUnauthorized, func(c *osbClient) { c.password = randomBase62(32) })
	refusedOnEveryRoute("answer 401 in JSON with an unknown user", http.StatusUnauthorized, func(c *osbClient) { c.username = "someone-else" })
	refusedOnEveryRoute("answer 412 in JSON without X-Broker-API-Version", http.StatusPreconditionFailed, func(c *osbClient) { c.version = "" })
	refusedOnEveryRoute("answer 412 in JSON to an API version other than 2.x", http.StatusPreconditionFailed, func(c *osbClient) { c.version = "1.0" })
})
