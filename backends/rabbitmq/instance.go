package rabbitmq

import (
	"context"
	"fmt"
	"slices"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerctx"
	rabbithole "github.com/michaelklishin/rabbit-hole/v3"

	"github.com/omnibroker/omnibroker/backends"
)

// vhostTag marks the vhosts this broker created; a vhost with an instance's name but without
// it belongs to someone else and is left alone.
const vhostTag = "omnibroker"

func vhostName(inst backends.Instance) string { return backends.Name("ob_", inst.ID) }

// Provision creates the instance's vhost, tagged as the broker's and described with the
// instance's id. It is idempotent; a vhost of that name without the broker's tag is a permanent
// error and is left alone.
func (r *RabbitMQ) Provision(ctx context.Context, req backends.ProvisionRequest) (backends.ProvisionResponse, error) {
	inst := req.Instance
	n, err := r.node(inst.Node)
	if err != nil {
		return backends.ProvisionResponse{}, err
	}
	vhost := vhostName(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"vhost": vhost})

	exists, err := n.vhostExists(ctx, vhost)
	if err != nil || exists {
		return backends.ProvisionResponse{}, err
	}
	err = closeBody(n.api(ctx).PutVhost(vhost, rabbithole.VhostSettings{
		Description: "omnibroker service instance " + inst.ID,
		Tags:        rabbithole.VhostTags{vhostTag},
	}))
	if err != nil {
		return backends.ProvisionResponse{}, n.fail("create vhost "+vhost, err)
	}
	log.Info("vhost-created")
	return backends.ProvisionResponse{}, nil
}

// Update gives the user of every binding in req.Bindings the plan's permissions in the
// instance's vhost (see planPermissions); passwords, tags and connections stay as they are.
// A user that is gone, or that is not the binding's, is left to the binding's own operations.
func (r *RabbitMQ) Update(ctx context.Context, req backends.UpdateRequest) (backends.UpdateResponse, error) {
	inst := req.Instance
	n, err := r.node(inst.Node)
	if err != nil {
		return backends.UpdateResponse{}, err
	}
	perms, err := planPermissions(inst.Plan, inst.PlanConfig)
	if err != nil {
		return backends.UpdateResponse{}, err
	}
	vhost := vhostName(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"vhost": vhost})
	for _, b := range req.Bindings {
		user := backends.UserName(inst.ID, b)
		exists, err := n.bindingUser(ctx, user, vhost)
		if err != nil {
			return backends.UpdateResponse{}, err
		}
		if exists {
			if err := n.permit(ctx, log, vhost, user, perms); err != nil {
				return backends.UpdateResponse{}, err
			}
		}
	}
	return backends.UpdateResponse{}, nil
}

// Deprovision deletes the users of the instance's recorded bindings and closes their
// connections, as Unbind does for one (a user with other tags or with permissions in another vhost
// is not the instance's, and is logged and left alone), so that a failure further on leaves no way in; it then closes what
// connections are left on the vhost and deletes the vhost. The users go first, even when the
// vhost is gone already: what is already gone counts as done, so a re-run after a crash
// half-way finishes the job. A vhost of that name without the broker's tag is not this
// instance's, and it and the users are left alone.
func (r *RabbitMQ) Deprovision(ctx context.Context, req backends.DeprovisionRequest) error {
	inst := req.Instance
	n, err := r.node(inst.Node)
	if err != nil {
		return err
	}
	vhost := vhostName(inst)
	log := lagerctx.FromContext(ctx).WithData(lager.Data{"vhost": vhost})

	exists, err := n.vhostExists(ctx, vhost)
	switch {
	case backends.IsPermanent(err):
		log.Info("vhost-not-ours-left-alone")
		return nil
	case err != nil:
		return err
	}
	for _, b := range req.Bindings {
		err := n.removeUser(ctx, log, backends.UserName(inst.ID, b), vhost)
		if backends.IsPermanent(err) {
			log.Info("user-not-ours-left-alone", lager.Data{"user": backends.UserName(inst.ID, b)})
			continue
		}
		if err != nil {
			return err
		}
	}
	if !exists {
		return nil
	}
	return n.deleteVhost(ctx, log, vhost)
}

// deleteVhost closes the connections to vhost and deletes it.
func (n *node) deleteVhost(ctx context.Context, log lager.Logger, vhost string) error {
	// This list comes from statistics that lag by seconds; deleting the vhost ends the
	// connections it misses.
	conns, err := n.api(ctx).ListVhostConnections(vhost)
	if err != nil && !notFound(err) {
		return n.fail("list the connections to vhost "+vhost, err)
	}
	for _, c := range conns {
		if err := closeBody(n.api(ctx).CloseConnection(c.Name)); err != nil {
			return n.fail("close a connection to vhost "+vhost, err)
		}
	}
	if err := closeBody(n.api(ctx).DeleteVhost(vhost)); err != nil {
		return n.fail("delete vhost "+vhost, err)
	}
	log.Info("vhost-deleted", lager.Data{"connections-closed": len(conns)})
	return nil
}

// vhostExists reports whether vhost exists; one without the broker's tag is a permanent error,
// since the name is taken by something this broker did not create.
func (n *node) vhostExists(ctx context.Context, vhost string) (bool, error) {
	info, err := n.api(ctx).GetVhost(vhost)
	switch {
	case notFound(err):
		return false, nil
	case err != nil:
		return false, n.fail("look up vhost "+vhost, err)
	case !slices.Contains(info.Tags, vhostTag):
		return true, backends.NameTaken("vhost", vhost, n.Name, "an object",
			fmt.Errorf("vhost %s has no %s tag", vhost, vhostTag))
	}
	return true, nil
}

// onlyIn reports whether user holds permissions in no vhost but vhost (a user that is gone
// holds none).
func (n *node) onlyIn(ctx context.Context, user, vhost string) (bool, error) {
	perms, err := n.api(ctx).ListPermissionsOf(user)
	if err != nil && !notFound(err) {
		return false, n.fail("list the permissions of user "+user, err)
	}
	for _, p := range perms {
		if p.Vhost != vhost {
			return false, nil
		}
	}
	return true, nil
}
