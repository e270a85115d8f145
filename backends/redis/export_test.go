package redis

import "github.com/omnibroker/omnibroker/backends"

// Sentence exposes the wording of errors to the tests, which check it for error replies the
// local node cannot be made to give (LOADING, READONLY, OOM, ...).
func Sentence(nodeName, action string, err error) string {
	return cause(err).Sentence(nodeName, action)
}

// Supported exposes the version check of Provision.
var Supported = supported

// Credentials exposes what Bind returns on node, for nodes the tests cannot bind on, such as
// one reached over TLS.
func (r *Redis) Credentials(nodeName, prefix, user, password string) backends.Credentials {
	n, err := r.nodes.Get(nodeName)
	if err != nil {
		panic(err)
	}
	return n.credentials(prefix, user, password)
}
