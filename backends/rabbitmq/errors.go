package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/omnibroker/omnibroker/backends"
)

// apiError is a management API answer with an error status. rabbit-hole reports every 401 with
// the same text, whether the login was wrong or the user lacks the administrator tag, so the
// transport reads the status and RabbitMQ's reason itself.
type apiError struct {
	Status int
	Reason string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("management API answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Reason)
}

// notFound reports whether err is the management API's 404.
func notFound(err error) bool { return answered(err, http.StatusNotFound, "") }

// answered reports whether err is the management API's answer status with a reason that
// contains reason.
func answered(err error, status int, reason string) bool {
	e, ok := errors.AsType[*apiError](err)
	return ok && e.Status == status && strings.Contains(e.Reason, reason)
}

// contextTransport sends requests with ctx (as well as the http.Client's own deadline) and
// turns error statuses into an *apiError. A 404 to a DELETE is passed on: rabbit-hole counts it
// as done, as every caller here does.
type contextTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t *contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The request's own context ends when the client's timeout fires or the body is closed,
	// which releases this one too.
	ctx, cancel := context.WithCancel(t.ctx)
	stop := context.AfterFunc(req.Context(), cancel)
	release := func() { stop(); cancel() }
	res, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	if res.StatusCode < http.StatusBadRequest || (req.Method == http.MethodDelete && res.StatusCode == http.StatusNotFound) {
		return res, nil
	}
	defer release()
	defer res.Body.Close()
	var body struct {
		Reason json.RawMessage `json:"reason"`
	}
	_ = json.NewDecoder(io.LimitReader(res.Body, 4096)).Decode(&body)
	// The reason is mostly a string, but can be an Erlang term such as ["user_already_exists","ob_…_…"].
	var reason string
	if json.Unmarshal(body.Reason, &reason) != nil {
		reason = string(body.Reason)
	}
	return nil, &apiError{Status: res.StatusCode, Reason: reason}
}

// closeBody releases the response that rabbit-hole's PUT and DELETE calls hand back.
func closeBody(res *http.Response, err error) error {
	if res != nil {
		_ = res.Body.Close()
	}
	return err
}

// fail is the transient failure of the node doing action (a verb phrase such as "create vhost
// ob_…"), worded by cause.
func (n *node) fail(action string, err error) error {
	return backends.NodeFailed(n.Name, action, err, cause)
}

// cause reads a management API error into the words last_operation shows: the node and the
// cause in plain words, never the client's text, which can quote the endpoint.
func cause(err error) backends.Cause {
	// An answer comes first: net/http hands it on inside a *url.Error, which TransportCause
	// would take for a failure to reach the node.
	e, ok := errors.AsType[*apiError](err)
	switch {
	case !ok && errors.Is(err, http.ErrSchemeMismatch):
		return backends.NotTLS
	case !ok:
		return backends.TransportCause(err)
	}
	switch {
	// RabbitMQ answers 401 to a wrong login, to a user without the tag the request needs
	// ("Not administrator user") and to one without access to the vhost it names.
	case e.Status == http.StatusUnauthorized && strings.HasPrefix(e.Reason, "Not ") && strings.HasSuffix(e.Reason, " user"):
		return backends.LacksAdminTag
	case e.Status == http.StatusUnauthorized && !strings.Contains(e.Reason, "virtual host"):
		return backends.LoginRejected
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		return backends.LacksPermission
	case e.Status == http.StatusNotFound:
		return "node %[1]s could not %[2]s: it is missing, or the URL is not the management API's"
	case e.Status == http.StatusRequestEntityTooLarge || e.Status == http.StatusTooManyRequests:
		return "node %[1]s turned down the request to %[2]s as too large or too many"
	case e.Status == http.StatusServiceUnavailable:
		return "node %[1]s is starting up, shutting down or not serving its management API"
	case e.Status == http.StatusBadGateway:
		return "node %[1]s could not be reached through the proxy in front of it"
	case e.Status == http.StatusGatewayTimeout:
		return backends.TimedOut
	case e.Status >= http.StatusInternalServerError:
		return "node %[1]s failed to %[2]s (an internal error of the node)"
	}
	return backends.FailedTo
}
