package rabbitmq

import "github.com/omnibroker/omnibroker/backends"

// PasswordHash exposes passwordHash to the tests, which check it against the format RabbitMQ
// documents; logging in with it is checked against the real node.
var PasswordHash = passwordHash

// CredentialsOn is what Bind hands out for user and password on vhost of a node configured as
// cfg, for the tests of what a node's configuration changes in them; management is whether
// the plan sets management_api.
func CredentialsOn(cfg backends.Server, vhost, user, password string, management bool) (backends.Credentials, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	return n.credentials(vhost, user, password, management), nil
}
