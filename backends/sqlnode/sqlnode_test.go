package sqlnode_test

import (
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/backends/sqlnode"
)

// Open does not connect, so these specs hand it no connector.
var _ = Describe("Open", func() {
	cause := func(error) backends.Cause { return backends.LoginRejected }

	It("takes the node's public host and port over the admin URL's, and refuses a port out of range", func() {
		n, err := sqlnode.Open("kind", backends.Server{Name: "a", Host: "db.example.com"}, "10.0.0.1", 5432, backends.CA{}, nil, cause)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(n.DB.Close)
		Expect(n.HostPort()).To(Equal("db.example.com:5432"))
		Expect(n.Fail("create database x", errors.New("driver text"))).To(MatchError(ContainSubstring("node a rejected the broker's login")))

		_, err = sqlnode.Open("kind", backends.Server{Name: "a", Port: 70000}, "h", 5432, backends.CA{}, nil, cause)
		Expect(err).To(MatchError(`kind node "a": port 70000 is out of range`))
	})

	It("words the credentials of a database, escaping the login in the jdbcUrl", func() {
		n, err := sqlnode.Open("kind", backends.Server{Name: "a"}, "127.0.0.1", 3306, backends.CA{}, nil, cause)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(n.DB.Close)
		const password = "p&ss=w/rd"
		creds := n.Credentials(sqlnode.Dialect{Scheme: "mysql", Query: "reconnect=true", Subprotocol: "mysql"}, "ob_db", "ob_user", password)
		uri := backendtest.ExpectSQLCredentials(creds, backendtest.SQLCredentials{Type: "mysql",
			Host: "127.0.0.1", Port: 3306, Name: "ob_db", Username: "ob_user", Password: password,
			Scheme: "mysql", JDBC: "mysql",
		})
		Expect(uri.RawQuery).To(Equal("reconnect=true"))
	})
})
