package acceptance_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// secretKey is what Kubernetes accepts as the key of a Secret's data.
var secretKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// wellKnownURL builds a URL of scheme from the servicebinding.io entries alone (host, port,
// username, password and path), as a client that mounts the binding as a Secret would.
func wellKnownURL(creds credentials, scheme, path, query string) string {
	GinkgoHelper()
	return (&url.URL{
		Scheme:   scheme,
		User:     url.UserPassword(creds.str("username"), creds.str("password")),
		Host:     net.JoinHostPort(creds.str("host"), fmt.Sprint(creds["port"])),
		Path:     path,
		RawQuery: query,
	}).String()
}

// managementGet asks the management API at uri (with its login) for path, and returns the status.
func managementGet(ctx context.Context, uri, path string) int {
	GinkgoHelper()
	return testkit.ManagementStatus(ctx, GinkgoT(), uri, path)
}

var _ = Describe("Credentials any platform can mount", func() {
	DescribeTable("a binding's credentials carry type, provider and the well-known keys, and log in by them alone",
		func(ctx SpecContext, p plan, typ string, login func(context.Context, credentials) error) {
			cf := shared.client()
			id, bindingID := newID(), newID()
			cf.provisionReady(id, p, nil)
			DeferCleanup(cf.deprovisionGone, id, p)
			creds := cf.bindReady(id, bindingID, p, newID())
			DeferCleanup(cf.unbindGone, id, bindingID, p)

			// Key by key: a failing matcher on the whole map would print the password.
			Expect(creds.str("type")).To(Equal(typ))
			Expect(creds.str("provider")).To(Equal("omnibroker"))
			for _, k := range []string{"host", "port", "uri", "username", "password"} {
				Expect(creds).To(HaveKey(k))
			}
			for k := range creds {
				Expect(secretKey.MatchString(k)).To(BeTrue(), "%q is a valid Kubernetes Secret key", k)
			}
			Expect(login(ctx, creds)).To(Succeed(), "logging in with host, port, username, password (and database)")

			r := cf.getBinding(id, bindingID)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			again := credentialsOf(r)
			for k := range creds {
				Expect(again[k] == creds[k]).To(BeTrue(), "GET binding answers the same %s", k)
			}
			Expect(r.Body["endpoints"]).To(ContainElement(map[string]any{
				"host": creds.str("host"), "ports": []any{fmt.Sprint(creds["port"])}, "protocol": "tcp",
			}), "GET binding in OSB 2.15 names the node's host and port as an endpoint")
		},
		Entry("postgresql", quickPlan, "postgresql", func(_ context.Context, c credentials) error {
			Expect(c.str("database")).To(Equal(c.str("name")))
			db, err := connect(wellKnownURL(c, "postgres", "/"+c.str("database"), "sslmode=disable"))
			if err != nil {
				return err
			}
			return db.Ping()
		}),
		Entry("mysql", mysqlPlan, "mysql", func(ctx context.Context, c credentials) error {
			Expect(c.str("database")).To(Equal(c.str("name")))
			_, err := mysqlTryLogin(ctx, wellKnownURL(c, "mysql", "/"+c.str("database"), ""))
			return err
		}),
		Entry("redis", redisPlan, "redis", func(ctx context.Context, c credentials) error {
			_, err := redisTryLogin(ctx, wellKnownURL(c, "redis", "", ""))
			return err
		}),
		Entry("rabbitmq", rabbitPlan, "rabbitmq", func(_ context.Context, c credentials) error {
			_, err := rabbitDial(wellKnownURL(c, "amqp", "/"+c.str("vhost"), ""))
			return err
		}),
	)

	When("a rabbitmq plan sets management_api", func() {
		It("hands out an http_api_uri that reads the binding's vhost's queues and is refused another vhost's", func(ctx SpecContext) {
			cf := shared.client()
			id, otherID, bindingID := newID(), newID(), newID()
			cf.provisionReady(id, rabbitMgmtPlan, nil)
			DeferCleanup(cf.deprovisionGone, id, rabbitMgmtPlan)
			cf.provisionReady(otherID, rabbitMgmtPlan, nil)
			DeferCleanup(cf.deprovisionGone, otherID, rabbitMgmtPlan)

			By("binding, and declaring a queue over AMQP")
			creds := cf.bindReady(id, bindingID, rabbitMgmtPlan, newID())
			DeferCleanup(cf.unbindGone, id, bindingID, rabbitMgmtPlan)
			ch, err := mustRabbitDial(creds.str("uri")).Channel()
			Expect(err).NotTo(HaveOccurred())
			_, err = ch.QueueDeclare("orders", true, false, false, false, nil)
			Expect(err).NotTo(HaveOccurred())

			By("reading the vhost's queues over the management API with the binding's login")
			api := creds.str("http_api_uri")
			apiURL := parseURLWithSecret(api, "the http_api_uri")
			Expect(apiURL.Path).To(Equal("/api/"))
			r := cf.getBinding(id, bindingID)
			Expect(r.Status).To(Equal(http.StatusOK), r.String())
			Expect(r.Body["endpoints"]).To(ContainElement(map[string]any{
				"host": apiURL.Hostname(), "ports": []any{apiURL.Port()}, "protocol": "tcp",
			}), "the management API is an endpoint too")
			vhost, other := url.PathEscape(backendDatabase(id)), url.PathEscape(backendDatabase(otherID))
			Expect(managementGet(ctx, api, "queues/"+vhost+"/orders")).To(Equal(http.StatusOK))

			By("being refused another instance's vhost and the node's users")
			Expect(managementGet(ctx, api, "queues/"+other)).To(Equal(http.StatusUnauthorized))
			Expect(managementGet(ctx, api, "users")).To(Equal(http.StatusUnauthorized))

			By("unbinding, after which the management API turns the login away")
			cf.unbindGone(id, bindingID, rabbitMgmtPlan)
			Expect(managementGet(ctx, api, "queues/"+vhost)).To(Equal(http.StatusUnauthorized))
			expectNoSecretsInOutput()
		})
	})
})
