package operator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// badRequest is an input the API refuses with 400, its sentence never repeating the input.
type badRequest string

func (b badRequest) Error() string { return string(b) }

// queryOf is r's query, refused when it names a parameter that is not one of names; Go's
// server and the chain have refused one that does not parse or gives a name twice.
func queryOf(r *http.Request, names ...string) (url.Values, error) {
	query := r.URL.Query()
	for name := range query {
		if !slices.Contains(names, name) {
			return nil, badRequest(fmt.Sprintf("this route takes the query parameters %s, and no other", strings.Join(names, ", ")))
		}
	}
	return query, nil
}

// decodeBody decodes r's body, a JSON object of v's fields and no other, into v; an empty
// body is the object {}.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body) // at most the chain's body limit
	if err != nil {
		return badRequest("the request body could not be read or is larger than 1 MiB")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return badRequest("the request body must be one JSON object with only the fields this route takes (the README's Operating section lists them)")
	}
	return nil
}

// checkScope checks a scope that a request gave against the catalog: a backend and a node it
// names must be the catalog's.
func (o *Operator) checkScope(scope Scope) error {
	nodes := o.Nodes()
	if scope.Backend != "" && nodes[scope.Backend] == nil {
		return badRequest("the catalog has no backend of that name")
	}
	if scope.Node == "" {
		return nil
	}
	for backend, names := range nodes {
		if (scope.Backend == "" || scope.Backend == backend) && slices.Contains(names, scope.Node) {
			return nil
		}
	}
	return badRequest("the catalog has no node of that name")
}

// maxTextBytes bounds a sentence a request gives, such as a drain's or a cancel's reason.
const maxTextBytes = 1000

// checkText refuses a sentence a request gives that is longer than maxTextBytes, not UTF-8, or
// holds a control character.
func checkText(s string) error {
	if len(s) > maxTextBytes {
		return badRequest(fmt.Sprintf("a reason is at most %d bytes", maxTextBytes))
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return badRequest("a reason must be UTF-8 text without control characters")
	}
	return nil
}
