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
func notFound(err error) bool {
	e, ok := errors.AsType[*apiError](err)
	return ok && e.Status == http.StatusNotFound
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

// fail turns an error met while the node was doing action (a verb phrase such as "create vhost
// ob_…") into one that carries a sentence for last_operation: the node and the cause in plain
// words, never the client's text, which can quote the endpoint. Errors that already carry a
// sentence pass through unchanged, unless the context ended: then that is the cause worth
// telling. None of these are permanent: an operator can fix each of them, and a retry then
// succeeds.
func (n *node) fail(action string, err error) error {
	return backends.Fail(err, func(err error) string { return n.sentence(action, err) })
}

func (n *node) sentence(action string, err error) string {
	// An answer comes first: net/http hands it on inside a *url.Error, which TransportSentence
	// would take for a failure to reach the node.
	if e, ok := errors.AsType[*apiError](err); ok {
		switch {
		// RabbitMQ answers 401 to a wrong login, to a user without the tag the request needs
		// ("Not administrator user") and to one without access to the vhost it names.
		case e.Status == http.StatusUnauthorized && strings.HasPrefix(e.Reason, "Not ") && strings.HasSuffix(e.Reason, " user"):
			return fmt.Sprintf("the broker's admin user on node %s lacks the administrator tag", n.name)
		case e.Status == http.StatusUnauthorized && !strings.Contains(e.Reason, "virtual host"):
			return fmt.Sprintf("node %s rejected the broker's login", n.name)
		case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
			return fmt.Sprintf("the broker's admin user on node %s lacks a permission it needs to %s", n.name, action)
		case e.Status == http.StatusNotFound:
			return fmt.Sprintf("node %s could not %s: it is missing, or the URL is not the management API's", n.name, action)
		case e.Status == http.StatusRequestEntityTooLarge || e.Status == http.StatusTooManyRequests:
			return fmt.Sprintf("node %s turned down the request to %s as too large or too many", n.name, action)
		case e.Status == http.StatusServiceUnavailable:
			return fmt.Sprintf("node %s is starting up, shutting down or not serving its management API", n.name)
		case e.Status == http.StatusBadGateway:
			return fmt.Sprintf("node %s could not be reached through the proxy in front of it", n.name)
		case e.Status == http.StatusGatewayTimeout:
			return fmt.Sprintf("node %s did not answer in time", n.name)
		case e.Status >= http.StatusInternalServerError:
			return fmt.Sprintf("node %s failed to %s (an internal error of the node)", n.name, action)
		}
		return fmt.Sprintf("node %s failed to %s", n.name, action)
	}
	if s := backends.TransportSentence(n.name, err); s != "" {
		return s
	}
	return fmt.Sprintf("node %s failed to %s", n.name, action)
}
