package broker_test

import (
	"bufio"
	"encoding/base64"
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
		Entry("provision with a stray closing brace after it (found by FuzzCheckBody)", "PUT", "instance", `{"service_id":"`+serviceID+`","plan_id":"`+quickPlan+`","organization_guid":"o","space_guid":"s"}}`, "after the JSON object"),
		Entry("provision followed by a vertical tab, which is no JSON white space (found by FuzzCheckBody)", "PUT", "instance", `{"service_id":"`+serviceID+`","plan_id":"`+quickPlan+`","organization_guid":"o","space_guid":"s"}`+"\v", "after the JSON object"),
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
			Expect(resp.body).To(HaveKeyWithValue("error", Not(BeEmpty())))
		},
		Entry("no credentials", func(r *http.Request) { r.Header.Del("Authorization") }, 401),
		Entry("a wrong password", func(r *http.Request) { r.SetBasicAuth("broker", "wrong") }, 401),
		Entry("no API version", func(r *http.Request) { r.Header.Del("X-Broker-API-Version") }, 412),
		Entry("an unknown method", func(r *http.Request) { r.Method = "BREW" }, 405),
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

	DescribeTable("hostile input on every route answers 400 with an OSB body, echoes nothing, logs nothing and writes no row",
		func(h hostile) {
			marker := "hostile-" + uuid.NewString()[:8]
			fill := func(s string) string { return strings.ReplaceAll(s, "@", marker) }
			path := strings.NewReplacer("{i}", uuid.NewString(), "{b}", uuid.NewString()).Replace(fill(h.path))
			var body any
			if h.body != "" {
				body = fill(h.body)
			}
			before := stateRows()
			resp := call(h.method, path, body, func(r *http.Request) {
				for name, value := range h.headers {
					r.Header.Set(name, fill(value))
				}
			})
			Expect(resp.status).To(Equal(400))
			Expect(resp.header.Get("Content-Type")).To(Equal("application/json"))
			Expect(resp.body["error"]).To(Equal("BadRequest"))
			Expect(resp.body["description"]).To(ContainSubstring(h.mention))
			Expect(resp.body["description"]).NotTo(ContainSubstring("hostile"), "the raw value is not echoed")
			Expect(string(logger.Buffer().Contents())).NotTo(ContainSubstring(marker), "nor logged")
			Expect(stateRows()).To(Equal(before))
		},
		hostileEntries(),
	)

	Describe("ids in the path", func() {
		It("are percent-decoded exactly once, so two spellings of one id are one row", func() {
			id := uuid.NewString()
			Expect(call("PUT", "/v2/service_instances/"+id+"%41?accepts_incomplete=true", provisionBody(quickPlan)).status).To(BeElementOf(200, 201, 202))
			Expect(instanceRows(id + "A")).To(Equal(1))
			Expect(call("PUT", "/v2/service_instances/"+id+"A?accepts_incomplete=true", provisionBody(quickPlan)).status).To(BeElementOf(200, 202))
			Expect(instanceRows(id + "%41")).To(Equal(0))
		})

		It("keeps an encoded percent sign as one: a%252Fb is the id a%2Fb", func() {
			id := uuid.NewString() + "a%2Fb"
			Expect(call("PUT", "/v2/service_instances/"+strings.ReplaceAll(id, "%", "%25")+"?accepts_incomplete=true", provisionBody(quickPlan)).status).To(BeElementOf(200, 201, 202))
			Expect(instanceRows(id)).To(Equal(1))
		})

		It("cuts a long correlation id in the request's log lines, which the chain lets through", func() {
			long := "corr-" + uuid.NewString() + strings.Repeat("y", broker.MaxIdentityHeaderBytes-41)
			id := uuid.NewString()
			Expect(call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", provisionBody(quickPlan), func(r *http.Request) {
				r.Header.Set("X-Correlation-ID", long)
			}).status).To(BeElementOf(200, 201, 202))
			Expect(string(logger.Buffer().Contents())).To(ContainSubstring(long[:41]))
			Expect(string(logger.Buffer().Contents())).NotTo(ContainSubstring(long[:200]))
		})

		It("accepts an id of exactly the stated limit", func() {
			id := uuid.NewString() + strings.Repeat("x", broker.MaxIDBytes-36)
			Expect(call("PUT", "/v2/service_instances/"+id+"?accepts_incomplete=true", provisionBody(quickPlan)).status).To(BeElementOf(200, 201, 202))
			Expect(instanceRows(id)).To(Equal(1))
		})
	})
})

var _ = DescribeTable("log lines cut an id to its first 64 bytes and its length",
	func(id, logged string) { Expect(broker.LogID(id)).To(Equal(logged)) },
	Entry("a short id whole", "abc", "abc"),
	Entry("an id of 64 bytes whole", strings.Repeat("a", 64), strings.Repeat("a", 64)),
	Entry("a 100 kB id cut", strings.Repeat("a", 100<<10), strings.Repeat("a", 64)+"...(102400 bytes)"),
	Entry("cut before a character that would not fit", strings.Repeat("a", 63)+"é", strings.Repeat("a", 63)+"...(65 bytes)"),
)

// hostile is one hostile request: "@" in path, body and header values stands for a marker
// that must appear in no answer and no log line; {i} and {b} are fresh instance and binding ids.
type hostile struct {
	method, path, body string
	headers            map[string]string
	mention            string
}

// hostileEntries is every route crossed with every hostile id, then hostile query values,
// headers and body strings.
func hostileEntries() []TableEntry {
	instance := "/v2/service_instances/{i}"
	binding := instance + "/service_bindings/{b}"
	provision := `{"service_id":"` + serviceID + `","plan_id":"` + quickPlan + `","organization_guid":"org","space_guid":"space"`
	bind := `{"service_id":"` + serviceID + `","plan_id":"` + quickPlan + `"`
	routes := []struct{ method, path, body string }{
		{"PUT", instance, provision + "}"},
		{"PATCH", instance, `{"service_id":"` + serviceID + `"}`},
		{"DELETE", instance, ""},
		{"GET", instance, ""},
		{"GET", instance + "/last_operation", ""},
		{"PUT", binding, bind + "}"},
		{"DELETE", binding, ""},
		{"GET", binding, ""},
		{"GET", binding + "/last_operation", ""},
	}
	ids := [][2]string{
		{"a NUL byte", "@%00"},
		{"a control character", "@%01x"},
		{"DEL", "@%7F"},
		{"a C1 control character", "@%C2%85"},
		{"invalid UTF-8", "@%FF%FE"},
		{"longer than the limit", "@" + strings.Repeat("x", broker.MaxIDBytes)},
		{"10 kB", "@" + strings.Repeat("x", 10<<10)},
		{"an encoded slash", "@%2Fx"},
		{"an encoded slash in lowercase", "@%2fx"},
	}
	var entries []TableEntry
	for _, r := range routes {
		for _, pair := range ids {
			what, id := pair[0], pair[1]
			for _, at := range []string{"{i}", "{b}"} {
				if at == "{b}" && !strings.Contains(r.path, at) {
					continue
				}
				mention := map[bool]string{true: "instance_id", false: "binding_id"}[at == "{i}"]
				if strings.Contains(what, "slash") {
					mention = `"/"`
				}
				path := strings.Replace(r.path, at, id, 1) + "?accepts_incomplete=true"
				entries = append(entries, Entry(r.method+" "+r.path+", "+at+" with "+what,
					hostile{method: r.method, path: path, body: r.body, mention: mention}))
			}
		}
	}
	identity := func(json string) string {
		return "cloudfoundry " + base64.StdEncoding.EncodeToString([]byte(json))
	}
	return append(entries,
		Entry("operation with a NUL byte", hostile{method: "GET", path: instance + "/last_operation?operation=@%00", mention: "operation"}),
		Entry("operation of 10 kB", hostile{method: "GET", path: instance + "/last_operation?operation=@" + strings.Repeat("x", 10<<10), mention: "operation"}),
		Entry("operation that is not UTF-8", hostile{method: "GET", path: binding + "/last_operation?operation=@%FF", mention: "operation"}),
		Entry("a malformed percent escape in the query", hostile{method: "GET", path: instance + "/last_operation?operation=@%zz", mention: "malformed"}),
		Entry("service_id with a control character", hostile{method: "DELETE", path: instance + "?service_id=@%07&plan_id=" + quickPlan, mention: "service_id"}),
		Entry("plan_id over the limit", hostile{method: "DELETE", path: binding + "?service_id=" + serviceID + "&plan_id=@" + strings.Repeat("x", broker.MaxIDBytes), mention: "plan_id"}),
		Entry("accepts_incomplete with a NUL byte", hostile{method: "PUT", path: instance + "?accepts_incomplete=@%00", body: provision + "}", mention: "accepts_incomplete"}),
		Entry("a request identity that is not UTF-8", hostile{method: "GET", path: instance, headers: map[string]string{"X-Broker-API-Request-Identity": "@\xff"}, mention: "X-Broker-API-Request-Identity"}),
		Entry("a correlation id that is not UTF-8", hostile{method: "PUT", path: instance, body: provision + "}", headers: map[string]string{"X-Correlation-ID": "@\xff"}, mention: "X-Correlation-ID"}),
		Entry("an originating identity with a NUL inside its JSON", hostile{method: "PUT", path: instance + "?accepts_incomplete=true", body: provision + "}", headers: map[string]string{"X-Broker-API-Originating-Identity": identity(`{"user_id":"u\u0000"}`)}, mention: "Originating-Identity"}),
		Entry("a correlation id over the limit", hostile{method: "GET", path: instance, headers: map[string]string{"X-Correlation-ID": "@" + strings.Repeat("x", broker.MaxIdentityHeaderBytes)}, mention: "longer than 4096 bytes"}),
		Entry("an originating identity without a value", hostile{method: "PUT", path: instance + "?accepts_incomplete=true", body: provision + "}", headers: map[string]string{"X-Broker-API-Originating-Identity": "@"}, mention: "Originating-Identity must be a platform name"}),
		Entry("an originating identity of two spaces", hostile{method: "PUT", path: instance + "?accepts_incomplete=true", body: provision + "}", headers: map[string]string{"X-Broker-API-Originating-Identity": "@  e30="}, mention: "Originating-Identity must be"}),
		Entry("an originating identity without a platform", hostile{method: "PUT", path: binding + "?accepts_incomplete=true", body: bind + "}", headers: map[string]string{"X-Broker-API-Originating-Identity": " @"}, mention: "Originating-Identity must be"}),
		Entry("an originating identity that is not base64", hostile{method: "PATCH", path: instance, body: `{"service_id":"` + serviceID + `"}`, headers: map[string]string{"X-Broker-API-Originating-Identity": "kubernetes @%%%"}, mention: "not base64"}),
		Entry("an originating identity that is not JSON", hostile{method: "DELETE", path: instance + "?service_id=" + serviceID + "&plan_id=" + quickPlan, headers: map[string]string{"X-Broker-API-Originating-Identity": identity("@")}, mention: "not the base64 of a JSON object"}),
		Entry("an originating identity that is a JSON array", hostile{method: "PUT", path: instance, body: provision + "}", headers: map[string]string{"X-Broker-API-Originating-Identity": identity(`["@"]`)}, mention: "JSON object"}),
		Entry("an originating identity that is not UTF-8 inside", hostile{method: "PUT", path: instance, body: provision + "}", headers: map[string]string{"X-Broker-API-Originating-Identity": identity("{\"user_id\":\"@\xff\"}")}, mention: "UTF-8"}),
		Entry("provision, organization_guid with a NUL", hostile{method: "PUT", path: instance, body: strings.Replace(provision, `"org"`, `"@\u0000"`, 1) + "}", mention: "control character"}),
		Entry("provision, space_guid over the limit", hostile{method: "PUT", path: instance, body: strings.Replace(provision, `"space"`, `"@`+strings.Repeat("x", broker.MaxIDBytes)+`"`, 1) + "}", mention: "space_guid"}),
		Entry("provision, service_id of 10 kB", hostile{method: "PUT", path: instance, body: `{"service_id":"@` + strings.Repeat("x", 10<<10) + `","plan_id":"` + quickPlan + `"}`, mention: "service_id"}),
		Entry("provision, a control character inside context", hostile{method: "PUT", path: instance, body: provision + `,"context":{"a":{"b":"@\u0001"}}}`, mention: "control character"}),
		Entry("provision, a NUL inside parameters", hostile{method: "PUT", path: instance, body: provision + `,"parameters":{"x":["@\u0000"]}}`, mention: "control character"}),
		Entry("provision, a NUL in a key of parameters", hostile{method: "PUT", path: instance, body: provision + `,"parameters":{"@\u0000":1}}`, mention: "control character"}),
		Entry("provision, raw bytes that are not UTF-8", hostile{method: "PUT", path: instance, body: strings.Replace(provision, `"org"`, "\"@\xff\"", 1) + "}", mention: "UTF-8"}),
		Entry("update, a NUL inside context", hostile{method: "PATCH", path: instance, body: `{"service_id":"` + serviceID + `","context":{"space_guid":"@\u0000"}}`, mention: "control character"}),
		Entry("bind, app_guid with a NUL", hostile{method: "PUT", path: binding, body: bind + `,"app_guid":"@\u0000"}`, mention: "control character"}),
		Entry("bind, a control character inside bind_resource", hostile{method: "PUT", path: binding, body: bind + `,"bind_resource":{"app_guid":"@\u001b"}}`, mention: "control character"}),
	)
}

// stateRows counts the rows of the broker's state tables.
func stateRows() int {
	var n int
	Expect(st.DB().Get(&n, `SELECT (SELECT count(*) FROM instances) + (SELECT count(*) FROM bindings) + (SELECT count(*) FROM operations)`)).To(Succeed())
	return n
}

func instanceRows(id string) int {
	var n int
	Expect(st.DB().Get(&n, `SELECT count(*) FROM instances WHERE id = $1`, id)).To(Succeed())
	return n
}
