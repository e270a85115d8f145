package rabbitmq

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"
	rabbithole "github.com/michaelklishin/rabbit-hole/v3"

	"github.com/omnibroker/omnibroker/backends"
)

// Bind creates the binding's user with b.Password and no tags, so it cannot use the management
// API (the management tag when the plan sets management_api, so it can for its vhost alone),
// and lets it configure, write and read everything in the instance's vhost (or what the
// plan's permissions setting says) and nothing elsewhere. A retry sets the same password
// again, and so does one after a call cut short between creating the user and setting its
// permissions. The password reaches the node only as a salted hash.
func (r *RabbitMQ) Bind(ctx context.Context, req backends.BindRequest) (backends.BindResponse, error) {
	inst, b := req.Instance, req.Binding
	n, err := r.node(inst.Node)
	if err != nil {
		return backends.BindResponse{}, err
	}
	perms, err := planPermissions(inst.Plan, inst.PlanConfig)
	if err != nil {
		return backends.BindResponse{}, err
	}
	management, err := planManagement(inst.Plan, inst.PlanConfig)
	if err != nil {
		return backends.BindResponse{}, err
	}
	tags := rabbithole.UserTags{}
	if management {
		tags = rabbithole.UserTags{managementTag}
	}
	hash, err := passwordHash(b.Password)
	if err != nil {
		return backends.BindResponse{}, backends.PasswordUnusable("RabbitMQ", err)
	}
	vhost, user := vhostName(inst), backends.UserName(inst.ID, b)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"vhost": vhost, "user": user})

	exists, err := n.vhostExists(ctx, vhost)
	if err != nil {
		return backends.BindResponse{}, err
	}
	if !exists {
		return backends.BindResponse{}, backends.Missing("vhost", vhost, n.Name)
	}
	if _, err := n.bindingUser(ctx, user, vhost); err != nil {
		return backends.BindResponse{}, err
	}
	settings := rabbithole.UserSettings{
		Name:             user,
		Tags:             tags,
		PasswordHash:     hash,
		HashingAlgorithm: hashAlgorithm,
	}
	err = closeBody(n.api(ctx).PutUser(user, settings))
	if answered(err, http.StatusBadRequest, "user_already_exists") {
		// A PUT races with another that creates the same user; once it exists, a PUT updates it.
		err = closeBody(n.api(ctx).PutUser(user, settings))
	}
	if err != nil {
		return backends.BindResponse{}, n.fail("create user "+user, err)
	}
	log.Info("user-password-set")
	if err := n.permit(ctx, log, vhost, user, perms); err != nil {
		return backends.BindResponse{}, err
	}
	return backends.BindResponse{Credentials: n.credentials(vhost, user, b.Password, management)}, nil
}

// permit gives user perms in vhost, and nowhere else.
func (n *node) permit(ctx context.Context, log lager.Logger, vhost, user string, perms rabbithole.Permissions) error {
	if err := closeBody(n.api(ctx).UpdatePermissionsIn(vhost, user, perms)); err != nil {
		return n.fail("give user "+user+" access to vhost "+vhost, err)
	}
	log.Info("permissions-set", lager.Data{"user": user})
	return nil
}

// managementTag is the one tag a binding user may have: RabbitMQ lets a user with it use the
// management API for the vhosts it has permissions on, and for nothing else.
const managementTag = "management"

// bindingUser reports whether user exists; one with tags other than management, or with
// permissions in another vhost than vhost, is a permanent error, since this broker did not
// create it for this instance.
func (n *node) bindingUser(ctx context.Context, user, vhost string) (bool, error) {
	info, err := n.api(ctx).GetUser(user)
	switch {
	case notFound(err):
		return false, nil
	case err != nil:
		return false, n.fail("look up user "+user, err)
	}
	only, err := n.onlyIn(ctx, user, vhost)
	if err != nil {
		return true, err
	}
	if otherTags(info.Tags) || !only {
		return true, backends.NameTaken("user", user, n.Name, "a user",
			fmt.Errorf("user %s has tags or permissions outside vhost %s", user, vhost))
	}
	return true, nil
}

// otherTags reports whether tags holds a tag other than management; the management API can
// answer no tags as [""].
func otherTags(tags rabbithole.UserTags) bool {
	return slices.ContainsFunc(tags, func(t string) bool { return t != "" && t != managementTag })
}

// credentials are what the application gets: uri, hostname, port, vhost, username and
// password, with type, provider and host (backends.Mountable), and http_api_uri only when the
// user has the management tag: without it the management API turns the user away, and a URL
// with its password would be a secret handed out for nothing. The uri is amqps:// when the
// management API is served over https, and then the node's CA, if it has one, comes as
// certificates.
func (n *node) credentials(vhost, user, password string, management bool) backends.Credentials {
	amqp := url.URL{
		Scheme:  n.amqpScheme,
		User:    url.UserPassword(user, password),
		Host:    n.HostPort(),
		Path:    "/" + vhost,
		RawPath: "/" + url.PathEscape(vhost),
	}
	creds := backends.Credentials{
		"uri":      amqp.String(),
		"hostname": n.Host,
		"port":     n.Port,
		"vhost":    vhost,
		"username": user,
		"password": password,
	}
	if management {
		api := n.mgmt
		api.User = url.UserPassword(user, password)
		api.Path += "/api/"
		creds["http_api_uri"] = api.String()
	}
	n.CA.AddCertificates(creds)
	return backends.Mountable(creds)
}

// Unbind deletes the binding's user, so that it cannot log in again, then closes its open
// connections. A user that is already gone counts as unbound, and its connections are closed
// all the same, in case an earlier attempt stopped in between. A user with other tags, or with
// permissions in another vhost, is not this binding's and is left alone.
func (r *RabbitMQ) Unbind(ctx context.Context, req backends.UnbindRequest) error {
	inst, b := req.Instance, req.Binding
	n, err := r.node(inst.Node)
	if err != nil {
		return err
	}
	vhost, user := vhostName(inst), backends.UserName(inst.ID, b)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"vhost": vhost, "user": user})

	return n.removeUser(ctx, log, user, vhost)
}

// removeUser deletes user, the login of a binding on vhost, and closes its connections. A
// user that is already gone has its connections closed all the same; one with other tags, or with
// permissions in another vhost, is a permanent error, and is left alone.
func (n *node) removeUser(ctx context.Context, log lager.Logger, user, vhost string) error {
	exists, err := n.bindingUser(ctx, user, vhost)
	switch {
	case err != nil:
		return err
	case exists:
		return n.deleteUser(ctx, log, user)
	}
	return n.closeConnections(ctx, log, user)
}

func (n *node) deleteUser(ctx context.Context, log lager.Logger, user string) error {
	if err := closeBody(n.api(ctx).DeleteUser(user)); err != nil {
		return n.fail("delete user "+user, err)
	}
	log.Info("user-deleted", lager.Data{"user": user})
	return n.closeConnections(ctx, log, user)
}

// closeConnections closes the open connections of user. It lists them from the node's
// connection tracking, which knows a connection as soon as it is open, unlike the statistics
// behind the list of all connections, which lag by seconds.
func (n *node) closeConnections(ctx context.Context, log lager.Logger, user string) error {
	conns, err := n.api(ctx).ListConnectionsOfUser(user)
	if err != nil {
		return n.fail("list the connections of user "+user, err)
	}
	for _, c := range conns {
		if err := closeBody(n.api(ctx).CloseConnection(c.Name)); err != nil {
			return n.fail("close a connection of user "+user, err)
		}
	}
	if len(conns) > 0 {
		log.Info("connections-closed", lager.Data{"user": user, "connections": len(conns)})
	}
	return nil
}
