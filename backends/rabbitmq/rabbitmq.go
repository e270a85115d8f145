// Package rabbitmq is the backend of the rabbitmq service: a vhost per instance and a user per
// binding with permissions on that vhost alone, made through the management HTTP API.
package rabbitmq

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"code.cloudfoundry.org/lager/v3/lagerctx"
	rabbithole "github.com/michaelklishin/rabbit-hole/v3"

	"github.com/omnibroker/omnibroker/backends"
)

// RabbitMQ creates vhosts and users on a set of RabbitMQ nodes. It is safe for concurrent use.
// The management API has no locks to offer, so every call is made of requests that are
// idempotent on their own (PUT and DELETE), and two calls for the same id may interleave. Its
// nodes never forget what Bind made.
type RabbitMQ struct {
	backends.KeepsBindings
	nodes backends.Nodes[*node]
}

type node struct {
	// Endpoint and amqpScheme are what applications are told to connect to for AMQP.
	backends.Endpoint
	amqpScheme string
	// mgmt is the management API's scheme, host and path prefix, without user or "/api".
	mgmt      url.URL
	user      string
	password  string
	transport *http.Transport
}

// requestTimeout bounds every request to the management API, connecting included: rabbit-hole
// has no context of its own, and a node that accepts the socket but never answers would
// otherwise hold a worker until its operation times out.
const requestTimeout = 10 * time.Second

// New validates the nodes and prepares a management API client per node. A node's AdminURL is
// the management API's URL with a user that has the administrator tag in it, such as
// http://guest:guest@127.0.0.1:15672; Host defaults to its host and Port to 5672, the AMQP
// port. A node whose admin URL is https is taken to serve AMQP over TLS only: applications
// get amqps:// URIs, and Port defaults to 5671. A node with a CAFile needs an https URL: the
// broker verifies the management API's certificate with it, and applications get it as
// certificates, for AMQP and the management API alike. It does not connect. Error messages name the
// node, never its URL.
func New(servers []backends.Server) (*RabbitMQ, error) {
	opened, err := backends.OpenNodes("rabbitmq", servers, newNode, func(n *node) error {
		n.transport.CloseIdleConnections()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &RabbitMQ{nodes: opened}, nil
}

var _ backends.Backend = (*RabbitMQ)(nil)

func newNode(cfg backends.Server) (*node, error) {
	// url.Parse errors quote the whole URL, password included, so they are not wrapped.
	u, err := url.Parse(cfg.AdminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rabbitmq node %q: admin URL is not an http:// or https:// URL of the management API", cfg.Name)
	}
	password, ok := u.User.Password()
	if u.User.Username() == "" || !ok {
		return nil, fmt.Errorf("rabbitmq node %q: admin URL has no user and password", cfg.Name)
	}
	// The management API may sit under a path prefix behind a proxy; "/api" is added per request.
	prefix := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api")
	n := &node{
		amqpScheme: "amqp",
		mgmt:       url.URL{Scheme: u.Scheme, Host: u.Host, Path: prefix},
		user:       u.User.Username(),
		password:   password,
	}
	defaultPort := 5672
	if u.Scheme == "https" {
		n.amqpScheme, defaultPort = "amqps", 5671
	}
	if n.Endpoint, err = backends.NewEndpoint("rabbitmq", cfg, u.Hostname(), defaultPort); err != nil {
		return nil, err
	}
	if n.CA, err = backends.ReadCA("rabbitmq", cfg); err != nil {
		return nil, err
	}
	if _, err := rabbithole.NewClient(n.mgmt.String(), n.user, n.password); err != nil {
		return nil, fmt.Errorf("rabbitmq node %q: the management client does not accept the admin URL", cfg.Name)
	}
	n.transport = http.DefaultTransport.(*http.Transport).Clone()
	if n.CA.Pool != nil {
		if u.Scheme != "https" {
			return nil, backends.NeedsTLS("rabbitmq", cfg, "an https:// URL")
		}
		n.transport.TLSClientConfig = &tls.Config{RootCAs: n.CA.Pool, MinVersion: tls.VersionTLS12}
	}
	return n, nil
}

// Close drops the idle connections to the management APIs.
func (r *RabbitMQ) Close() error {
	return r.nodes.Close()
}

// Ping asks node who the admin user is, for health logging at start-up, and checks that it has
// the administrator tag that creating vhosts and users needs. An unknown node is a permanent
// error; the error describes the cause without the URL.
func (r *RabbitMQ) Ping(ctx context.Context, name string) error {
	n, err := r.node(name)
	if err != nil {
		return err
	}
	me, err := n.api(ctx).Whoami()
	if err != nil {
		return n.fail("answer who the admin user is", err)
	}
	if !slices.Contains(me.Tags, "administrator") {
		return backends.Transient(backends.LacksAdminTag.Sentence(n.Name, ""),
			errors.New("admin user has no administrator tag"))
	}
	return nil
}

func (r *RabbitMQ) node(name string) (*node, error) {
	return r.nodes.Get(name)
}

// api returns a management API client whose requests end with ctx: rabbit-hole builds its
// requests without a context, so the transport puts ctx on them.
func (n *node) api(ctx context.Context) *rabbithole.Client {
	// The endpoint was parsed in New, so this cannot fail.
	c, _ := rabbithole.NewTLSClient(n.mgmt.String(), n.user, n.password, &contextTransport{ctx: ctx, next: n.transport})
	c.SetTimeout(requestTimeout)
	return c
}

// ListObjects lists the node's users named as binding logins, then its vhosts named as
// instances' and tagged as the broker's: users go first, as RemoveObject may remove them.
func (r *RabbitMQ) ListObjects(ctx context.Context, req backends.ListObjectsRequest) (backends.ListObjectsResponse, error) {
	n, err := r.node(req.Node)
	if err != nil {
		return backends.ListObjectsResponse{}, err
	}
	users, err := n.api(ctx).ListUsers()
	if err != nil {
		return backends.ListObjectsResponse{}, n.fail("list its users", err)
	}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.Name
	}
	vhosts, err := n.api(ctx).ListVhosts()
	if err != nil {
		return backends.ListObjectsResponse{}, n.fail("list its vhosts", err)
	}
	res := backends.ListObjectsResponse{Objects: backends.Users(names)}
	slices.SortFunc(vhosts, func(a, b rabbithole.VhostInfo) int { return strings.Compare(a.Name, b.Name) })
	for _, v := range vhosts {
		if backends.IsName("ob_", v.Name) && slices.Contains(v.Tags, vhostTag) {
			res.Objects = append(res.Objects, backends.Object{Kind: backends.ObjectVhost, Name: v.Name})
		}
	}
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
	if o.Kind == backends.ObjectUser && backends.IsUserName(o.Name) {
		if err := closeBody(n.api(ctx).DeleteUser(o.Name)); err != nil && !notFound(err) {
			return n.fail("delete user "+o.Name, err)
		}
		return n.closeConnections(ctx, log, o.Name)
	}
	if o.Kind != backends.ObjectVhost || !backends.IsName("ob_", o.Name) {
		return backends.NotOurs(n.Name, o)
	}
	exists, err := n.vhostExists(ctx, o.Name)
	if backends.IsPermanent(err) {
		return backends.NotOurs(n.Name, o)
	}
	if err != nil || !exists {
		return err
	}
	return n.deleteVhost(ctx, log, o.Name)
}
