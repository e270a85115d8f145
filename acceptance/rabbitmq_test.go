package acceptance_test

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v3"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	amqp "github.com/rabbitmq/amqp091-go"
)

// rabbitAdmin is a management API client logged in as the suite's RabbitMQ admin.
func rabbitAdmin() *rabbithole.Client {
	GinkgoHelper()
	u := parseURLWithSecret(rabbitAdminURL, "OMNIBROKER_TEST_RABBITMQ_URL")
	password, _ := u.User.Password()
	c, err := rabbithole.NewClient(u.Scheme+"://"+u.Host, u.User.Username(), password)
	Expect(err).NotTo(HaveOccurred())
	c.SetTimeout(10 * time.Second)
	return c
}

// rabbitFound reports whether the management API found what it was asked for.
func rabbitFound(err error) bool {
	GinkgoHelper()
	var e rabbithole.ErrorResponse
	if errors.As(err, &e) && e.StatusCode == http.StatusNotFound {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

// rabbitDial connects with uri as an application would; it returns the connection (closed
// when the spec ends) or the error of logging in.
func rabbitDial(uri string) (*amqp.Connection, error) {
	c, err := amqp.DialConfig(uri, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		return nil, err
	}
	DeferCleanup(func() { _ = c.Close() })
	return c, nil
}

func mustRabbitDial(uri string) *amqp.Connection {
	GinkgoHelper()
	c, err := rabbitDial(uri)
	Expect(err).NotTo(HaveOccurred(), "logging in with the binding's uri")
	return c
}

// rabbitRefusal is the AMQP reply code with which the node turned a login down, or 0.
func rabbitRefusal(err error) int {
	var e *amqp.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// rabbitWithVhost returns uri with its vhost replaced by vhost.
func rabbitWithVhost(uri, vhost string) string {
	GinkgoHelper()
	u := parseURLWithSecret(uri, "the uri")
	u.Path, u.RawPath = "/"+vhost, ""
	return u.String()
}

var _ = Describe("RabbitMQ", func() {
	When("Cloud Foundry drives a rabbitmq instance from provision to deprovision", func() {
		It("creates a vhost two apps exchange messages on, shuts an unbound app out, and removes the vhost", func(ctx SpecContext) {
			cf := shared.client()
			admin := rabbitAdmin()
			id, otherID, b1, b2 := newID(), newID(), newID(), newID()
			// The vhost's name is derived from the instance id as the database's is for postgres.
			vhost, otherVhost := backendDatabase(id), backendDatabase(otherID)

			By("provisioning two instances")
			cf.provisionReady(id, rabbitPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, rabbitPlan)
			cf.provisionReady(otherID, rabbitPlan, nil)
			DeferCleanup(cf.deprovisionGone, otherID, rabbitPlan)
			_, err := admin.GetVhost(vhost)
			Expect(rabbitFound(err)).To(BeTrue(), "vhost %s exists", vhost)

			By("binding two apps")
			creds1 := cf.bindReady(id, b1, rabbitPlan, newID())
			DeferCleanup(cf.unbindGone, id, b1, rabbitPlan)
			creds2 := cf.bindReady(id, b2, rabbitPlan, newID())
			DeferCleanup(cf.unbindGone, id, b2, rabbitPlan)
			// Field by field: a failing matcher would print a whole value, password included.
			Expect(creds1.str("vhost")).To(Equal(vhost))
			Expect(creds1.str("hostname")).NotTo(BeEmpty())
			Expect(creds1["port"]).To(BeNumerically("==", 5672))
			Expect(creds1.str("username")).To(MatchRegexp(loginPattern))
			Expect(creds2.str("username")).To(MatchRegexp(loginPattern))
			Expect(creds2.str("username")).NotTo(Equal(creds1.str("username")))
			base62, err := regexp.MatchString(`^[0-9A-Za-z]{32}$`, creds1.str("password"))
			Expect(err).NotTo(HaveOccurred())
			Expect(base62).To(BeTrue(), "the password is 32 base62 characters")
			Expect(strings.HasPrefix(creds1.str("uri"), "amqp://")).To(BeTrue(), "the uri is an amqp:// URI")
			Expect(creds1).NotTo(HaveKey("http_api_uri"), "a plan without management_api hands out no management API URL")

			By("publishing as the first app and consuming as the second")
			app1 := mustRabbitDial(creds1.str("uri"))
			app2 := mustRabbitDial(creds2.str("uri"))
			ch1, err := app1.Channel()
			Expect(err).NotTo(HaveOccurred())
			_, err = ch1.QueueDeclare("greetings", true, false, false, false, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(ch1.PublishWithContext(ctx, "", "greetings", false, false, amqp.Publishing{Body: []byte("hello")})).To(Succeed())
			ch2, err := app2.Channel()
			Expect(err).NotTo(HaveOccurred())
			Eventually(func(g Gomega) string {
				msg, ok, err := ch2.Get("greetings", true)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(ok).To(BeTrue(), "a message waits in the queue")
				return string(msg.Body)
			}).Should(Equal("hello"))

			By("dialling another instance's vhost with the first app's credentials")
			_, err = rabbitDial(rabbitWithVhost(creds1.str("uri"), otherVhost))
			Expect(rabbitRefusal(err)).To(Equal(amqp.NotAllowed), "access to vhost %s is refused: %v", otherVhost, err)

			By("unbinding the first app while its connection is open")
			cf.unbindGone(id, b1, rabbitPlan)
			Eventually(app1.IsClosed).Should(BeTrue(), "the first app's connection is closed")
			_, err = rabbitDial(creds1.str("uri"))
			Expect(rabbitRefusal(err)).To(Equal(amqp.AccessRefused), "the first app's login is refused: %v", err)
			_, err = admin.GetUser(creds1.str("username"))
			Expect(rabbitFound(err)).To(BeFalse(), "the first app's user is deleted")
			r := cf.getBinding(id, b1)
			Expect(r.Status).To(Equal(http.StatusNotFound), r.String())
			Expect(ch2.PublishWithContext(ctx, "", "greetings", false, false, amqp.Publishing{Body: []byte("still here")})).To(Succeed())
			Expect(app2.IsClosed()).To(BeFalse(), "the second app is still connected")

			By("unbinding the second app, as Cloud Foundry does before deleting a service")
			cf.unbindGone(id, b2, rabbitPlan)
			Eventually(app2.IsClosed).Should(BeTrue(), "the second app's connection is closed")
			_, err = admin.GetUser(creds2.str("username"))
			Expect(rabbitFound(err)).To(BeFalse(), "the second app's user is deleted")

			By("leaving a binding's user without permissions, as a Bind cut short after creating it would")
			orphan := cf.bindReady(id, newID(), rabbitPlan, newID()).str("username")
			res, err := admin.ClearPermissionsIn(vhost, orphan)
			Expect(err).NotTo(HaveOccurred())
			_ = res.Body.Close()
			DeferCleanup(func() {
				if res, err := admin.DeleteUser(orphan); err == nil {
					_ = res.Body.Close()
				}
			})

			By("deprovisioning while an operator is still connected to the vhost")
			operator := mustRabbitDial(rabbitAdminAMQPURI(creds1))
			cf.deprovisionGone(id, rabbitPlan)
			_, err = admin.GetVhost(vhost)
			Expect(rabbitFound(err)).To(BeFalse(), "vhost %s is deleted", vhost)
			Eventually(operator.IsClosed).Should(BeTrue(), "the operator's connection to the vhost is closed")
			_, err = admin.GetUser(orphan)
			Expect(rabbitFound(err)).To(BeFalse(), "the user without permissions is deleted")
			_, err = admin.GetVhost(otherVhost)
			Expect(rabbitFound(err)).To(BeTrue(), "the other instance's vhost is left")
			r = cf.getInstance(id)
			Expect(r.Status).To(Equal(http.StatusNotFound), r.String())

			expectNoSecretsInOutput()
		})
	})
})

// rabbitAdminAMQPURI is the binding's uri with the suite's RabbitMQ admin in place of the
// binding's user: the node gives the user that creates a vhost access to it.
func rabbitAdminAMQPURI(creds credentials) string {
	GinkgoHelper()
	admin := parseURLWithSecret(rabbitAdminURL, "OMNIBROKER_TEST_RABBITMQ_URL")
	u := parseURLWithSecret(creds.str("uri"), "the uri")
	u.User = admin.User
	return u.String()
}
