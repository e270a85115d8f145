package backends

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
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
