package rabbitmq_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

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

func TestRabbitMQ(t *testing.T) { testkit.RunSuite(t, "RabbitMQ Backend Suite") }

var suite = backendtest.NewSuite("rabbitmq", testkit.RabbitMQ, testkit.RabbitMQAdmin, rabbitmq.New, "rabbitmq-local",
	backendtest.ClosedNode("rabbitmq-closed", "http", "guest", ""))

// newInstance returns an instance with a fresh id on rabbitmq-local, deprovisioned after the
// spec, which then checks that its vhost is gone.
func newInstance() backends.Instance {
	return suite.Calls().NewInstance("rabbitmq-local", nil, func(_ context.Context, inst backends.Instance) {
		Expect(vhostExists(vhostName(inst))).To(BeFalse())
	})
}

func provisioned(ctx context.Context) backends.Instance {
	inst := newInstance()
	Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())
	return inst
}

func newBinding() backends.Binding { return backendtest.NewBinding() }

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

// expectLoginRefused checks that creds log in no longer: RabbitMQ refuses their connection.
func expectLoginRefused(creds backends.Credentials) {
	GinkgoHelper()
	_, err := dial(creds["uri"].(string))
	Expect(amqpCode(err)).To(Equal(amqp.AccessRefused), "%v", err)
}

// withVhost returns uri with its vhost replaced by vhost.
func withVhost(uri, vhost string) string {
	GinkgoHelper()
	u := backendtest.ParseSecretURL(uri, "the uri")
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

func userName(inst backends.Instance, b backends.Binding) string {
	return backends.UserName(inst.ID, b)
}

// cutShort records a new binding of inst, as the broker stores its row before the bind, and
// returns the name of its user, which a spec then makes by hand as a bind cut short leaves it.
func cutShort(inst backends.Instance) string {
	b := newBinding()
	backendtest.Record(inst.ID, b)
	return userName(inst, b)
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
	_, err := suite.Admin.GetVhost(vhost)
	if status(err) == http.StatusNotFound {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

func userExists(user string) bool {
	_, err := suite.Admin.GetUser(user)
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
	res, err := suite.Admin.PutUser(user, rabbithole.UserSettings{Password: password, Tags: tags})
	Expect(err).NotTo(HaveOccurred())
	_ = res.Body.Close()
	DeferCleanup(func() {
		res, err := suite.Admin.DeleteUser(user)
		Expect(err).NotTo(HaveOccurred())
		_ = res.Body.Close()
	})
	return password
}

func permit(vhost, user string) {
	res, err := suite.Admin.UpdatePermissionsIn(vhost, user, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"})
	Expect(err).NotTo(HaveOccurred())
	_ = res.Body.Close()
}
