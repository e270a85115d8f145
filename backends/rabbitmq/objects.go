package rabbitmq

import (
	"context"
	"slices"
	"strings"

	"code.cloudfoundry.org/lager/v3/lagerctx"

	"github.com/omnibroker/omnibroker/backends"
)

// ListObjects lists the node's users named as binding logins, then its vhosts named as
// instances' and tagged as the broker's.
func (r *RabbitMQ) ListObjects(ctx context.Context, req backends.ListObjectsRequest) (backends.ListObjectsResponse, error) {
	n, err := r.node(req.Node)
	if err != nil {
		return backends.ListObjectsResponse{}, err
	}
	users, err := n.api(ctx).ListUsers()
	if err != nil {
		return backends.ListObjectsResponse{}, n.fail("list its users", err)
	}
	vhosts, err := n.api(ctx).ListVhosts()
	if err != nil {
		return backends.ListObjectsResponse{}, n.fail("list its vhosts", err)
	}
	var res backends.ListObjectsResponse
	for _, u := range users {
		if backends.IsUserName(u.Name) {
			res.Objects = append(res.Objects, backends.Object{Kind: backends.ObjectUser, Name: u.Name})
		}
	}
	for _, v := range vhosts {
		if backends.IsName("ob_", v.Name) && slices.Contains(v.Tags, vhostTag) {
			res.Objects = append(res.Objects, backends.Object{Kind: backends.ObjectVhost, Name: v.Name})
		}
	}
	slices.SortStableFunc(res.Objects, func(a, b backends.Object) int {
		if a.Kind != b.Kind {
			return strings.Compare(string(b.Kind), string(a.Kind)) // users before vhosts
		}
		return strings.Compare(a.Name, b.Name)
	})
	return res, nil
}

// Owned names the instance's vhost and each binding's user.
func (r *RabbitMQ) Owned(req backends.OwnedRequest) backends.OwnedResponse {
	return backends.LoginsOwned(req, backends.Object{Kind: backends.ObjectVhost, Name: vhostName(req.Instance)})
}

// RemoveObject deletes a user as Unbind does, or a vhost the broker tagged as Deprovision
// does, closing their connections; one that is gone counts as removed.
func (r *RabbitMQ) RemoveObject(ctx context.Context, req backends.RemoveObjectRequest) error {
	n, err := r.node(req.Node)
	if err != nil {
		return err
	}
	o, log := req.Object, lagerctx.FromContext(ctx)
	switch {
	case o.Kind == backends.ObjectUser && backends.IsUserName(o.Name):
		if err := closeBody(n.api(ctx).DeleteUser(o.Name)); err != nil && !notFound(err) {
			return n.fail("delete user "+o.Name, err)
		}
		return n.closeConnections(ctx, log, o.Name)
	case o.Kind == backends.ObjectVhost && backends.IsName("ob_", o.Name):
		exists, err := n.vhostExists(ctx, o.Name)
		switch {
		case backends.IsPermanent(err):
			return backends.NotOurs(n.Name, o)
		case err != nil || !exists:
			return err
		}
		return n.deleteVhost(ctx, log, o.Name)
	}
	return backends.NotOurs(n.Name, o)
}
