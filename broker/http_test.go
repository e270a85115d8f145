package broker_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/broker"
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

	DescribeTable("the API version header is 2.N with N >= 11, anything else 412 with an OSB body",
		func(version string, status int) {
			resp := call("GET", "/v2/catalog", nil, func(r *http.Request) { r.Header.Set("X-Broker-API-Version", version) })
			Expect(resp.status).To(Equal(status))
			if status != 200 {
				Expect(resp.body).To(HaveKey("description"))
			}
		},
		Entry("2.11, the oldest the Kubernetes client speaks", "2.11", 200),
		Entry("2.15, as Cloud Foundry sends", "2.15", 200),
		Entry("a newer minor than the broker knows", "2.42", 200),
		Entry("a minor too large for an int", "2.99999999999999999999999", 200),
		Entry("2.10, older than the broker speaks", "2.10", 412),
		Entry("2.1", "2.1", 412),
		Entry("trailing letters", "2.17x", 412),
		Entry("a leading zero on the major", "02.17", 412),
		Entry("a leading zero on the minor", "2.017", 412),
		Entry("no minor", "2.", 412),
		Entry("only the major", "2", 412),
		Entry("a leading plus", "+2.17", 412),
		Entry("a plus on the minor", "2.+17", 412),
		Entry("a patch version", "2.17.1", 412),
		Entry("a space inside", "2. 17", 412),
		Entry("a negative minor", "2.-17", 412),
	)

	DescribeTable("a query parameter given twice is a 400 with an OSB body, before anything is written",
		func(method, query, mention string) {
			id := uuid.NewString()
			path := "/v2/service_instances/" + id
			var body any
			switch method {
			case "PUT":
				body = provisionBody(quickPlan)
			case "GET":
				path += "/last_operation"
			}
			resp := call(method, path+"?"+query, body)
			Expect(resp.status).To(Equal(400))
			Expect(resp.body["error"]).To(Equal("BadRequest"))
			Expect(resp.body["description"]).To(ContainSubstring(mention))
			Expect(call("GET", "/v2/service_instances/"+id, nil).status).To(Equal(404))
		},
		Entry("accepts_incomplete twice on provision", "PUT", "accepts_incomplete=true&accepts_incomplete=false", "accepts_incomplete"),
		Entry("accepts_incomplete twice, the same value", "PUT", "accepts_incomplete=true&accepts_incomplete=true", "accepts_incomplete"),
		Entry("operation twice on last_operation", "GET", "operation=a&operation=b", "operation"),
		Entry("plan_id twice on deprovision", "DELETE", "service_id="+serviceID+"&plan_id="+quickPlan+"&plan_id=x", "plan_id"),
		Entry("a parameter the API does not know, without naming it", "PUT", "accepts_incomplete=true&x%00y=1&x%00y=2", "more than once"),
	)

	It("answers a request without credentials before its body arrives, and closes the connection", func() {
		conn, err := net.Dial("tcp", strings.TrimPrefix(server.URL, "http://"))
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		_, err = fmt.Fprint(conn, "PUT /v2/service_instances/x HTTP/1.1\r\nHost: broker\r\nX-Broker-API-Version: 2.17\r\nContent-Length: 10\r\n\r\n")
		Expect(err).NotTo(HaveOccurred())
		Expect(conn.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		reader := bufio.NewReader(conn)
		resp, err := http.ReadResponse(reader, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(401))
		Expect(resp.Close).To(BeTrue(), "the answer says Connection: close")
		_, err = io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		_, err = reader.ReadByte()
		Expect(err).To(MatchError(io.EOF), "the broker closed the connection")
	})

	It("gives the server read, write and idle timeouts, writes outlasting the longest sync budget", func() {
		s := broker.NewServer(http.NotFoundHandler())
		Expect(s.ReadHeaderTimeout).To(BeNumerically(">", 0))
		Expect(s.ReadTimeout).To(BeNumerically(">=", s.ReadHeaderTimeout))
		Expect(s.WriteTimeout).To(BeNumerically(">", s.ReadTimeout+broker.MaxSyncBudget))
		Expect(s.IdleTimeout).To(BeNumerically(">", 90*time.Second))
	})

	DescribeTable("the connection bound leaves files for the rest of the process and room for hundreds of requests",
		func(files uint64, limit int) { Expect(broker.ConnectionLimitOf(files)).To(Equal(limit)) },
		Entry("1,024 files", uint64(1024), 768),
		Entry("a large file limit", uint64(1<<20), broker.MaxConnections),
		Entry("a file limit smaller than the reserve", uint64(100), 64),
	)
})
