package rabbitmq_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"

	rabbithole "github.com/michaelklishin/rabbit-hole/v3"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// roundTrip publishes a message on a fresh channel of conn and consumes it again.
func roundTrip(ctx context.Context, conn *amqp.Connection, body string) {
	ch, err := conn.Channel()
	Expect(err).NotTo(HaveOccurred())
	defer ch.Close()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	Expect(err).NotTo(HaveOccurred())
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(ch.PublishWithContext(ctx, "", q.Name, false, false, amqp.Publishing{Body: []byte(body)})).To(Succeed())
	var d amqp.Delivery
	Eventually(deliveries).Should(Receive(&d))
	Expect(string(d.Body)).To(Equal(body))
}

// apiGet asks the management API at uri (which carries a login) for path and returns the
// answer's status.
func apiGet(ctx context.Context, uri, path string) int {
	return testkit.ManagementStatus(ctx, GinkgoT(), uri, path)
}

var _ = Describe("Bind", func() {
	It("returns credentials with which an application publishes and consumes a message on the instance's vhost", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, creds := suite.Bound(ctx, inst)

		// Field by field: on failure gomega would print the whole map, password included.
		Expect(len(creds) == 9).To(BeTrue(), "the credentials have 9 keys: uri, hostname, host, port, vhost, username, password, type, provider")
		Expect(creds["hostname"]).To(Equal("127.0.0.1"))
		Expect(creds["host"]).To(Equal("127.0.0.1"))
		Expect(creds["port"]).To(Equal(5672))
		Expect(creds["vhost"]).To(Equal(vhostName(inst)))
		Expect(creds["username"]).To(Equal(userName(inst, b)))
		Expect(creds["password"] == b.Password).To(BeTrue(), "the password is the binding's")
		backendtest.ExpectMountable(creds, "rabbitmq")
		Expect(creds).NotTo(HaveKey("http_api_uri"), "no management API URL for a user the API turns away")
		Expect(userName(inst, b)).To(MatchRegexp(`^ob_[a-z2-7]{26}$`))
		Expect(len(userName(inst, b))).To(BeNumerically("<=", 32))

		uri := backendtest.ParseSecretURL(creds["uri"], "the uri")
		Expect(uri.Scheme).To(Equal("amqp"))
		Expect(uri.Host).To(Equal("127.0.0.1:5672"))
		Expect(uri.Path).To(Equal("/" + vhostName(inst)))
		Expect(uri.User.Username()).To(Equal(userName(inst, b)))
		password, _ := uri.User.Password()
		Expect(password == b.Password).To(BeTrue(), "the uri carries the binding's password")

		roundTrip(ctx, mustDial(creds), "hello from the app")
	})

	It("sets the same password again when retried", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, first := suite.Bound(ctx, inst)

		again, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
		Expect(err).NotTo(HaveOccurred())
		for k := range first {
			Expect(again[k] == first[k]).To(BeTrue(), "%s is the same", k)
		}
		roundTrip(ctx, mustDial(again), "after a retry")
	})

	When("two workers bind the same id at once", func() {
		It("succeeds for both, and the one user logs in", func(ctx SpecContext) {
			inst := provisioned(ctx)
			b := newBinding()
			var wg sync.WaitGroup
			errs := make([]error, 2)
			creds := make([]backends.Credentials, 2)
			for i := range errs {
				wg.Go(func() { creds[i], errs[i] = suite.Calls().Bind(suite.Logged(ctx), inst, b) })
			}
			wg.Wait()
			Expect(errs).To(HaveEach(Succeed()))
			Expect(creds[0]["uri"] == creds[1]["uri"]).To(BeTrue(), "both calls return the same uri")
			roundTrip(ctx, mustDial(creds[0]), "bound twice")
		})
	})

	It("sends a salted hash, never the password, gives the user no tags, and logs no password", func(ctx SpecContext) {
		inst := provisioned(ctx)
		b, _ := suite.Bound(ctx, inst)

		user, err := suite.Admin.GetUser(userName(inst, b))
		Expect(err).NotTo(HaveOccurred())
		Expect(user.Tags).To(Or(BeEmpty(), Equal(rabbithole.UserTags{""})))
		Expect(user.HashingAlgorithm).To(Equal(rabbithole.HashingAlgorithmSHA256))
		Expect(user.PasswordHash).NotTo(BeEmpty())
		backendtest.ExpectHidden(user.PasswordHash, b.Password, "the stored hash")
		Expect(string(suite.Logger.Buffer().Contents())).To(ContainSubstring("user-password-set"))
		backendtest.ExpectHidden(string(suite.Logger.Buffer().Contents()), b.Password, "the log")
	})

	It("gives access to the instance's vhost only, and none to the management API", func(ctx SpecContext) {
		a := provisioned(ctx)
		other := provisioned(ctx)
		b, creds := suite.Bound(ctx, a)

		_, err := dial(withVhost(creds["uri"].(string), vhostName(other)))
		Expect(amqpCode(err)).To(Equal(amqp.NotAllowed), "%v", err)
		Expect(err.Error()).To(ContainSubstring("access to vhost '" + vhostName(other) + "' refused"))

		perms, err := suite.Admin.ListPermissionsOf(userName(a, b))
		Expect(err).NotTo(HaveOccurred())
		Expect(perms).To(HaveLen(1))
		Expect(perms[0].Vhost).To(Equal(vhostName(a)))

		Expect(apiGet(ctx, "http://"+userName(a, b)+":"+b.Password+"@127.0.0.1:15672/api/", "whoami")).To(Equal(http.StatusUnauthorized))
	})

	When("the plan sets management_api", func() {
		It("gives the user the management tag and an http_api_uri that reads its vhost's queues and no other's", func(ctx SpecContext) {
			inst := newInstance()
			inst.PlanConfig = map[string]any{"management_api": true}
			Expect(suite.Calls().Provision(suite.Logged(ctx), inst)).To(Succeed())
			other := provisioned(ctx)
			b, creds := suite.Bound(ctx, inst)

			user, err := suite.Admin.GetUser(userName(inst, b))
			Expect(err).NotTo(HaveOccurred())
			Expect(user.Tags).To(Equal(rabbithole.UserTags{"management"}))

			api := backendtest.ParseSecretURL(creds["http_api_uri"], "the http_api_uri")
			Expect(api.Scheme).To(Equal("http"))
			Expect(api.Host).To(Equal("127.0.0.1:15672"))
			Expect(api.Path).To(Equal("/api/"))
			Expect(api.User.Username()).To(Equal(userName(inst, b)))
			password, _ := api.User.Password()
			Expect(password == b.Password).To(BeTrue(), "the http_api_uri carries the binding's password")

			uri := creds["http_api_uri"].(string)
			Expect(apiGet(ctx, uri, "queues/"+url.PathEscape(vhostName(inst)))).To(Equal(http.StatusOK))
			Expect(apiGet(ctx, uri, "queues/"+url.PathEscape(vhostName(other)))).To(Equal(http.StatusUnauthorized))
			Expect(apiGet(ctx, uri, "users")).To(Equal(http.StatusUnauthorized))

			again, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
			Expect(err).NotTo(HaveOccurred(), "a retry accepts the user's management tag as its own")
			Expect(again["http_api_uri"] == creds["http_api_uri"]).To(BeTrue())
			Expect(suite.Calls().Unbind(suite.Logged(ctx), inst, b)).To(Succeed())
			Expect(userExists(userName(inst, b))).To(BeFalse())
		})
	})

	When("a Bind was cut short after it created the user, before it set the user's permissions", func() {
		It("finishes the job when retried: the user gets the binding's password and its permissions", func(ctx SpecContext) {
			inst := provisioned(ctx)
			b := newBinding()
			putUser(userName(inst, b))

			creds, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
			Expect(err).NotTo(HaveOccurred())

			roundTrip(ctx, mustDial(creds), "after a Bind cut short")
		})
	})

	It("fails permanently for an instance that has no vhost", func(ctx SpecContext) {
		inst := newInstance()
		_, err := suite.Calls().Bind(suite.Logged(ctx), inst, newBinding())
		Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
		Expect(backendtest.Description(err)).To(ContainSubstring("does not exist on node rabbitmq-local"))
	})

	When("a user of that name belongs to someone else", func() {
		It("fails permanently, and unbind leaves that user alone", func(ctx SpecContext) {
			inst := provisioned(ctx)
			b := newBinding()
			putUser(userName(inst, b), "monitoring")

			_, err := suite.Calls().Bind(suite.Logged(ctx), inst, b)
			Expect(backends.IsPermanent(err)).To(BeTrue(), "%v", err)
			Expect(backendtest.Description(err)).To(ContainSubstring("taken by a user this broker does not own"))

			Expect(backends.IsPermanent(suite.Calls().Unbind(suite.Logged(ctx), inst, b))).To(BeTrue())
			Expect(userExists(userName(inst, b))).To(BeTrue())
			user, err := suite.Admin.GetUser(userName(inst, b))
			Expect(err).NotTo(HaveOccurred())
			Expect(user.Tags).To(ContainElement("monitoring"))
		})
	})
})

var _ = Describe("Unbind", func() {
	suite.ItUnbinds("closes the binding's open connection and refuses its logins, and leaves the other bindings alone", provisioned,
		func(ctx context.Context, inst backends.Instance, first, other backendtest.Bound) backendtest.Unbound {
			conn1 := mustDial(first.Credentials)
			conn2 := mustDial(other.Credentials)
			roundTrip(ctx, conn1, "before unbind")
			return backendtest.Unbound{
				Ended: func(context.Context) { Eventually(conn1.IsClosed).Should(BeTrue()) },
				Gone: func(context.Context) {
					expectLoginRefused(first.Credentials)
					Expect(userExists(userName(inst, first.Binding))).To(BeFalse())
				},
				Kept: func(ctx context.Context) { roundTrip(ctx, conn2, "the other binding still works") },
			}
		})
})
