// Package backendtest is what the specs of the adapters share: the chassis of their suites,
// calling a backend the way they speak of it, the calls that talk to a node, calls made at
// once, the credentials of a SQL database, reading the sentence a failure carries, and the
// specs every adapter passes (ItUnbinds, ItFailsOnUnreachableNodes, TransportFailures). It is
// imported by tests only, and imports nothing of ours but backends and internal/testkit.
package backendtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/google/uuid"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
)

// Calls runs a backend's contract with an instance (and a binding) in and an error (and
// credentials) out, through the Logging wrapper that cmd puts on every adapter, so that the
// specs see the log lines the broker writes. A spec that needs a field these calls do not
// set builds the request itself.
type Calls struct{ backend backends.Backend }

// Call returns the calls of backend b of kind.
func Call(kind string, b backends.Backend) Calls {
	return Calls{backend: backends.Wrap(b, backends.Logging(kind))}
}

// Provision provisions inst.
func (c Calls) Provision(ctx context.Context, inst backends.Instance) error {
	_, err := c.backend.Provision(ctx, backends.ProvisionRequest{Instance: inst})
	return err
}

// Update moves inst, which had plan fromPlan, to inst.Plan and inst.Parameters, with its
// Recorded bindings, as the worker hands on its bound ones.
func (c Calls) Update(ctx context.Context, inst backends.Instance, fromPlan string) error {
	_, err := c.backend.Update(ctx, backends.UpdateRequest{Instance: inst, FromPlan: fromPlan, Bindings: Recorded(inst.ID)})
	return err
}

// Upgrade updates inst in place (its plan stays inst.Plan) with bindings, as a maintenance
// upgrade does after the catalog changed inst.PlanConfig.
func (c Calls) Upgrade(ctx context.Context, inst backends.Instance, bindings ...backends.Binding) error {
	_, err := c.backend.Update(ctx, backends.UpdateRequest{Instance: inst, FromPlan: inst.Plan, Bindings: bindings})
	return err
}

// ExpectSettingRefused upgrades inst with its plan setting key set to value, and expects a
// permanent failure: a malformed setting is the catalog's fault, which no retry mends.
func (c Calls) ExpectSettingRefused(ctx context.Context, inst backends.Instance, key string, value any, bindings ...backends.Binding) {
	ginkgo.GinkgoHelper()
	inst.PlanConfig = map[string]any{key: value}
	err := c.Upgrade(ctx, inst, bindings...)
	gomega.Expect(backends.IsPermanent(err)).To(gomega.BeTrue(), "%v", err)
}

// Deprovision deprovisions inst with its Recorded bindings, as the worker hands them on.
func (c Calls) Deprovision(ctx context.Context, inst backends.Instance) error {
	return c.backend.Deprovision(ctx, backends.DeprovisionRequest{Instance: inst, Bindings: Recorded(inst.ID)})
}

// Bind binds b to inst and returns its credentials. b is Recorded for inst first, as the
// broker stores the binding row before it calls the backend.
func (c Calls) Bind(ctx context.Context, inst backends.Instance, b backends.Binding) (backends.Credentials, error) {
	Record(inst.ID, b)
	res, err := c.backend.Bind(ctx, backends.BindRequest{Instance: inst, Binding: b})
	return res.Credentials, err
}

// Unbind unbinds b from inst; once it succeeded, b is no longer Recorded for inst.
func (c Calls) Unbind(ctx context.Context, inst backends.Instance, b backends.Binding) error {
	err := c.backend.Unbind(ctx, backends.UnbindRequest{Instance: inst, Binding: b})
	if err == nil {
		forget(inst.ID, b)
	}
	return err
}

// BindingLost reports whether b's login on inst's node is gone.
func (c Calls) BindingLost(ctx context.Context, inst backends.Instance, b backends.Binding) (bool, error) {
	res, err := c.backend.CheckBinding(ctx, backends.CheckBindingRequest{Instance: inst, Binding: b})
	return res.Lost, err
}

// NewInstance is an instance with a fresh id on node, of plan "small" with planConfig (nil for
// none) and no parameters. After the spec it is deprovisioned, and gone checks that nothing of
// it is left on the node.
func (c Calls) NewInstance(node string, planConfig map[string]any, gone func(ctx context.Context, inst backends.Instance)) backends.Instance {
	inst := backends.Instance{ID: uuid.NewString(), Node: node, Plan: "small", PlanConfig: planConfig, Parameters: map[string]any{}}
	ginkgo.DeferCleanup(func(ctx ginkgo.SpecContext) {
		gomega.Expect(c.Deprovision(ctx, inst)).To(gomega.Succeed())
		gone(ctx, inst)
	})
	return inst
}

// Bound binds a NewBinding to inst and returns it with its credentials; the spec fails unless
// the bind succeeds.
func (c Calls) Bound(ctx context.Context, inst backends.Instance) (backends.Binding, backends.Credentials) {
	b := NewBinding()
	creds, err := c.Bind(ctx, inst, b)
	gomega.ExpectWithOffset(1, err).NotTo(gomega.HaveOccurred())
	return b, creds
}

// NewBinding is a binding with a fresh id and a password made as the broker makes them.
func NewBinding() backends.Binding {
	password, err := backends.NewPassword()
	gomega.ExpectWithOffset(1, err).NotTo(gomega.HaveOccurred())
	return backends.Binding{ID: uuid.NewString(), Password: password}
}

// ClosedNodePassword is the password in the admin URL of each suite's node where nothing
// listens; no error and no log line may show it.
const ClosedNodePassword = "s3cret-admin-pass"

// Description is what a person reads on last_operation for err. The spec fails when err
// carries no sentence.
func Description(err error) string {
	sentence, ok := backends.SentenceOf(err)
	gomega.ExpectWithOffset(1, ok).To(gomega.BeTrue(), "%v carries no description", err)
	return sentence
}

// A NodeCall is one call of the contract that talks to a node, made on b.
type NodeCall func(ctx context.Context, b backends.Backend) error

// NodeCalls are the table entries of the calls that talk to inst's node, for specs of what a
// node does to every call: provision, deprovision, bind (with password), unbind and ping.
func NodeCalls(kind string, inst backends.Instance, password string) []ginkgo.TableEntry {
	return []ginkgo.TableEntry{
		ginkgo.Entry("provision", NodeCall(func(ctx context.Context, b backends.Backend) error {
			return Call(kind, b).Provision(ctx, inst)
		})),
		ginkgo.Entry("deprovision", NodeCall(func(ctx context.Context, b backends.Backend) error {
			return Call(kind, b).Deprovision(ctx, inst)
		})),
		ginkgo.Entry("bind", NodeCall(func(ctx context.Context, b backends.Backend) error {
			_, err := Call(kind, b).Bind(ctx, inst, backends.Binding{ID: "b", Password: password})
			return err
		})),
		ginkgo.Entry("unbind", NodeCall(func(ctx context.Context, b backends.Backend) error {
			return Call(kind, b).Unbind(ctx, inst, backends.Binding{ID: "b"})
		})),
		ginkgo.Entry("ping", NodeCall(func(ctx context.Context, b backends.Backend) error {
			return b.Ping(ctx, inst.Node)
		})),
	}
}

// TransportFailures are the table entries, for an adapter's table of the sentences of its
// causes, of the failures every adapter meets beneath its driver, with the sentence each must
// give on node: a refused connection, a connection dropped (an unexpected end of the stream,
// or a read's EOF), a deadline, and a TLS handshake that failed (a certificate of an unknown
// CA, or for another host name, and a node that answers in plain text). Each entry's
// parameters are the error and the sentence.
func TransportFailures(node string) []ginkgo.TableEntry {
	untrusted := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	otherHost := &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "db.example.com"}}
	return []ginkgo.TableEntry{
		ginkgo.Entry("a certificate of an unknown CA", &net.OpError{Op: "remote error", Net: "tcp", Err: untrusted},
			"node "+node+" presented a TLS certificate the broker does not trust"),
		ginkgo.Entry("a CA the verification of the CA alone does not know", x509.UnknownAuthorityError{},
			"node "+node+" presented a TLS certificate the broker does not trust"),
		ginkgo.Entry("a certificate for another host", fmt.Errorf("handshake: %w", otherHost),
			"node "+node+" presented a TLS certificate for another host name"),
		ginkgo.Entry("plain text where TLS was expected", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"},
			"node "+node+" does not speak TLS"),
		ginkgo.Entry("a refused connection", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, "node "+node+" refused the connection"),
		ginkgo.Entry("a stream cut short", io.ErrUnexpectedEOF, "node "+node+" dropped the connection"),
		ginkgo.Entry("a dropped connection", fmt.Errorf("read: %w", io.EOF), "node "+node+" dropped the connection"),
		ginkgo.Entry("a deadline", context.DeadlineExceeded, "node "+node+" did not answer in time"),
	}
}

// AtOnce runs call n times at once, as n workers would, and expects every run to succeed.
func AtOnce(n int, call func() error) {
	ginkgo.GinkgoHelper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range errs {
		wg.Go(func() { errs[i] = call() })
	}
	wg.Wait()
	for _, err := range errs {
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
	}
}

// SQLCredentials are what the credentials of a SQL database must say. Scheme is the uri's,
// JDBC the subprotocol of the jdbcUrl, Type the servicebinding.io type.
type SQLCredentials struct {
	Type               string
	Host               string
	Port               int
	Name               string
	Username, Password string
	Scheme, JDBC       string
}

// ExpectSQLCredentials checks creds key by key against want, and secrets as booleans, so that
// a failure prints no password: hostname, port, name, username, password, and the uri and
// jdbcUrl made of them, next to the well-known host and database (ExpectMountable). It returns
// the uri, for the checks of its query.
func ExpectSQLCredentials(creds backends.Credentials, want SQLCredentials) *url.URL {
	ginkgo.GinkgoHelper()
	gomega.Expect(len(creds) == 11).To(gomega.BeTrue(), "the credentials have 11 keys: hostname, port, name, username, password, uri, jdbcUrl, type, provider, host, database")
	ExpectMountable(creds, want.Type)
	gomega.Expect(creds["hostname"]).To(gomega.Equal(want.Host))
	gomega.Expect(creds["host"]).To(gomega.Equal(want.Host))
	gomega.Expect(creds["database"]).To(gomega.Equal(want.Name))
	gomega.Expect(creds["port"]).To(gomega.Equal(want.Port))
	gomega.Expect(creds["name"]).To(gomega.Equal(want.Name))
	gomega.Expect(creds["username"]).To(gomega.Equal(want.Username))
	gomega.Expect(creds["password"] == want.Password).To(gomega.BeTrue(), "the password is not the binding's")
	hostPort := net.JoinHostPort(want.Host, strconv.Itoa(want.Port))

	uri := ParseSecretURL(creds["uri"], "the uri")
	gomega.Expect(uri.Scheme).To(gomega.Equal(want.Scheme))
	gomega.Expect(uri.Host).To(gomega.Equal(hostPort))
	gomega.Expect(uri.Path).To(gomega.Equal("/" + want.Name))
	gomega.Expect(uri.User.Username()).To(gomega.Equal(want.Username))
	password, _ := uri.User.Password()
	gomega.Expect(password == want.Password).To(gomega.BeTrue(), "the uri's password is not the binding's")

	jdbc, _ := creds["jdbcUrl"].(string)
	prefix := "jdbc:" + want.JDBC + "://"
	gomega.Expect(strings.HasPrefix(jdbc, prefix)).To(gomega.BeTrue(), "the jdbcUrl does not start with %s", prefix)
	ju := ParseSecretURL(strings.TrimPrefix(jdbc, "jdbc:"), "the jdbcUrl")
	gomega.Expect(ju.Host).To(gomega.Equal(hostPort))
	gomega.Expect(ju.Path).To(gomega.Equal("/" + want.Name))
	gomega.Expect(ju.Query().Get("user")).To(gomega.Equal(want.Username))
	gomega.Expect(ju.Query().Get("password") == want.Password).To(gomega.BeTrue(), "the jdbcUrl's password is not the binding's")
	return uri
}

// ExpectMountable checks the servicebinding.io entries of creds: type is typ, provider is
// omnibroker, the well-known host, port, uri, username and password are there, and every key
// may name an entry of a Kubernetes Secret. Keys are printed, values never.
func ExpectMountable(creds backends.Credentials, typ string) {
	ginkgo.GinkgoHelper()
	gomega.Expect(creds["type"]).To(gomega.Equal(typ))
	gomega.Expect(creds["provider"]).To(gomega.Equal("omnibroker"))
	for _, k := range []string{"host", "port", "uri", "username", "password"} {
		_, ok := creds[k]
		gomega.Expect(ok).To(gomega.BeTrue(), "the credentials have no %s", k)
	}
	for k := range creds {
		gomega.Expect(backends.ValidSecretKey(k)).To(gomega.BeTrue(), "%q is not a Kubernetes Secret key", k)
	}
}

// ParseSecretURL parses s, a URL that carries a password, without printing it on failure:
// what names it in the failure message.
func ParseSecretURL(s any, what string) *url.URL {
	ginkgo.GinkgoHelper()
	str, _ := s.(string)
	u, err := url.Parse(str)
	gomega.Expect(err == nil).To(gomega.BeTrue(), "%s does not parse as a URL", what) // url.Parse's error would quote the password
	return u
}

// ExpectHidden checks that text does not show secret; a failure names what showed it, and
// prints neither.
func ExpectHidden(text, secret, what string) {
	ginkgo.GinkgoHelper()
	gomega.Expect(strings.Contains(text, secret)).To(gomega.BeFalse(), "%s shows a password", what)
}
