package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/go-chi/chi/v5"
	"github.com/pivotal-cf/brokerapi/v10"
	"github.com/pivotal-cf/brokerapi/v10/domain"
	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"
	"github.com/pivotal-cf/brokerapi/v10/middlewares"
)

const (
	// maxBodyBytes bounds a request body; OSB bodies are a few kilobytes.
	maxBodyBytes = 1 << 20
	// refusedBodyWait is how long the rest of a refused request's body may take to arrive
	// after its answer: a client that sent it whole loses nothing (closing a connection with
	// unread data would reset it, and the client might lose the answer), and one that is
	// holding it back holds the connection no longer.
	refusedBodyWait = time.Second
)

// Handler returns the broker's HTTP API: every request passes through chain, then reaches
// brokerapi's routes or, where brokerapi v10 cannot say enough, our own handlers. platform
// are the basic-auth credentials the platform may use, more than one while its password
// rotates.
func Handler(b *Broker, logger lager.Logger, platform ...Credential) http.Handler {
	r := chi.NewRouter()
	logins := newLoginLimiter(b.logins, time.Now)
	var scrape http.Handler
	if !b.metricsApart {
		scrape = b.MetricsHandler()
	}
	r.Use(append(chain(logger, platform, b.admin, logins, b.ready, r, b.metrics, scrape), b.checkFields)...)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "no such route in the Open Service Broker API")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed on this route")
	})

	brokerapi.AttachRoutes(r, b, refusalsAtInfo(logger))
	// chi replaces a handler registered again for the same method and pattern.
	r.Get("/v2/catalog", b.serveCatalog)
	r.Get("/v2/service_instances/{instance_id}", b.serveGetInstance)
	r.Get("/v2/service_instances/{instance_id}/last_operation", b.serveLastOperation)
	r.Get("/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation", b.serveLastBindingOperation)
	r.Put("/v2/service_instances/{instance_id}/service_bindings/{binding_id}", b.serveBind)
	r.Get("/v2/service_instances/{instance_id}/service_bindings/{binding_id}", b.serveGetBinding)
	return r
}

// chain is what every request passes through before its route, outermost first; a stage
// that refuses a request answers it with an OSB JSON error body, and the stages after it do
// not run. It runs for unknown routes too. A concern that later work adds takes its place in this list, and in
// the slice below, and nowhere else:
//
//  1. accessLog: outermost, so that it sees every answer and its duration; one line per
//     request (routes names the route of one refused before routing), at error level for
//     a 5xx, else at info
//  2. countRequests: the count and duration of each answer, by route pattern (as the access
//     line names it), method and status
//  3. recoverPanic: a handler that panics answers 500 in an OSB body, its stack in the log
//  4. timeouts and limits: limitBody bounds the body; a request deadline goes here
//  5. probes: /healthz and /readyz (ready says whether the state database serves) answer
//     here, without the platform's credentials, and so does /metrics (scrape; nil when it is
//     served on a listener of its own)
//  6. operatorAPI: /admin/v1 answers here, behind credentials of its own (403 when there are
//     none), its path, headers and query checked as stages 9 and 12 check the OSB API's
//  7. basicAuth: one of the platform's credentials (more than one while its password
//     rotates, all compared in constant time), else 401 without reading the body, on a
//     connection then closed, and a login-failed line; 429 with Retry-After, credentials
//     unlooked at, for an address that has used up its failed logins (loginLimiter)
//  8. checkAPIVersion: X-Broker-API-Version 2.N with N >= 11, else 412
//  9. checkHeaders: 400 for an identity header over MaxIdentityHeaderBytes, not UTF-8 or
//     holding a control character, or an originating identity that is not "platform
//     base64(JSON object)", before anything carries it
//  10. brokerapi's context middlewares: correlation id, originating identity, info location
//     and request identity, which the request's log session and operation rows carry
//  11. echoRequestIdentity: the request identity back on the response, and it and the
//     correlation id, now checked, onto the access line
//  12. input checks, so that nothing hostile reaches a log line or SQL: checkPath, 400 for an
//     id that is empty, over MaxIDBytes, not UTF-8, holds a control character or an encoded
//     "/", then routing on the path decoded once; checkQuery, 400 for a query that does not
//     parse, a parameter given more than once or a value checkQueryValue refuses; checkBody,
//     400 for a body that is not the JSON object its route expects (brokerapi v10 says 422
//     for it) or whose strings checkBodyStrings refuses; then inputChecked: the path's ids,
//     checked with all the rest, go onto the access line
//  13. osbErrorBodies: every error answer after it is an OSB error body, and a 412 carries
//     an error key (brokerapi's own for a GET below OSB 2.14 has none)
//  14. checkFields (in Handler, as it reads the broker's catalog and state): 400 BadRequest in
//     the broker's words for a missing service_id or plan_id, and for a provision's ids that
//     are not in the catalog, before brokerapi answers them in its own; a provision it refuses
//     whose instance id exists with other attributes gets 409 instead (provisionConflict)
func chain(logger lager.Logger, platform []Credential, admin AdminAPI, logins *loginLimiter, ready func(context.Context) error, routes chi.Routes, m *metrics, scrape http.Handler) []func(http.Handler) http.Handler {
	return []func(http.Handler) http.Handler{
		accessLog(logger, routes),
		countRequests(m, routes),
		recoverPanic(logger),
		limitBody,
		probes(logger, ready, scrape),
		operatorAPI(logger, admin, logins),
		basicAuth(logger, platform, logins),
		checkAPIVersion,
		checkHeaders,
		middlewares.AddCorrelationIDToContext,
		middlewares.AddOriginatingIdentityToContext,
		middlewares.AddInfoLocationToContext,
		middlewares.AddRequestIdentityToContext,
		echoRequestIdentity,
		checkPath,
		checkQuery,
		checkBody,
		inputChecked,
		osbErrorBodies,
	}
}

// limitBody makes reading more than maxBodyBytes of a request body fail, whoever reads it.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request the broker will not read: the answer goes out before any of the
// body is read (Connection: close spares it Go's server's read-ahead), and Go's server then
// reads what is left of the body for only refusedBodyWait before it closes the connection: a
// half-sent body would otherwise hold it until readTimeout.
func refuse(w http.ResponseWriter, status int, key, description string) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(refusedBodyWait))
	writeError(w, status, key, description)
}

// The headers the chain reads on every request, spelt as Go's server stores them
// (http.CanonicalHeaderKey), so that looking them up costs no allocation.
const (
	apiVersionHeader      = "X-Broker-Api-Version"          // X-Broker-API-Version
	requestIdentityHeader = "X-Broker-Api-Request-Identity" // X-Broker-API-Request-Identity
)

// minAPIMinor is the oldest minor version of OSB API 2 the broker speaks (the Kubernetes
// service catalog's 2.11); minor versions are additive, so any newer one is accepted.
const minAPIMinor = 11

// checkAPIVersion answers 412 unless X-Broker-API-Version is 2.N with N >= minAPIMinor.
func checkAPIVersion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get(apiVersionHeader)
		if header == "" {
			writeError(w, http.StatusPreconditionFailed, "PreconditionFailed", "the X-Broker-API-Version header is missing; this broker speaks 2.11 and later")
			return
		}
		if !supportedAPIVersion(header) {
			writeError(w, http.StatusPreconditionFailed, "PreconditionFailed", "the X-Broker-API-Version header is not supported; this broker speaks 2.11 and later")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func supportedAPIVersion(header string) bool {
	minor, ok := apiVersionMinor(header)
	return ok && minor >= minAPIMinor
}

// apiVersionMinor is N of an X-Broker-API-Version of the form the broker accepts, 2.N with N
// written without a leading zero; math.MaxInt for an N too large for an int, which is still a
// newer minor. False for any other form.
func apiVersionMinor(header string) (int, bool) {
	digits, ok := strings.CutPrefix(header, "2.")
	if !ok || digits == "" || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	for i := range len(digits) {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	minor, err := strconv.Atoi(digits)
	if err != nil {
		return math.MaxInt, true
	}
	return minor, true
}

func echoRequestIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get(requestIdentityHeader); id != "" {
			w.Header()[requestIdentityHeader] = []string{id}
		}
		noteIdentity(r)
		next.ServeHTTP(w, r)
	})
}

// queryNames are the query parameters of the OSB API, which a refusal may name.
var queryNames = map[string]bool{"accepts_incomplete": true, "operation": true, "service_id": true, "plan_id": true}

// checkQuery answers 400 for a query string that does not parse, a query parameter given
// more than once (which of the values counts would otherwise be up to whoever reads it
// first), or a value that checkQueryValue refuses.
func checkQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequest", "the query string is malformed: give name=value pairs joined by &, percent-encoded")
			return
		}
		for name, values := range query {
			problem := ""
			if len(values) > 1 {
				problem = "is given more than once; give it once"
			} else if problem = checkText(name, false); problem == "" {
				problem = checkQueryValue(name, values[0])
			}
			if problem != "" {
				writeError(w, http.StatusBadRequest, "BadRequest", queryError(name, problem))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// checkBody answers 400 for a PUT or PATCH body that is not a JSON object of the shape the
// route expects (brokerapi v10 would say 422), then hands the body on unchanged.
func checkBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut && r.Method != http.MethodPatch {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body) // at most maxBodyBytes: limitBody came first
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequest", "the request body could not be read or is larger than 1 MiB")
			return
		}
		var target any
		switch {
		case r.Method == http.MethodPatch:
			target = &domain.UpdateDetails{}
		case strings.Contains(r.URL.Path, "/service_bindings/"):
			target = &domain.BindDetails{}
		default:
			target = &domain.ProvisionDetails{}
		}
		if err := decodeStrictObject(body, target); err != nil {
			writeError(w, http.StatusBadRequest, "BadRequest", "the request body is not valid: "+err.Error())
			return
		}
		if problem := checkBodyStrings(body); problem != "" {
			writeError(w, http.StatusBadRequest, "BadRequest", problem)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// jsonSpace is the white space JSON allows between tokens.
const jsonSpace = " \t\r\n"

func decodeStrictObject(body []byte, target any) error {
	// JSON's own white space, not bytes.TrimSpace's: "\v" or U+00A0 around an object is
	// not JSON.
	trimmed := bytes.Trim(body, jsonSpace)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(target); err != nil {
		return describeJSONError(err)
	}
	// Not dec.More, which is false before a stray "}" as before the end.
	if len(bytes.Trim(trimmed[dec.InputOffset():], jsonSpace)) > 0 {
		return fmt.Errorf("unexpected data after the JSON object")
	}
	var objects struct {
		Parameters json.RawMessage `json:"parameters"`
		Context    json.RawMessage `json:"context"`
	}
	_ = json.Unmarshal(trimmed, &objects)
	for _, raw := range []json.RawMessage{objects.Parameters, objects.Context} {
		if len(raw) > 0 && raw[0] != '{' && !bytes.Equal(raw, []byte("null")) {
			return fmt.Errorf("parameters and context must be JSON objects")
		}
	}
	return nil
}

// describeJSONError keeps the decoder's position and field, never the offending value.
func describeJSONError(err error) error {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Errorf("malformed JSON at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Errorf("field %q must be a JSON %s", e.Field, jsonKind(e.Type.Kind().String()))
	default:
		return fmt.Errorf("malformed JSON")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	default:
		return "value of another type"
	}
}

func writeError(w http.ResponseWriter, status int, key, description string) {
	writeJSON(w, status, apiresponses.ErrorResponse{Error: key, Description: description})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}
