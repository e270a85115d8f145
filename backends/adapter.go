package backends

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"syscall"

	"code.cloudfoundry.org/lager/v3"
)

// Server is how an adapter reaches one node: its name (unique across the catalog), the admin
// URL from the node's environment variable, and the host and port applications are told to
// connect to (empty and 0 mean those of AdminURL, or the kind's default port).
type Server struct {
	Name     string
	AdminURL string
	Host     string
	Port     int
}

// Adapter is a Backend together with what the command needs to run it: a health check of one
// node for the start-up log, and Close.
type Adapter interface {
	Backend
	// Ping checks that node answers and accepts the admin login. Its error carries a
	// sentence naming the node, never the admin URL.
	Ping(ctx context.Context, node string) error
	Close() error
}

// Restorer is implemented by adapters whose nodes can forget what Bind made (a Redis node
// that restarts without an aclfile loses its ACL users). The broker checks the bindings it
// holds as bound and, for each one lost, queues a Bind with the same sealed password.
type Restorer interface {
	// BindingLost reports whether the login Bind made for b on inst's node is gone. It
	// changes nothing. Its error carries a sentence naming the node, never a secret or URL.
	BindingLost(ctx context.Context, inst Instance, b Binding) (bool, error)
}

// TransportSentence says in plain words why node could not be talked to, when err is a
// transport failure (cancelled or timed-out call, refused or dropped connection, unknown host);
// otherwise it returns "". Protocol errors are the adapter's to word.
func TransportSentence(node string, err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Sprintf("the call to node %s was cancelled", node)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("node %s did not answer in time", node)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("node %s refused the connection", node)
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return fmt.Sprintf("node %s could not be found (its host name does not resolve)", node)
	}
	if ne, ok := errors.AsType[net.Error](err); ok {
		if ne.Timeout() {
			return fmt.Sprintf("node %s did not answer in time", node)
		}
		return fmt.Sprintf("node %s could not be reached", node)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Sprintf("node %s dropped the connection", node)
	}
	return ""
}

// UnknownNode is the permanent error of a call for a node the adapter of kind was not
// configured with (an instance placed on a node since removed from the catalog).
func UnknownNode(kind, name string) error {
	return Permanent(Describe(
		fmt.Sprintf("node %s is not configured in this broker's %s backend", name, kind),
		fmt.Errorf("unknown %s node %q", kind, name)))
}

// LogResult logs how an adapter call ended, on its session log: done, cancelled, or failed
// with whether retrying can help. Adapters defer it with a pointer to their named error.
func LogResult(ctx context.Context, log lager.Logger, err *error) {
	switch {
	case *err == nil:
		log.Info("done")
	case ctx.Err() != nil:
		log.Info("cancelled")
	default:
		log.Error("failed", *err, lager.Data{"permanent": IsPermanent(*err)})
	}
}

// WholeNumber reads a plan setting that must be a whole number within int32: JSON numbers
// arrive as float64 from a decoder, as int from YAML or code. ok is false for anything else.
func WholeNumber(v any) (n int, ok bool) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// Unfixable marks a failure that retrying cannot fix, with a sentence for last_operation.
func Unfixable(sentence string, err error) error {
	return Permanent(Describe(sentence, err))
}

// Fail gives err, met by an adapter on a node, a sentence for last_operation, worded by
// sentence. An error that carries a sentence already keeps it, unless the call's context
// ended: then that is the cause worth telling.
func Fail(err error, sentence func(error) string) error {
	var d Describer
	if errors.As(err, &d) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return Describe(sentence(err), err)
}
