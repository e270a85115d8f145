package mysql

import (
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
