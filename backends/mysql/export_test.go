package mysql

import (
	"crypto/tls"
	"time"

	"github.com/omnibroker/omnibroker/backends"
)

// NativePasswordHash exposes nativePasswordHash to the tests, which check it against the
// server's own PASSWORD().
var NativePasswordHash = nativePasswordHash

// LockName exposes the name of an instance's lock, which the tests hold to make a call wait.
func LockName(inst backends.Instance) string { return lockName(databaseName(inst)) }

// SetLockWait sets how long m's calls wait for an instance's lock, so a test need not wait 30 s.
func (m *MySQL) SetLockWait(d time.Duration) {
	for n := range m.nodes.All() {
		n.lockWait = d
	}
}

// Sentence is the sentence a call on node gets for err while it did action.
func Sentence(nodeName, action string, err error) string {
	return cause(err).Sentence(nodeName, action)
}

// Credentials exposes what Bind returns on node, for nodes the tests cannot bind on, such as
// one reached over TLS.
func (m *MySQL) Credentials(nodeName, db, user, password string) backends.Credentials {
	n, err := m.nodes.Get(nodeName)
	if err != nil {
		panic(err)
	}
	return n.credentials(db, user, password)
}

// AdminTLS exposes the TLS configuration the admin connections of server cfg are given, nil
// when the broker sets none of its own.
func AdminTLS(cfg backends.Server) (*tls.Config, error) {
	dc, _, err := nodeConfig(cfg)
	if err != nil {
		return nil, err
	}
	return dc.TLS, nil
}
