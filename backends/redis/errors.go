package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
)

// fail turns an error met while the node was doing action (a verb phrase such as "delete ACL
// user x") into one that carries a sentence for last_operation: the node and the cause in
// plain words, never the reply's text, which can quote a command. Errors that already carry a
// sentence pass through unchanged, unless the context ended: then that is the cause worth
// telling. None of these are permanent: an operator can fix each of them, and a retry then
// succeeds.
func (n *node) fail(action string, err error) error {
	return backends.Fail(err, func(err error) string { return n.sentence(action, err) })
}

func (n *node) sentence(action string, err error) string {
	if s := backends.TransportSentence(n.name, err); s != "" {
		return s
	}
	var re goredis.Error
	if errors.As(err, &re) {
		// An error reply starts with its code; ERR is the generic one, told apart by its text.
		msg := re.Error()
		code, _, _ := strings.Cut(msg, " ")
		switch {
		case code == "WRONGPASS", code == "NOAUTH":
			return fmt.Sprintf("node %s rejected the broker's login", n.name)
		case code == "NOPERM":
			return fmt.Sprintf("the broker's admin user on node %s lacks a permission it needs to %s", n.name, action)
		case code == "LOADING":
			return fmt.Sprintf("node %s is loading its data set into memory", n.name)
		case code == "BUSY":
			return fmt.Sprintf("node %s is busy running a script", n.name)
		case code == "OOM":
			return fmt.Sprintf("node %s ran out of memory (maxmemory)", n.name)
		case code == "MISCONF":
			return fmt.Sprintf("node %s refuses writes because it cannot save its data to disk", n.name)
		case code == "READONLY":
			return fmt.Sprintf("node %s is a read-only replica, not a primary", n.name)
		case code == "MASTERDOWN":
			return fmt.Sprintf("node %s is a replica that lost its link to the primary", n.name)
		case code == "MOVED", code == "ASK", code == "CLUSTERDOWN", code == "CROSSSLOT":
			return fmt.Sprintf("node %s is part of a Redis Cluster, which the redis backend does not support", n.name)
		case strings.HasPrefix(msg, "ERR max number of clients reached"):
			return fmt.Sprintf("node %s ran out of connections", n.name)
		}
		return fmt.Sprintf("node %s failed to %s", n.name, action)
	}
	switch {
	case errors.Is(err, goredis.ErrPoolTimeout):
		return fmt.Sprintf("node %s did not answer in time", n.name)
	case errors.Is(err, goredis.ErrClosed):
		return fmt.Sprintf("the broker has closed its connections to node %s, as it does when it stops", n.name)
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return fmt.Sprintf("node %s presented a TLS certificate the broker does not trust", n.name)
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return fmt.Sprintf("node %s does not speak TLS", n.name)
	}
	return fmt.Sprintf("node %s failed to %s", n.name, action)
}
