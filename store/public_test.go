package store_test

import (
	"context"
	"fmt"
	"net/url"

	"github.com/google/uuid"
	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

var _ = Describe("ClosePublicConnect", func() {
	var name, dbURL string

	BeforeEach(func(ctx SpecContext) {
		name = fmt.Sprintf("omnibroker_store_public_%d_%s", GinkgoParallelProcess(), uuid.NewString()[:8])
		dbURL = createDatabase(ctx, name)
		DeferCleanup(func(ctx SpecContext) { dropDatabase(ctx, name) })
	})

	// role creates a LOGIN role for the spec (the test server trusts local logins) and returns
	// the URL of the spec's database as that role.
	role := func(ctx context.Context) (string, string) {
		r := "ob_store_test_" + uuid.NewString()[:8]
		adminExec(ctx, `CREATE ROLE `+pq.QuoteIdentifier(r)+` LOGIN`)
		DeferCleanup(func(ctx SpecContext) {
			// The spec's database may be the role's: it goes back to the admin, to be dropped.
			adminExec(ctx, `REASSIGN OWNED BY `+pq.QuoteIdentifier(r)+` TO CURRENT_USER`)
			adminExec(ctx, `DROP OWNED BY `+pq.QuoteIdentifier(r))
			adminExec(ctx, `DROP ROLE `+pq.QuoteIdentifier(r))
		})
		u, err := url.Parse(dbURL)
		Expect(err).NotTo(HaveOccurred())
		u.User = url.User(r)
		return r, u.String()
	}
	// connects reports whether a store opens on u.
	connects := func(ctx context.Context, u string) bool {
		s, err := store.Open(ctx, u, nil)
		if err == nil {
			_ = s.Close()
		}
		return err == nil
	}
	publicConnects := func(ctx context.Context) bool {
		var ok bool
		Expect(st.DB().QueryRowContext(ctx, `SELECT has_database_privilege('public', $1, 'CONNECT')`, name).Scan(&ok)).To(Succeed())
		return ok
	}

	It("takes CONNECT away from PUBLIC for a broker that owns the database, which still connects, and changes nothing the second time", func(ctx SpecContext) {
		owner, ownerURL := role(ctx)
		adminExec(ctx, `ALTER DATABASE `+pq.QuoteIdentifier(name)+` OWNER TO `+pq.QuoteIdentifier(owner))
		_, strangerURL := role(ctx)
		Expect(connects(ctx, strangerURL)).To(BeTrue(), "PUBLIC may connect to a new database")

		s, err := store.Open(ctx, ownerURL, nil)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		Expect(s.ClosePublicConnect(ctx)).To(Equal(store.PublicConnect{Database: name, Revoked: true}))

		Expect(publicConnects(ctx)).To(BeFalse())
		Expect(connects(ctx, ownerURL)).To(BeTrue(), "the broker's role connects as the owner")
		Expect(connects(ctx, strangerURL)).To(BeFalse(), "another role may no longer connect")
		Expect(s.ClosePublicConnect(ctx)).To(Equal(store.PublicConnect{Database: name}))
	})

	It("revokes it as a superuser that does not own the database", func(ctx SpecContext) {
		owner, _ := role(ctx)
		adminExec(ctx, `ALTER DATABASE `+pq.QuoteIdentifier(name)+` OWNER TO `+pq.QuoteIdentifier(owner))
		s, err := store.Open(ctx, dbURL, nil)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		Expect(s.ClosePublicConnect(ctx)).To(Equal(store.PublicConnect{Database: name, Revoked: true}))
		Expect(publicConnects(ctx)).To(BeFalse())
	})

	It("leaves PUBLIC's CONNECT for a role that may not revoke it, and says it is still open", func(ctx SpecContext) {
		_, guestURL := role(ctx)
		s, err := store.Open(ctx, guestURL, nil)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		Expect(s.ClosePublicConnect(ctx)).To(Equal(store.PublicConnect{Database: name, Open: true}))
		Expect(publicConnects(ctx)).To(BeTrue())
		Expect(connects(ctx, guestURL)).To(BeTrue())
	})
})

// adminExec runs stmt on the test server's maintenance database.
func adminExec(ctx context.Context, stmt string) {
	GinkgoHelper()
	db, err := store.Open(ctx, adminURL, nil)
	Expect(err).NotTo(HaveOccurred())
	defer db.Close()
	_, err = db.DB().ExecContext(ctx, stmt)
	Expect(err).NotTo(HaveOccurred(), stmt)
}
