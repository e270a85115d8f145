package backends

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"
)

// Cause words why a node failed an action, as a format whose %[1]s is the node's name and
// %[2]s the action (a verb phrase such as "create database ob_…"). Each cause has one
// sentence, the same in every adapter; an adapter reads its driver's error into one of them
// (or a Cause of its own, for what only its kind of server says).
type Cause string

// The causes every kind of node can meet. The first six are transport failures, which
// TransportCause recognises.
const (
	Cancelled          Cause = "the call to node %[1]s was cancelled"
	TimedOut           Cause = "node %[1]s did not answer in time"
	Refused            Cause = "node %[1]s refused the connection"
	Unresolved         Cause = "node %[1]s could not be found (its host name does not resolve)"
	Unreachable        Cause = "node %[1]s could not be reached"
	Dropped            Cause = "node %[1]s dropped the connection"
	LoginRejected      Cause = "node %[1]s rejected the broker's login"
	OutOfConnections   Cause = "node %[1]s ran out of connections"
	OutOfResources     Cause = "node %[1]s ran out of resources (disk, memory or connections)"
	StatementCancelled Cause = "node %[1]s cancelled the statement to %[2]s"
	ShuttingDown       Cause = "node %[1]s is starting up or shutting down"
	LacksPrivilege     Cause = "the broker's admin user on node %[1]s lacks a privilege it needs to %[2]s"
	LacksPermission    Cause = "the broker's admin user on node %[1]s lacks a permission it needs to %[2]s"
	LacksAdminTag      Cause = "the broker's admin user on node %[1]s lacks the administrator tag"
	DatabaseMissing    Cause = "node %[1]s could not %[2]s: a database is missing"
	ReadOnlyReplica    Cause = "node %[1]s is a read-only replica, not a primary"
	FailedTo           Cause = "node %[1]s failed to %[2]s"
)

// TransportCause is the cause of err when it is a transport failure (cancelled or timed-out
// call, refused or dropped connection, unknown host, a TLS handshake that failed), and ""
// otherwise: protocol errors are
// the adapter's to read.
func TransportCause(err error) Cause {
	if c := tlsCause(err); c != "" {
		return c
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Cancelled
	case errors.Is(err, context.DeadlineExceeded):
		return TimedOut
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return Unresolved
	}
	if ne, ok := errors.AsType[net.Error](err); ok {
		if ne.Timeout() {
			return TimedOut
		}
		return Unreachable
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return Dropped
	}
	return ""
}
