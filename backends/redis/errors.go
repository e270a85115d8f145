package redis

import (
	"errors"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
)

// fail is the transient failure of the node doing action (a verb phrase such as "delete ACL
// user x"), worded by cause.
func (n *node) fail(action string, err error) error {
	return backends.NodeFailed(n.Name, action, err, cause)
}

// cause reads a Redis error into the words last_operation shows: the node and the cause in
// plain words, never the reply's text, which can quote a command.
func cause(err error) backends.Cause {
	if c := backends.TransportCause(err); c != "" {
		return c
	}
	var re goredis.Error
	if errors.As(err, &re) {
		// An error reply starts with its code; ERR is the generic one, told apart by its text.
		msg := re.Error()
		code, _, _ := strings.Cut(msg, " ")
		switch {
		case code == "WRONGPASS", code == "NOAUTH":
			return backends.LoginRejected
		case code == "NOPERM":
			return backends.LacksPermission
		case code == "LOADING":
			return "node %[1]s is loading its data set into memory"
		case code == "BUSY":
			return "node %[1]s is busy running a script"
		case code == "OOM":
			return "node %[1]s ran out of memory (maxmemory)"
		case code == "MISCONF":
			return "node %[1]s refuses writes because it cannot save its data to disk"
		case code == "READONLY":
			return backends.ReadOnlyReplica
		case code == "MASTERDOWN":
			return "node %[1]s is a replica that lost its link to the primary"
		case code == "MOVED", code == "ASK", code == "CLUSTERDOWN", code == "CROSSSLOT":
			return "node %[1]s is part of a Redis Cluster, which the redis backend does not support"
		case strings.HasPrefix(msg, "ERR max number of clients reached"):
			return backends.OutOfConnections
		}
		return backends.FailedTo
	}
	switch {
	case errors.Is(err, goredis.ErrPoolTimeout):
		return backends.TimedOut
	case errors.Is(err, goredis.ErrClosed):
		return "the broker has closed its connections to node %[1]s, as it does when it stops"
	}
	return backends.FailedTo
}
