package rabbitmq_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3/lagerctx"
	"code.cloudfoundry.org/lager/v3/lagertest"
	"github.com/google/uuid"
	rabbithole "github.com/michaelklishin/rabbit-hole/v3"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/rabbitmq"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestRabbitMQ(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "RabbitMQ Backend Suite")
}

const closedNodePassword = backendtest.ClosedNodePassword

var (
	adminURL string
	admin    *rabbithole.Client
	backend  *rabbitmq.RabbitMQ
	logger   *lagertest.TestLogger
)

var _ = BeforeSuite(func() {
	adminURL = testkit.RabbitMQ.URL()
	admin = testkit.RabbitMQAdmin(GinkgoT(), testkit.RabbitMQ)

	backend = testkit.OpenAdapter(GinkgoT(), rabbitmq.New, "rabbitmq-local",
		backends.Server{Name: "rabbitmq-local", AdminURL: adminURL},
		backends.Server{Name: "rabbitmq-closed", AdminURL: "http://guest:" + closedNodePassword + "@127.0.0.1:1"})
})

var _ = BeforeEach(func() {
	logger = lagertest.NewTestLogger("rabbitmq-test")
})

// logged returns ctx carrying this spec's test logger, as the worker hands its session on.
func logged(ctx context.Context) context.Context {
	return lagerctx.NewContext(ctx, logger)
}

// newInstance returns an instance with a fresh id on rabbitmq-local, deprovisioned after the
// spec, which then checks that its vhost is gone.
func newInstance() backends.Instance {
	return calls(backend).NewInstance("rabbitmq-local", nil, func(_ context.Context, inst backends.Instance) {
		Expect(vhostExists(vhostName(inst))).To(BeFalse())
	})
}

func provisioned(ctx context.Context) backends.Instance {
	inst := newInstance()
	Expect(calls(backend).Provision(logged(ctx), inst)).To(Succeed())
	return inst
}

func newBinding() backends.Binding { return backendtest.NewBinding() }

// bound binds a new binding to inst, logged with the spec's logger.
func bound(ctx context.Context, inst backends.Instance) (backends.Binding, backends.Credentials) {
	return calls(backend).Bound(logged(ctx), inst)
}

// dial connects with uri as an application would and returns the connection, closed after
// the spec.
func dial(uri string) (*amqp.Connection, error) {
	c, err := amqp.DialConfig(uri, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, err
	}
	DeferCleanup(func() { _ = c.Close() })
	return c, nil
}

func mustDial(creds backends.Credentials) *amqp.Connection {
	c, err := dial(creds["uri"].(string))
	Expect(err).NotTo(HaveOccurred())
	return c
}

// withVhost returns uri with its vhost replaced by vhost.
func withVhost(uri, vhost string) string {
	GinkgoHelper()
	u := parseSecretURL(uri, "the uri")
	u.Path, u.RawPath = "/"+vhost, ""
	return u.String()
}

// amqpCode is the reply code of the AMQP error err, or 0.
func amqpCode(err error) int {
	var e *amqp.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func vhostName(inst backends.Instance) string { return backends.Name("ob_", inst.ID) }

// userPrefix starts the names of all the users of inst's bindings.
func userPrefix(inst backends.Instance) string {
	return "ob_" + backends.Name("", inst.ID)[:12] + "_"
}

func userName(inst backends.Instance, b backends.Binding) string {
	return userPrefix(inst) + backends.Name("", inst.ID, b.ID)[:12]
}

// parseSecretURL parses a URL that carries a password. url.Parse's error quotes the whole
// URL, so a failure says only what did not parse.
func parseSecretURL(s any, what string) *url.URL {
	GinkgoHelper()
	str, _ := s.(string)
	u, err := url.Parse(str)
	Expect(err == nil).To(BeTrue(), "%s does not parse as a URL", what)
	return u
}

// expectHidden checks that text does not show secret; a failure names what showed it, and
// prints neither.
func expectHidden(text, secret, what string) {
	GinkgoHelper()
	Expect(strings.Contains(text, secret)).To(BeFalse(), "%s shows a password", what)
}

// status is the HTTP status in a rabbit-hole error, or 0.
func status(err error) int {
	var e rabbithole.ErrorResponse
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

func vhostExists(vhost string) bool {
	_, err := admin.GetVhost(vhost)
	if status(err) == http.StatusNotFound {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

func userExists(user string) bool {
	_, err := admin.GetUser(user)
	if status(err) == http.StatusNotFound {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

// putUser creates user with a fresh password and tags as an operator would, deleted after the
// spec, and returns the password.
func putUser(user string, tags ...string) string {
	password := uuid.NewString()
	res, err := admin.PutUser(user, rabbithole.UserSettings{Password: password, Tags: tags})
	Expect(err).NotTo(HaveOccurred())
	_ = res.Body.Close()
	DeferCleanup(func() {
		res, err := admin.DeleteUser(user)
		Expect(err).NotTo(HaveOccurred())
		_ = res.Body.Close()
	})
	return password
}

func permit(vhost, user string) {
	res, err := admin.UpdatePermissionsIn(vhost, user, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"})
	Expect(err).NotTo(HaveOccurred())
	_ = res.Body.Close()
}
