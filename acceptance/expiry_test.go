package acceptance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	amqp "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"
)

// expiryLifetime is the binding_lifetime of the expiry catalog's plans: long enough for a spec
// to log in once on a loaded machine, short enough to wait for.
const expiryLifetime = 6 * time.Second

// The plans of the expiry catalog, one of each kind, whose bindings live expiryLifetime.
var (
	ePGPlan     = plan{"e7a1c0d2-5b1f-4c3a-9e0d-1a2b3c4d5e01", "e7a1c0d2-5b1f-4c3a-9e0d-1a2b3c4d5e02"}
	eMySQLPlan  = plan{"e7a1c0d2-5b1f-4c3a-9e0d-1a2b3c4d5e11", "e7a1c0d2-5b1f-4c3a-9e0d-1a2b3c4d5e12"}
	eRedisPlan  = plan{"e7a1c0d2-5b1f-4c3a-9e0d-1a2b3c4d5e21", "e7a1c0d2-5b1f-4c3a-9e0d-1a2b3c4d5e22"}
	eRabbitPlan = plan{"e7a1c0d2-5b1f-4c3a-9e0d-1a2b3c4d5e31", "e7a1c0d2-5b1f-4c3a-9e0d-1a2b3c4d5e32"}
)

// expiryCatalog writes a catalog of the four expiring plans, with the test catalog's backends,
// and returns its path.
func expiryCatalog() string {
	GinkgoHelper()
	services := ""
	for _, k := range []struct {
		kind string
		p    plan
	}{{"postgres", ePGPlan}, {"mysql", eMySQLPlan}, {"redis", eRedisPlan}, {"rabbitmq", eRabbitPlan}} {
		services += fmt.Sprintf("  - {id: %s, name: expiring-%s, description: d, bindable: true, bindings_retrievable: true, plans: [\n"+
			"      {id: %s, name: expiring, description: d, backend: %s, wait_budget: %s, binding_lifetime: %s, binding_rotatable: true}]}\n",
			k.p.serviceID, k.kind, k.p.planID, k.kind, quickWaitBudget, expiryLifetime)
	}
	return catalogWith(services)
}

// startExpiryBroker starts a broker serving the expiry catalog that sweeps for expired bindings
// every second.
func startExpiryBroker() *broker {
	GinkgoHelper()
	return startBroker(newStateDB(), map[string]string{"OMNIBROKER_CONFIG": expiryCatalog(), "OMNIBROKER_EXPIRY_INTERVAL": "1s"})
}

// loginByURI logs in to the server of a kind with a binding's uri, as an application would, and
// logs out again: a spec that tries every half second must not hold a connection for each try.
var loginByURI = map[string]func(ctx context.Context, c credentials) error{
	"postgres": func(_ context.Context, c credentials) error {
		return closed(connect(c.str("uri")))
	},
	"mysql": func(ctx context.Context, c credentials) error {
		return closed(mysqlTryLogin(ctx, c.str("uri")))
	},
	"redis": func(ctx context.Context, c credentials) error {
		return closed(redisTryLogin(ctx, c.str("uri")))
	},
	"rabbitmq": func(_ context.Context, c credentials) error {
		return closed(rabbitDial(c.str("uri")))
	},
}

func closed[C io.Closer](c C, err error) error {
	if err != nil {
		return err
	}
	_ = c.Close()
	return nil
}

// loginRefused tells whether err is the server of a kind turning the login down (no such user,
// or a wrong password), as against a server that could not take it: a loaded server out of
// connections must not pass for an expired binding.
var loginRefused = map[string]func(err error) bool{
	"postgres": func(err error) bool {
		e, ok := errors.AsType[*pq.Error](err)
		return ok && (e.Code == "28000" || e.Code == "28P01")
	},
	"mysql": func(err error) bool {
		e, ok := errors.AsType[*gomysql.MySQLError](err)
		return ok && (e.Number == 1045 || e.Number == 1698)
	},
	"redis":    goredis.IsAuthError,
	"rabbitmq": func(err error) bool { return rabbitRefusal(err) == amqp.AccessRefused },
}

// awaitLoginRefused waits until the server of a kind refuses the credentials.
func awaitLoginRefused(ctx context.Context, kind string, c credentials) {
	GinkgoHelper()
	Eventually(func() error {
		err := loginByURI[kind](ctx, c)
		switch {
		case err == nil:
			return errors.New("the credentials still log in")
		case !loginRefused[kind](err):
			return fmt.Errorf("the login failed, but the server did not refuse it: %w", err)
		}
		return nil
	}).WithTimeout(expiryLifetime + 30*time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
}

// bindingTimes reads an answer's metadata.expires_at and renew_before, which must be written
// as the spec has it (yyyy-mm-ddThh:mm:ss.sZ, UTC).
func bindingTimes(r response) (expiresAt, renewBefore time.Time) {
	GinkgoHelper()
	meta, ok := r.Body["metadata"].(map[string]any)
	Expect(ok).To(BeTrue(), "the answer carries metadata: %s", r)
	for key, t := range map[string]*time.Time{"expires_at": &expiresAt, "renew_before": &renewBefore} {
		s, _ := meta[key].(string)
		Expect(s).To(MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$`), "metadata.%s", key)
		var err error
		*t, err = time.Parse(time.RFC3339Nano, s)
		Expect(err).NotTo(HaveOccurred(), "metadata.%s", key)
	}
	return expiresAt, renewBefore
}

// bindAnswer binds as Cloud Foundry does and returns the answer that carries the credentials:
// the bind's (201), or GET binding's after polling (202).
func (c *osbClient) bindAnswer(id, bindingID string, body map[string]any, p plan) response {
	GinkgoHelper()
	r := c.bind(id, bindingID, body, true)
	Expect(r.Status).To(BeElementOf(http.StatusCreated, http.StatusAccepted), r.String())
	if r.Status == http.StatusAccepted {
		expectSucceeded(c.awaitBinding(id, bindingID, p, operationOf(r)))
		r = c.getBinding(id, bindingID)
		Expect(r.Status).To(Equal(http.StatusOK), r.String())
	}
	return r
}

var _ = Describe("Binding expiry", func() {
	DescribeTable("a plan's binding_lifetime: the login works until expires_at, then the server refuses it, GET binding says expired, and unbind answers 200 and leaves nothing",
		func(ctx SpecContext, kind string, p plan) {
			b := startExpiryBroker()
			cf := b.client()
			cf.version = "2.17"
			admins := backendAdmins{mysql: mysqlAdmin(), redis: redisAdmin(), rabbit: rabbitAdmin()}
			id, bindingID := newID(), newID()
			cf.provisionReady(id, p, nil)
			DeferCleanup(cf.deprovisionGone, id, p)

			By("binding, which answers expires_at and renew_before")
			bound := time.Now()
			r := cf.bindAnswer(id, bindingID, bindBody(p, newID(), nil), p)
			DeferCleanup(cf.unbindGone, id, bindingID, p)
			creds := credentialsOf(r)
			expiresAt, renewBefore := bindingTimes(r)
			Expect(expiresAt).To(BeTemporally("~", bound.Add(expiryLifetime), 3*time.Second))
			Expect(renewBefore).To(And(BeTemporally("<", expiresAt), BeTemporally(">", bound)))
			got := cf.getBinding(id, bindingID)
			Expect(got.Status).To(Equal(http.StatusOK), got.String())
			Expect(got.Body["metadata"]).To(Equal(r.Body["metadata"]), "GET binding answers the same times")

			By("logging in before it expires")
			Expect(loginByURI[kind](ctx, creds)).To(Succeed())
			Expect(time.Now()).To(BeTemporally("<", expiresAt), "the login was tried before expires_at")

			By("being refused by the server once it has expired")
			awaitLoginRefused(ctx, kind, creds)
			Expect(time.Now()).To(BeTemporally(">=", expiresAt))

			By("GET binding saying it expired: its expires_at has passed, and it hands out no credentials")
			got = cf.getBinding(id, bindingID)
			Expect(got.Status).To(Equal(http.StatusOK), got.String())
			Expect(got.Body).NotTo(HaveKey("credentials"))
			Expect(got.Body["metadata"]).To(Equal(r.Body["metadata"]))

			By("unbinding with 200, after which the binding is gone")
			// The server refuses the login as soon as the expiry's operation has shut the login
			// out (postgres does that first, then drops the role), so that operation may still
			// be running: the unbind meanwhile is a 422 ConcurrencyError, which a platform retries.
			Eventually(func() response { return cf.unbind(id, bindingID, p, true) }).
				Should(HaveField("Status", Equal(http.StatusOK)))
			Expect(cf.getBinding(id, bindingID).Status).To(Equal(http.StatusNotFound))
			Expect(cf.unbind(id, bindingID, p, true).Status).To(Equal(http.StatusGone))

			By("deprovisioning, after which nothing of the instance or the binding is left on the servers")
			cf.deprovisionGone(id, p)
			admins.expectNoBackendObjects(ctx, id, bindingID)
		},
		Entry("postgresql", "postgres", ePGPlan),
		Entry("mysql", "mysql", eMySQLPlan),
		Entry("redis", "redis", eRedisPlan),
		Entry("rabbitmq", "rabbitmq", eRabbitPlan),
	)

	It("gives a rotated binding a fresh lifetime, and answers 400 to the rotation of an expired one", func(ctx SpecContext) {
		b := startExpiryBroker()
		cf := b.client()
		cf.version = "2.17"
		id, first, second := newID(), newID(), newID()
		cf.provisionReady(id, ePGPlan, nil)
		DeferCleanup(cf.deprovisionGone, id, ePGPlan)
		r := cf.bindAnswer(id, first, bindBody(ePGPlan, newID(), nil), ePGPlan)
		DeferCleanup(cf.unbindGone, id, first, ePGPlan)
		firstExpires, _ := bindingTimes(r)

		By("rotating it before it expires")
		time.Sleep(time.Second)
		rotated := cf.bindAnswer(id, second, map[string]any{"predecessor_binding_id": first}, ePGPlan)
		DeferCleanup(cf.unbindGone, id, second, ePGPlan)
		secondExpires, _ := bindingTimes(rotated)
		Expect(secondExpires).To(BeTemporally(">", firstExpires), "the new binding's lifetime starts with its own bind")

		By("rotating the predecessor again once it has expired")
		awaitLoginRefused(ctx, "postgres", credentialsOf(r))
		late := cf.bind(id, newID(), map[string]any{"predecessor_binding_id": first}, true)
		expectOSBError(late, http.StatusBadRequest)
		Expect(late.str("description")).To(ContainSubstring("expired"))
	})

	It("gives bindings of a plan without a lifetime no metadata", func() {
		cf := shared.client()
		cf.version = "2.17"
		id, bindingID := newID(), newID()
		cf.provisionReady(id, quickPlan, nil)
		DeferCleanup(cf.deprovisionGone, id, quickPlan)
		r := cf.bindAnswer(id, bindingID, bindBody(quickPlan, newID(), nil), quickPlan)
		DeferCleanup(cf.unbindGone, id, bindingID, quickPlan)
		Expect(r.Body).NotTo(HaveKey("metadata"))
		Expect(cf.getBinding(id, bindingID).Body).NotTo(HaveKey("metadata"))
	})
})
