package acceptance_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
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
	DescribeTable("deprovisioning one of two instances whose ids gave their logins the same old prefix leaves the other's logins working",
		func(ctx SpecContext, p plan, logIn func(context.Context, credentials) error) {
			Expect(oldUserPrefix(collidingIDs[0])).To(Equal(oldUserPrefix(collidingIDs[1])))
			// A broker of its own: the ids are fixed, and the other backends' entries use them too.
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
