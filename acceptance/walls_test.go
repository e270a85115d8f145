package acceptance_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// loginPattern is the name of every login the broker makes on MariaDB, Redis and RabbitMQ:
// "ob_" and 130 bits of a hash of the instance's and the binding's ids, in lower-case base32.
const loginPattern = `^ob_[a-z2-7]{26}$`

// collidingIDs are two instance ids whose logins, as they were named before they carried 130
// bits, began alike: "ob_", the first 48 bits of a SHA-256 of the id, "_". Until then,
// deprovisioning one deleted the logins of the other it found by that prefix.
var collidingIDs = [2]string{"collide-002b96cc5111", "collide-40a6fdeaf239"}

// oldUserPrefix is how the logins of an instance's bindings began before they carried 130 bits.
func oldUserPrefix(id string) string {
	sum := sha256.Sum256([]byte(id + "\x00"))
	return "ob_" + hex.EncodeToString(sum[:])[:12] + "_"
}

var _ = Describe("Tenant walls", func() {
	It("keeps a PostgreSQL binding out of the broker's state database and out of another instance's database", func() {
		cf := shared.client()
		id, other := newID(), newID()
		for _, i := range []string{id, other} {
			cf.provisionReady(i, quickPlan, nil)
			DeferCleanup(cf.deprovisionGone, i, quickPlan)
		}
		bindingID := newID()
		creds := cf.bindReady(id, bindingID, quickPlan, newID())
		DeferCleanup(cf.unbindGone, id, bindingID, quickPlan)
		Expect(mustConnect(creds.str("uri")).Ping()).To(Succeed())

		for _, db := range []string{shared.state.name, backendDatabase(other)} {
			u := parseURLWithSecret(creds.str("uri"), "the uri")
			u.Path = "/" + db
			_, err := connect(u.String())
			Expect(err).To(HaveOccurred(), "the binding connects to database %s", db)
			Expect(err.Error()).To(ContainSubstring("permission denied for database"))
		}
		log := string(shared.session.Out.Contents())
		Expect(log).To(ContainSubstring(`.state-database-closed-to-public"`))
		Expect(log).To(ContainSubstring(`.databases-open-to-public"`), "the node check names the databases PUBLIC may connect to")
	})

	DescribeTable("deprovisioning one of two instances whose ids gave their logins the same old prefix leaves the other's logins working",
		func(ctx SpecContext, p plan, logIn func(context.Context, credentials) error) {
			Expect(oldUserPrefix(collidingIDs[0])).To(Equal(oldUserPrefix(collidingIDs[1])))
			// The ids are fixed: specs elsewhere using them (another process, another checkout)
			// wait, and this one has a broker of its own, as the other backends' entries do.
			testkit.Exclusive(GinkgoT(), "colliding-ids "+p.serviceID+" "+collidingIDs[0])
			cf := startBroker(newStateDB(), nil).client()
			var creds [2][]credentials
			for i, id := range collidingIDs {
				cf.provisionReady(id, p, nil)
				DeferCleanup(cf.deprovisionGone, id, p)
				for range 2 {
					c := cf.bindReady(id, newID(), p, newID())
					Expect(c.str("username")).To(MatchRegexp(loginPattern))
					Expect(logIn(ctx, c)).To(Succeed())
					creds[i] = append(creds[i], c)
				}
			}

			cf.deprovisionGone(collidingIDs[0], p)

			for _, c := range creds[0] {
				Expect(logIn(ctx, c)).NotTo(Succeed(), "a login of the deprovisioned instance")
			}
			for _, c := range creds[1] {
				Expect(logIn(ctx, c)).To(Succeed(), "a login of the other instance")
			}
		},
		Entry("mysql", mysqlPlan, func(ctx context.Context, c credentials) error {
			db, err := mysqlTryLogin(ctx, c.str("uri"))
			if err != nil {
				return err
			}
			return db.PingContext(ctx)
		}),
		Entry("redis", redisPlan, func(ctx context.Context, c credentials) error {
			app, err := redisTryLogin(ctx, c.str("uri"))
			if err != nil {
				return err
			}
			return app.Set(ctx, c.str("key_prefix")+"k", "v", 0).Err()
		}),
		Entry("rabbitmq", rabbitPlan, func(_ context.Context, c credentials) error {
			conn, err := rabbitDial(c.str("uri"))
			if err != nil {
				return err
			}
			return conn.Close()
		}),
	)
})
