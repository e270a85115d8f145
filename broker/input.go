package broker

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDBytes is the longest instance, binding, service, plan, organization, space or app id
// the broker accepts, in bytes. Cloud Foundry sends 36-byte GUIDs and Kubernetes names are at
// most 253 bytes; 255 keeps a primary key, and the operations index over an instance id and a
// binding id together, far below PostgreSQL's B-tree row limit (about 2,700 bytes), and keeps
// a log line short.
const MaxIDBytes = 255

// logIDBytes is how much of an id a log line carries; the rest is cut (logID).
const logIDBytes = 64

// MaxIdentityHeaderBytes is the longest value of an identity header (identityHeaders) the
// broker accepts, in bytes: Cloud Foundry's originating identity is about a hundred bytes and
// a Kubernetes user's, with its groups, a few hundred; the request and correlation ids are
// GUIDs. The value is stored with each operation and put into log lines.
const MaxIdentityHeaderBytes = 4096

// MaxHeaderBytes bounds all of a request's headers together (the server's MaxHeaderBytes;
// Go's server allows 4 KiB more before it answers 431).
const MaxHeaderBytes = 128 << 10

// identityHeaders are the headers that brokerapi's context middlewares put into the request's
// log session and operation rows.
var identityHeaders = []string{
	"X-Broker-API-Originating-Identity", "X-Broker-API-Request-Identity", "X-Api-Info-Location",
	"X-Correlation-ID", "X-CorrelationID", "X-ForRequest-ID", "X-Request-ID", "X-Vcap-Request-Id",
}

// identityHeaderKeys are identityHeaders as Go's server stores them, so that looking them up
// costs no allocation; originatingIdentityKey is X-Broker-API-Originating-Identity's.
var (
	identityHeaderKeys     = canonicalKeys(identityHeaders)
	originatingIdentityKey = http.CanonicalHeaderKey("X-Broker-API-Originating-Identity")
)

func canonicalKeys(names []string) []string {
	keys := make([]string, len(names))
	for i, name := range names {
		keys[i] = http.CanonicalHeaderKey(name)
	}
	return keys
}

// bodyIDFields are the strings of a request body that are ids, at most MaxIDBytes each.
var bodyIDFields = []string{"service_id", "plan_id", "organization_guid", "space_guid", "app_guid"}

// checkPath answers 400 for an instance or binding id that is not a valid one (checkID), or
// that holds an encoded "/"; it notes the ids it lets through for the access line. It then makes the router match the decoded path, so an id is
// percent-decoded exactly once, by Go's server: chi would otherwise route on the raw path
// whenever it differs from the canonical encoding, and "a%41" and "aA" would be two rows.
func checkPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(strings.ToUpper(r.URL.RawPath), "%2F") {
			writeError(w, http.StatusBadRequest, "BadRequest", "an id in the path contains \"/\", which ids must not")
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/v2/service_instances/")
		if ok {
			segments := strings.Split(rest, "/")
			names := []string{"instance_id", "", "binding_id"}
			ids := [3]string{}
			for i, name := range names {
				if name == "" || i >= len(segments) || (i == 2 && segments[1] != "service_bindings") {
					continue
				}
				if problem := checkID(segments[i]); problem != "" {
					writeError(w, http.StatusBadRequest, "BadRequest", "the "+name+" in the path "+problem)
					return
				}
				ids[i] = segments[i]
			}
			record := recordOf(r)
			record.instanceID, record.bindingID = ids[0], ids[2]
		}
		r.URL.RawPath = ""
		next.ServeHTTP(w, r)
	})
}

// checkHeaders answers 400 for an identity header that is longer than
// MaxIdentityHeaderBytes, not valid UTF-8 or holds a control character, or for an
// originating identity that checkIdentity refuses.
func checkHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i, key := range identityHeaderKeys {
			for _, value := range r.Header[key] {
				if problem := checkHeaderValue(value); problem != "" {
					writeError(w, http.StatusBadRequest, "BadRequest", "the header "+identityHeaders[i]+" "+problem)
					return
				}
			}
		}
		if values := r.Header[originatingIdentityKey]; len(values) > 0 {
			problem := "is given more than once; give it once"
			if len(values) == 1 {
				problem = checkIdentity(values[0])
			}
			if problem != "" {
				writeError(w, http.StatusBadRequest, "BadRequest", "the header X-Broker-API-Originating-Identity "+problem)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// checkHeaderValue says what is wrong with the value of an identity header, or "".
func checkHeaderValue(value string) string {
	if len(value) > MaxIdentityHeaderBytes {
		return fmt.Sprintf("is longer than %d bytes", MaxIdentityHeaderBytes)
	}
	return checkText(value, false)
}

// checkIdentity says what is wrong with an X-Broker-API-Originating-Identity value, or "":
// OSB says it is "Platform Value", a platform name and the base64 (standard encoding) of a
// JSON object, whose keys and strings pass checkText (jsonb refuses "\u0000"). A value the
// broker could not record as sent is refused rather than dropped.
func checkIdentity(header string) string {
	platform, encoded, ok := strings.Cut(header, " ")
	if !ok || platform == "" || checkText(platform, false) != "" || strings.ContainsAny(encoded, " \t") {
		return "must be a platform name, one space and a base64-encoded JSON object, as in " + identityExample
	}
	value, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return "has a value that is not base64 (standard encoding, with padding)"
	}
	if !utf8.Valid(value) {
		return "has a JSON value that is not valid UTF-8"
	}
	if !isJSONObject(value) {
		return "has a value that is not the base64 of a JSON object"
	}
	if problem := checkJSONStrings(value); problem != "" {
		return "has a JSON value whose strings are not valid: a string " + problem
	}
	return ""
}

// identityExample is an originating identity as Cloud Foundry sends it.
const identityExample = `"cloudfoundry eyJ1c2VyX2lkIjoiYWJjIn0="`

func isJSONObject(doc []byte) bool {
	var v map[string]any
	return json.Unmarshal(doc, &v) == nil && v != nil
}

// checkQueryValue says what is wrong with the value of a query parameter, or "".
func checkQueryValue(name, value string) string {
	if problem := checkText(value, false); problem != "" {
		return problem
	}
	if len(value) > MaxIDBytes && (name == "operation" || name == "service_id" || name == "plan_id") {
		return fmt.Sprintf("is longer than %d bytes", MaxIDBytes)
	}
	return ""
}

// checkID says what is wrong with an id, or "": empty, longer than MaxIDBytes, not UTF-8 or
// holding a control character. The description never repeats the id.
func checkID(id string) string {
	if id == "" {
		return "is empty"
	}
	if len(id) > MaxIDBytes {
		return fmt.Sprintf("is longer than %d bytes", MaxIDBytes)
	}
	return checkText(id, false)
}

// checkText says what is wrong with a string, or "": invalid UTF-8 or a control character
// (tab, line feed and carriage return are let through where multiline is true).
func checkText(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, c := range s {
		if unicode.IsControl(c) && (!multiline || (c != '\t' && c != '\n' && c != '\r')) {
			return "contains a control character"
		}
	}
	return ""
}

// checkBodyStrings says what is wrong with the strings of a request body that is already
// known to be a JSON object, or "": its ids must pass checkID and every other string, and
// every key, must be UTF-8 without NUL or other control characters (multiline text, as a
// certificate in parameters, keeps its line breaks and tabs).
func checkBodyStrings(body []byte) string {
	if !utf8.Valid(body) {
		return "the request body is not valid UTF-8"
	}
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	fields, _ := doc.(map[string]any)
	for _, name := range bodyIDFields {
		if id, ok := fields[name].(string); ok && id != "" {
			if problem := checkID(id); problem != "" {
				return "the field " + name + " " + problem
			}
		}
	}
	if problem := walkStrings(doc); problem != "" {
		return "a string in the request body " + problem
	}
	return ""
}

// checkJSONStrings says what is wrong with any key or string of a JSON document, or "".
func checkJSONStrings(doc []byte) string {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return ""
	}
	return walkStrings(v)
}

func walkStrings(v any) string {
	switch t := v.(type) {
	case string:
		return checkText(t, true)
	case []any:
		for _, e := range t {
			if problem := walkStrings(e); problem != "" {
				return problem
			}
		}
	case map[string]any:
		for k, e := range t {
			if problem := checkText(k, true); problem != "" {
				return problem
			}
			if problem := walkStrings(e); problem != "" {
				return problem
			}
		}
	}
	return ""
}

// logID is id as a log line carries it: whole when short, else its first logIDBytes bytes
// (cut at a character boundary) and its length.
func logID(id string) string {
	if len(id) <= logIDBytes {
		return id
	}
	cut := logIDBytes
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...(%d bytes)", id[:cut], len(id))
}

// queryError names the query parameter a refusal is about, when it is one of the API's.
func queryError(name, problem string) string {
	if queryNames[name] {
		return "the query parameter " + name + " " + problem
	}
	return "a query parameter " + problem
}
