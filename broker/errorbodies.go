package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

	"code.cloudfoundry.org/lager/v3"
	"github.com/google/uuid"
)

// errorKeys is the OSB "error" an answer gets from osbErrorBodies where whoever wrote it gave
// none: brokerapi v10 answers 412 to a GET of an instance or binding below OSB 2.14 with a
// description only.
var errorKeys = map[int]string{http.StatusPreconditionFailed: "PreconditionFailed"}

// osbErrorBodies holds back the body of every 4xx and 5xx answer of the stages and routes
// after it and writes it again as an OSB error body: unchanged when it is one that needs
// nothing, with the error key of errorKeys added when it lacks one, and in place of anything
// that is not a JSON object (a plain-text http.Error, say), a description that names the
// status, never what was written. A 2xx passes through as it is written.
func osbErrorBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ew := &errorWriter{ResponseWriter: w}
		next.ServeHTTP(ew, r)
		if ew.status != 0 {
			ew.flushError()
		}
	})
}

// errorWriter is the http.ResponseWriter of osbErrorBodies.
type errorWriter struct {
	http.ResponseWriter
	// status is the error status held back, 0 while there is none.
	status int
	body   bytes.Buffer
	// passed is true once a status other than an error's went out.
	passed bool
}

func (e *errorWriter) WriteHeader(status int) {
	if status >= 400 && !e.passed && e.status == 0 {
		e.status = status
		return
	}
	if e.status == 0 {
		e.passed = status >= 200
		e.ResponseWriter.WriteHeader(status)
	}
}

func (e *errorWriter) Write(p []byte) (int, error) {
	if e.status != 0 {
		return e.body.Write(p)
	}
	e.passed = true
	return e.ResponseWriter.Write(p)
}

// Unwrap lets http.NewResponseController reach the connection (read deadlines, Flush).
func (e *errorWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

func (e *errorWriter) flushError() {
	var doc map[string]any
	if json.Unmarshal(e.body.Bytes(), &doc) != nil || doc == nil {
		e.Header().Del("Content-Length")
		writeError(e.ResponseWriter, e.status, errorKeys[e.status], "the broker refused the request: "+http.StatusText(e.status))
		return
	}
	key, hasKey := doc["error"].(string)
	if want := errorKeys[e.status]; want != "" && (!hasKey || key == "") {
		doc["error"] = want
		e.Header().Del("Content-Length")
		writeJSON(e.ResponseWriter, e.status, doc)
		return
	}
	e.ResponseWriter.WriteHeader(e.status)
	_, _ = e.ResponseWriter.Write(e.body.Bytes())
}

// recoverPanic answers a request whose handler panicked with a 500 in an OSB body naming a
// reference, and logs the panic and its stack with that reference; Go's server would drop
// the connection without an answer. http.ErrAbortHandler, a deliberate abort, goes on up.
func recoverPanic(logger lager.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				reference := uuid.NewString()
				logger.Error("request-panicked", fmt.Errorf("%v", v), lager.Data{"reference": reference, "method": r.Method, "stack": string(debug.Stack())})
				writeFailure(w, internalError(reference))
			}()
			next.ServeHTTP(w, r)
		})
	}
}
