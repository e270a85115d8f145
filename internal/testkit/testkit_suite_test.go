package testkit_test

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestTestkit(t *testing.T) { testkit.RunSuite(t, "Testkit Suite") }

var _ = Describe("A private PostgreSQL cluster", func() {
	It("starts on a port of its own, answers, takes a database, and stops", func(ctx SpecContext) {
		c := testkit.StartPostgres(GinkgoT())
		db := testkit.PostgresAdmin(GinkgoT(), c.Server)
		var port int
		Expect(db.QueryRowContext(ctx, `SELECT current_setting('port')::int`).Scan(&port)).To(Succeed())
		Expect(port).To(Equal(c.Port))
		Expect(c.Port).NotTo(Equal(5432), "the machine's shared server is not the cluster")

		By("creating and dropping a database on it")
		d := testkit.NewDatabase(GinkgoT(), c.Server.URL(), "testkit")
		Expect(testkit.DropDatabase(ctx, c.Server.URL(), d.Name)).To(Succeed())

		By("stopping it: nothing listens on its port")
		c.Stop(GinkgoT())
		Expect(listens(c.Port)).To(BeFalse())

		By("starting it again on the same port, after a crash too")
		c.Start(GinkgoT())
		// The pool's first try after a restart may be on a connection of the stopped server.
		Eventually(db.PingContext).WithContext(ctx).Should(Succeed())
		c.Kill(GinkgoT())
		Expect(listens(c.Port)).To(BeFalse())
		c.Start(GinkgoT())
		Eventually(db.PingContext).WithContext(ctx).Should(Succeed())
	}, NodeTimeout(3*time.Minute))
})

var _ = Describe("A private PostgreSQL cluster with TLS on", func() {
	It("takes TLS connections only, whose certificate its CA signed", func(ctx SpecContext) {
		ca := testkit.NewCA(GinkgoT())
		c := testkit.StartPostgresTLS(GinkgoT(), ca)
		db := testkit.PostgresAdmin(GinkgoT(), c.Server)
		var ssl bool
		Expect(db.QueryRowContext(ctx, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl)).To(Succeed())
		Expect(ssl).To(BeTrue())

		_, err := testkit.PostgresLogin(ctx, GinkgoT(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port))
		Expect(err).To(MatchError(ContainSubstring("no pg_hba.conf entry")), "a plain connection is refused")
		_, err = testkit.PostgresTLSLogin(ctx, GinkgoT(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=verify-full", c.Port), testkit.NewCA(GinkgoT()).PEM())
		Expect(err).To(MatchError(ContainSubstring("certificate signed by unknown authority")), "a client trusting another CA refuses it")
	}, NodeTimeout(3*time.Minute))
})

var _ = Describe("A private redis-server", func() {
	It("serves TLS only when started with it, whose certificate its CA signed", func(ctx SpecContext) {
		ca := testkit.NewCA(GinkgoT())
		r := testkit.StartRedisTLS(GinkgoT(), ca, testkit.SecuredRedisArgs()...)
		admin, err := testkit.RedisTLSLogin(ctx, GinkgoT(), r.Server().URL(), ca.PEM())
		Expect(err).NotTo(HaveOccurred())
		Expect(admin.ACLWhoAmI(ctx).Val()).To(Equal(testkit.RedisAdminUser))
		_, err = testkit.RedisTLSLogin(ctx, GinkgoT(), r.Server().URL(), testkit.NewCA(GinkgoT()).PEM())
		Expect(err).To(MatchError(ContainSubstring("certificate signed by unknown authority")))
	})

	It("starts secured like the local one, answers its admin only, and stops", func(ctx SpecContext) {
		r := testkit.StartRedis(GinkgoT(), 0, testkit.SecuredRedisArgs()...)
		admin := testkit.RedisAdmin(GinkgoT(), r.Server())
		Expect(admin.ACLWhoAmI(ctx).Val()).To(Equal(testkit.RedisAdminUser))
		Expect(listens(r.Port)).To(BeTrue())

		r.Stop()
		Expect(listens(r.Port)).To(BeFalse())
	})

	It("starts on the port it is given", func(ctx SpecContext) {
		port := testkit.FreePort(GinkgoT())
		r := testkit.StartRedis(GinkgoT(), port)
		Expect(r.Port).To(Equal(port))
		Expect(listens(port)).To(BeTrue())
	})
})

var _ = Describe("The shared servers", func() {
	It("answer their admins", func(ctx SpecContext) {
		Expect(testkit.PostgresAdmin(GinkgoT(), testkit.State).PingContext(ctx)).To(Succeed())
		Expect(testkit.MySQLAdmin(GinkgoT(), testkit.MySQL).PingContext(ctx)).To(Succeed())
		Expect(testkit.RedisAdmin(GinkgoT(), testkit.Redis).Ping(ctx).Err()).To(Succeed())
		_, err := testkit.RabbitMQAdmin(GinkgoT(), testkit.RabbitMQ).Whoami()
		Expect(err).NotTo(HaveOccurred())
	})
})

var _ = Describe("A placement lock", func() {
	It("holds the advisory lock a worker takes until it is released", func(ctx SpecContext) {
		d := testkit.NewDatabase(GinkgoT(), testkit.State.URL(), "testkit")
		state := testkit.PostgresAdmin(GinkgoT(), testkit.Server{What: "the state database", Default: d.URL})
		l := testkit.HoldPlacementLock(GinkgoT(), state, "postgres")
		// A worker's test of the lock, on a connection of its own, in a transaction it ends.
		taken := func() bool {
			tx, err := state.BeginTx(ctx, nil)
			Expect(err).NotTo(HaveOccurred())
			defer func() { _ = tx.Rollback() }()
			var ok bool
			Expect(tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended('omnibroker-placement:postgres', 0))`).Scan(&ok)).To(Succeed())
			return !ok
		}
		Expect(taken()).To(BeTrue())
		l.ReleaseAfter(100 * time.Millisecond)
		Eventually(taken).Should(BeFalse())
	})
})

// listens reports whether something accepts connections on port of 127.0.0.1.
func listens(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
