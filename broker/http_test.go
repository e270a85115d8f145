package broker_test

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The HTTP API", func() {
	DescribeTable("bodies that are not the JSON object a route expects answer 400 and write nothing",
		func(method, route, body, mention string) {
			id := uuid.NewString()
			path := map[string]string{
				"instance": "/v2/service_instances/" + id,
				"binding":  "/v2/service_instances/" + id + "/service_bindings/" + uuid.NewString(),
			}[route]
			resp := call(method, path+"?accepts_incomplete=true", body)
			Expect(resp.status).To(Equal(400))
			Expect(resp.body["description"]).To(ContainSubstring(mention))
			Expect(call("GET", "/v2/service_instances/"+id, nil).status).To(Equal(404))
		},
		Entry("truncated provision", "PUT", "instance", `{"service_id": "x"`, "malformed JSON"),
		Entry("provision that is an array", "PUT", "instance", `[]`, "JSON object"),
		Entry("provision with a number for plan_id", "PUT", "instance", `{"service_id":"`+serviceID+`","plan_id":5}`, "plan_id"),
		Entry("provision with parameters that are a string", "PUT", "instance", `{"service_id":"`+serviceID+`","plan_id":"`+quickPlan+`","organization_guid":"o","space_guid":"s","parameters":"x"}`, "parameters"),
		Entry("update that is not JSON", "PATCH", "instance", `nope`, "JSON object"),
		Entry("bind that is truncated", "PUT", "binding", `{"service_id":`, "malformed JSON"),
		Entry("provision larger than 1 MiB", "PUT", "instance", `{"service_id": "`+strings.Repeat("x", 1<<20)+`"}`, "larger than 1 MiB"),
	)

	DescribeTable("every refusal is an OSB JSON error body",
		func(mutate func(*http.Request), status int) {
			resp := call("GET", "/v2/catalog", nil, mutate)
			Expect(resp.status).To(Equal(status))
			Expect(resp.header.Get("Content-Type")).To(Equal("application/json"))
			Expect(resp.body).To(HaveKey("description"))
		},
		Entry("no credentials", func(r *http.Request) { r.Header.Del("Authorization") }, 401),
		Entry("a wrong password", func(r *http.Request) { r.SetBasicAuth("broker", "wrong") }, 401),
		Entry("no API version", func(r *http.Request) { r.Header.Del("X-Broker-API-Version") }, 412),
		Entry("API version 3", func(r *http.Request) { r.Header.Set("X-Broker-API-Version", "3.0") }, 412),
		Entry("neither credentials nor an API version: credentials are checked first", func(r *http.Request) {
			r.Header.Del("Authorization")
			r.Header.Del("X-Broker-API-Version")
		}, 401),
	)

	It("checks credentials and the API version before the route, so an unknown route answers 401 without them", func() {
		Expect(call("GET", "/v2/no-such-route", nil).status).To(Equal(404))
		Expect(call("GET", "/v2/no-such-route", nil, func(r *http.Request) { r.Header.Del("Authorization") }).status).To(Equal(401))
		Expect(call("GET", "/v2/no-such-route", nil, func(r *http.Request) { r.Header.Del("X-Broker-API-Version") }).status).To(Equal(412))
	})
})
