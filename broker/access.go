package broker

import (
	"context"
	"errors"
	"net/http"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/go-chi/chi/v5"
	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"
	"github.com/pivotal-cf/brokerapi/v10/middlewares"
)

// unmatchedRoute is the route an access line names for a request that matches none.
const unmatchedRoute = "unmatched"

// accessKey is the context key of a request's *accessRecord.
type accessKey struct{}

// accessRecord is what the stages after accessLog found fit for the request's access line:
// only what a stage has checked goes into a log line, so a refused request's line carries
// none of what it sent.
type accessRecord struct {
	requestID     string
	correlationID string
	// instanceID and bindingID are the path's ids as checkPath let them through; they go on
	// the line only once every input check has passed (inputChecked), so that a request
	// refused for a hostile body or query leaves no trace of its ids either.
	instanceID   string
	bindingID    string
	inputChecked bool
	// probe is the path of a probe that probes answered itself.
	probe string
	// route is the pattern of the route that served the request, once countRequests has
	// looked it up (routeOf), for the access line.
	route string
}

// accessLog writes one line per answered request, "request": its method, route pattern
// (never the path, which holds ids), status, duration and remote address, the request
// identity and correlation id once checkHeaders has let them through, and the instance and
// binding ids once every input check has (logID cuts each). A 5xx is logged at error level,
// anything else at info, a probe's answer at debug. routes finds the pattern of a request
// refused before routing.
func accessLog(logger lager.Logger, routes chi.Routes) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			began := time.Now()
			record := &accessRecord{}
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), accessKey{}, record)))

			route := record.route
			if route == "" {
				route = routeOf(r, routes)
			}
			data := make(lager.Data, 9)
			data["method"], data["route"], data["status"] = logID(r.Method), route, sw.statusCode()
			data["duration"], data["remote-address"] = time.Since(began).String(), r.RemoteAddr
			noteData(data, "request-id", record.requestID)
			noteData(data, "correlation-id", record.correlationID)
			if record.inputChecked {
				noteData(data, "instance-id", record.instanceID)
				noteData(data, "binding-id", record.bindingID)
			}
			if record.probe != "" {
				// A platform probes every few seconds, and probes logs each change of readiness.
				data["route"] = record.probe
				logger.Debug("request", data)
				return
			}
			if status := sw.statusCode(); status >= 500 {
				logger.Error("request", errors.New(http.StatusText(status)), data)
				return
			}
			logger.Info("request", data)
		})
	}
}

// noteData puts value, cut by logID, into data under key, unless it is empty.
func noteData(data lager.Data, key, value string) {
	if value != "" {
		data[key] = logID(value)
	}
}

// routeOf is the pattern of the route that served r, or that would have served it when a
// stage refused it first; unmatchedRoute when there is none.
func routeOf(r *http.Request, routes chi.Routes) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		if pattern := rctx.RoutePattern(); pattern != "" {
			return pattern
		}
	}
	if routes != nil {
		if pattern := routes.Find(chi.NewRouteContext(), r.Method, r.URL.Path); pattern != "" {
			return pattern
		}
	}
	return unmatchedRoute
}

// recordOf is the access record of r's request; a record of nothing outside accessLog.
func recordOf(r *http.Request) *accessRecord {
	if record, ok := r.Context().Value(accessKey{}).(*accessRecord); ok {
		return record
	}
	return &accessRecord{}
}

// noteIdentity puts the request identity and the correlation id, which checkHeaders has
// let through and brokerapi's middlewares have put in the context, on the access line.
func noteIdentity(r *http.Request) {
	record := recordOf(r)
	record.requestID = r.Header.Get(requestIdentityHeader)
	record.correlationID, _ = r.Context().Value(middlewares.CorrelationIDKey).(string)
}

// noteProbe makes r's access line that of a probe of path: named for it, at debug level.
func noteProbe(r *http.Request, path string) { recordOf(r).probe = path }

// inputChecked lets the path's ids onto the access line: every input check has passed.
func inputChecked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recordOf(r).inputChecked = true
		next.ServeHTTP(w, r)
	})
}

// statusWriter is the http.ResponseWriter of accessLog: it remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(status int) {
	if s.status == 0 || s.status < 200 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.NewResponseController reach the connection (read deadlines, Flush).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// statusCode is the status of the answer: 200 when the handler wrote nothing at all, as Go's
// server then sends.
func (s *statusWriter) statusCode() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// brokerapiRefusals are the actions brokerapi v10 logs at error level for a request it
// refuses with a 4xx, when the error it logs is not a FailureResponse.
var brokerapiRefusals = map[string]bool{
	"invalid-service-details": true, "invalid-bind-details": true, "service-id-missing": true,
	"plan-id-missing": true, "invalid-service-id": true, "invalid-plan-id": true,
	middlewares.ApiVersionInvalidKey: true,
}

// refusalsAtInfo is the logger brokerapi's handlers log with: each 4xx they answer (an
// instance that does not exist, a missing plan_id) is logged at info level, as a refused
// request is no fault of the broker's; a 5xx stays at error.
func refusalsAtInfo(logger lager.Logger) lager.Logger { return infoRefusals{logger} }

type infoRefusals struct{ lager.Logger }

func (l infoRefusals) Error(action string, err error, data ...lager.Data) {
	var failure *apiresponses.FailureResponse
	refused := brokerapiRefusals[action] || errors.As(err, &failure) && failure.ValidatedStatusCode(nil) < 500
	if !refused {
		l.Logger.Error(action, err, data...)
		return
	}
	merged := lager.Data{"error": err.Error()}
	for _, d := range data {
		for k, v := range d {
			merged[k] = v
		}
	}
	l.Logger.Info(action, merged)
}

func (l infoRefusals) Session(task string, data ...lager.Data) lager.Logger {
	return infoRefusals{l.Logger.Session(task, data...)}
}

func (l infoRefusals) WithData(data lager.Data) lager.Logger {
	return infoRefusals{l.Logger.WithData(data)}
}

func (l infoRefusals) WithTraceInfo(r *http.Request) lager.Logger {
	return infoRefusals{l.Logger.WithTraceInfo(r)}
}
