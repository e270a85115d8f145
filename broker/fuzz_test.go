package broker

// Fuzz targets for every parser of request data at the edge: ids, query strings, bodies,
// identity headers, the API version, the remote address, and the chain as a whole. Their seed
// corpus is testdata/fuzz/FuzzX/; `make test` runs each for a short -fuzztime
// (scripts/fuzz), and `go test` runs the seeds alone.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/domain"
	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"
	"github.com/pivotal-cf/brokerapi/v10/middlewares"
	"golang.org/x/net/http/httpguts"

	"github.com/omnibroker/omnibroker/catalog"
)

// validText is what checkText lets through, written out again independently of it.
func validText(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) && !(multiline && (c == '\t' || c == '\n' || c == '\r')) {
			return false
		}
	}
	return true
}

// noEcho fails when a refusal's description repeats a value long enough to be told apart
// from the broker's own words.
func noEcho(t *testing.T, description, value string) {
	t.Helper()
	description = strings.ReplaceAll(description, identityExample, "")
	if len(value) >= 12 && strings.Contains(description, value) {
		t.Fatalf("the description %q repeats the refused value", description)
	}
}

func FuzzCheckID(f *testing.F) {
	f.Add("6a1d3c62-0f5e-4c53-9a38-4e2f0c8a7b10")
	f.Fuzz(func(t *testing.T, id string) {
		problem := checkID(id)
		ok := id != "" && len(id) <= MaxIDBytes && validText(id, false)
		if ok != (problem == "") {
			t.Fatalf("checkID(%q) = %q, want accepted %v", id, problem, ok)
		}
		noEcho(t, problem, id)
	})
}

func FuzzCheckQuery(f *testing.F) {
	f.Add("accepts_incomplete=true&service_id=s&plan_id=p")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		var reached *http.Request
		h := checkQuery(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { reached = r }))
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/v2/catalog", RawQuery: rawQuery}, Header: http.Header{}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if reached == nil {
			expectRefusal(t, w, http.StatusBadRequest, rawQuery)
			return
		}
		query, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatalf("a query that does not parse was let through: %q", rawQuery)
		}
		for name, values := range query {
			if len(values) != 1 || !validText(name, false) || !validText(values[0], false) {
				t.Fatalf("parameter %q = %q was let through", name, values)
			}
			if queryNames[name] && name != "accepts_incomplete" && len(values[0]) > MaxIDBytes {
				t.Fatalf("a %d-byte %s was let through", len(values[0]), name)
			}
		}
	})
}

func FuzzCheckBody(f *testing.F) {
	f.Add(uint8(0), []byte(`{"service_id":"s","plan_id":"p","organization_guid":"o","space_guid":"s","parameters":{"a":"b\nc"}}`))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		method, path := http.MethodPut, "/v2/service_instances/i"
		var target any = &domain.ProvisionDetails{}
		switch route % 3 {
		case 1:
			method, target = http.MethodPatch, &domain.UpdateDetails{}
		case 2:
			path, target = path+"/service_bindings/b", &domain.BindDetails{}
		}
		var reached []byte
		h := limitBody(checkBody(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			reached, _ = io.ReadAll(r.Body)
		})))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, bytes.NewReader(body)))
		if reached == nil {
			expectRefusal(t, w, http.StatusBadRequest, string(body))
			return
		}
		if !bytes.Equal(reached, body) {
			t.Fatal("the body was changed on its way")
		}
		// What brokerapi does with it next must work, and every string must be one the state
		// database stores as it is.
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(target); err != nil {
			t.Fatalf("brokerapi would refuse a body that was let through: %v", err)
		}
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil || doc == nil || !utf8.Valid(body) {
			t.Fatalf("a body that is not a UTF-8 JSON object was let through: %q", body)
		}
		for _, name := range bodyIDFields {
			if s, ok := doc[name].(string); ok && len(s) > MaxIDBytes {
				t.Fatalf("a %d-byte %s was let through", len(s), name)
			}
		}
		if !stringsValid(doc) {
			t.Fatalf("a body with a control character was let through: %q", body)
		}
	})
}

// stringsValid tells whether every key and string of a decoded JSON document passes
// validText (multiline).
func stringsValid(v any) bool {
	switch t := v.(type) {
	case string:
		return validText(t, true)
	case []any:
		for _, e := range t {
			if !stringsValid(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range t {
			if !validText(k, true) || !stringsValid(e) {
				return false
			}
		}
	}
	return true
}

func FuzzCheckIdentity(f *testing.F) {
	f.Add("cloudfoundry " + base64.StdEncoding.EncodeToString([]byte(`{"user_id":"683ea748-3092-4ff4-b656-39cacc4d5360"}`)))
	f.Fuzz(func(t *testing.T, header string) {
		problem := checkIdentity(header)
		noEcho(t, problem, header)
		if problem != "" {
			return
		}
		recorded := originatingIdentity(context.WithValue(context.Background(), middlewares.OriginatingIdentityKey, header))
		if recorded == nil {
			t.Fatalf("an identity that was let through is not recorded: %q", header)
		}
		var doc struct {
			Platform string         `json:"platform"`
			Value    map[string]any `json:"value"`
		}
		if err := json.Unmarshal(recorded, &doc); err != nil || doc.Value == nil || doc.Platform == "" {
			t.Fatalf("identity %q is recorded as %s", header, recorded)
		}
		if !stringsValid(doc.Value) || bytes.Contains(recorded, []byte(`\u0000`)) {
			t.Fatalf("identity %q is recorded with a string jsonb refuses", header)
		}
	})
}

func FuzzAPIVersion(f *testing.F) {
	f.Add("2.15")
	f.Fuzz(func(t *testing.T, header string) {
		minor, plain := strings.CutPrefix(header, "2.")
		plain = plain && minor != "" && strings.Trim(minor, "0123456789") == "" && (minor == "0" || minor[0] != '0')
		want := plain && (len(minor) > 2 || minor >= "11" && len(minor) == 2)
		if got := supportedAPIVersion(header); got != want {
			t.Fatalf("supportedAPIVersion(%q) = %v, want %v", header, got, want)
		}
	})
}

func FuzzLogID(f *testing.F) {
	f.Add(strings.Repeat("é", 40))
	f.Fuzz(func(t *testing.T, id string) {
		logged := logID(id)
		if len(id) <= logIDBytes {
			if logged != id {
				t.Fatalf("a short id is logged as %q", logged)
			}
			return
		}
		kept, _, _ := strings.Cut(logged, "...(")
		if !strings.HasPrefix(id, kept) || len(kept) > logIDBytes || len(logged) > logIDBytes+32 {
			t.Fatalf("logID(%d bytes) = %q", len(id), logged)
		}
		if utf8.ValidString(id) && !utf8.ValidString(logged) {
			t.Fatalf("logID cut a character: %q", logged)
		}
	})
}

func FuzzLoginAddress(f *testing.F) {
	f.Add("[2001:db8::1]:443")
	f.Fuzz(func(t *testing.T, remoteAddr string) {
		prefix := loginAddress(remoteAddr)
		if prefix.IsValid() && prefix.Bits() != 32 && prefix.Bits() != 64 {
			t.Fatalf("loginAddress(%q) = %s", remoteAddr, prefix)
		}
		if prefix.IsValid() && prefix.Masked() != prefix {
			t.Fatalf("loginAddress(%q) = %s, not masked", remoteAddr, prefix)
		}
	})
}

// fuzzCatalog is the catalog FuzzChain's broker serves: checkFields reads it.
const fuzzCatalog = `
services:
  - id: svc-id
    name: svc
    description: d
    bindable: true
    plans:
      - {id: plan-id, name: small, description: d, backend: local}
backends:
  - name: local
    kind: postgres
    nodes: [{name: pg-fuzz, url_env: OMNIBROKER_FUZZ_UNUSED_URL, default_url: "postgres://127.0.0.1:1/x"}]
`

// FuzzPlanOf checks the service_id and plan_id of a request against the catalog, as
// checkFields and every endpoint do: an id that is not a catalog's is a 400 BadRequest that
// names the field, and a name in the catalog hears the id to send.
func FuzzPlanOf(f *testing.F) {
	cat, err := catalog.Parse([]byte(fuzzCatalog))
	if err != nil {
		f.Fatal(err)
	}
	b := New(Config{Catalog: cat, Logger: lager.NewLogger("fuzz")})
	f.Add("svc-id", "plan-id")
	f.Fuzz(func(t *testing.T, serviceID, planID string) {
		plan, svc, err := b.planOf(serviceID, planID)
		if err == nil {
			if svc.ID != serviceID || plan.ID != planID {
				t.Fatalf("planOf(%q, %q) found %q, %q", serviceID, planID, svc.ID, plan.ID)
			}
			return
		}
		var failure *apiresponses.FailureResponse
		if !errors.As(err, &failure) || failure.ValidatedStatusCode(nil) != http.StatusBadRequest || failure.ErrorResponse().(apiresponses.ErrorResponse).Error != "BadRequest" {
			t.Fatalf("planOf(%q, %q) = %v, not a 400 BadRequest", serviceID, planID, err)
		}
		description := err.Error()
		if !strings.Contains(description, "service_id") && !strings.Contains(description, "plan_id") {
			t.Fatalf("the refusal %q names no field", description)
		}
		if planID == "small" && serviceID == "svc-id" && !strings.Contains(description, `its id is "plan-id"`) {
			t.Fatalf("a plan name hears no id: %q", description)
		}
	})
}

var fuzzMethods = []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodPost, "BREW"}

// FuzzChain sends whole requests through the chain, in front of a route that takes whatever
// reaches it: a refusal is a 4xx with an OSB body, and what reaches the route has ids, query
// values and a body the checks allow. checkFields, after the chain, reads the state database;
// its catalog part is FuzzPlanOf.
func FuzzChain(f *testing.F) {
	var reached *http.Request
	handler := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = r
		w.WriteHeader(http.StatusOK)
	}))
	admin := AdminAPI{Credentials: []Credential{{"broker", "pw"}}, Serve: func(w http.ResponseWriter, r *http.Request, _ string) {
		reached = r
		w.WriteHeader(http.StatusOK)
	}}
	stages := chain(lager.NewLogger("fuzz"), []Credential{{"broker", "pw"}}, admin, newLoginLimiter(LoginLimits{Failures: 1 << 30}, time.Now), func(context.Context) error { return nil }, nil, newMetrics(), nil)
	for i := len(stages) - 1; i >= 0; i-- {
		handler = stages[i](handler)
	}
	f.Add(uint8(0), "/admin/v1/operations/op-1?state=failed", "", "", []byte(nil))
	f.Add(uint8(1), "/v2/service_instances/i?accepts_incomplete=true", "2.15", "cloudfoundry e30=", []byte(`{"service_id":"svc-id","plan_id":"plan-id","organization_guid":"o","space_guid":"s"}`))
	f.Fuzz(func(t *testing.T, method uint8, target, version, identity string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !httpguts.ValidHeaderFieldValue(version) || !httpguts.ValidHeaderFieldValue(identity) {
			return // Go's server answers these itself, before any handler
		}
		r := &http.Request{
			Method: fuzzMethods[int(method)%len(fuzzMethods)], URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"X-Broker-Api-Version": {version}}, Body: io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)), RemoteAddr: "192.0.2.1:1234", Host: "broker",
		}
		if identity != "" {
			r.Header.Set("X-Broker-API-Originating-Identity", identity)
		}
		r.SetBasicAuth("broker", "pw")
		reached = nil
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		if reached == nil {
			expectRefusal(t, w, 0, "")
			return
		}
		if admin, ok := strings.CutPrefix(reached.URL.Path, AdminPrefix); ok {
			for _, segment := range strings.Split(admin, "/") {
				if segment != "" && checkID(segment) != "" {
					t.Fatalf("the path segment %q reached the operator API", segment)
				}
			}
			return
		}
		rest, ok := strings.CutPrefix(reached.URL.Path, "/v2/service_instances/")
		if !ok {
			return
		}
		segments := strings.Split(rest, "/")
		ids := []string{segments[0]}
		if len(segments) > 2 && segments[1] == "service_bindings" {
			ids = append(ids, segments[2])
		}
		for _, id := range ids {
			if checkID(id) != "" || strings.Contains(id, "/") {
				t.Fatalf("the id %q reached the route", id)
			}
		}
		if reached.Header.Get("X-Broker-API-Originating-Identity") != "" && checkIdentity(identity) != "" {
			t.Fatalf("the identity %q reached the route", identity)
		}
	})
}

// expectRefusal checks a refusal: status (any 4xx when 0), JSON, an OSB body with an error
// key and a description that does not repeat value.
func expectRefusal(t *testing.T, w *httptest.ResponseRecorder, status int, value string) {
	t.Helper()
	if status != 0 && w.Code != status || w.Code < 400 || w.Code >= 500 {
		t.Fatalf("refused with %d: %s", w.Code, w.Body)
	}
	if w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("a refusal of type %q", w.Header().Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("a refusal that is not JSON: %s", w.Body)
	}
	key, _ := body["error"].(string)
	description, _ := body["description"].(string)
	if key == "" || description == "" {
		t.Fatalf("a refusal without error or description: %s", w.Body)
	}
	noEcho(t, description, value)
}
