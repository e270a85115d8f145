// Package testkit is what the test suites share: the local servers' URLs (overridable from the
// environment), a fresh PostgreSQL database per suite process, admin logins to the four kinds of
// server, the placement-lock hook, and private PostgreSQL clusters and redis-servers for fault
// tests. It imports nothing of ours.
//
// Every function that sets something up takes a TB, which both *testing.B (benchmarks, which
// run without ginkgo) and ginkgo's GinkgoT() satisfy, and registers its teardown with
// TB.Cleanup. A server that does not answer fails the run through TB.Fatalf; nothing skips.
// No failure message shows a URL, since URLs carry passwords.
package testkit

import (
	"net"
	"net/url"
	"os"
)

// TB is the part of testing.TB the kit uses; GinkgoT() has it too, and its Cleanup is
// ginkgo's DeferCleanup.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Server is one of the servers the suites run against: the environment variable that names its
// admin URL, and the URL of the local server that scripts/services sets up.
type Server struct {
	// What names the server in failure messages.
	What string
	// Env is the variable that overrides Default; "" for a server of the suite's own.
	Env string
	// Default is the admin URL of the local server.
	Default string
}

// The servers of the suites. State is where state databases are created; Postgres is the
// postgres backend's node, by default the same local server.
var (
	State    = Server{"PostgreSQL", "OMNIBROKER_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"}
	Postgres = Server{"PostgreSQL", "OMNIBROKER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"}
	MySQL    = Server{"MariaDB", "OMNIBROKER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/"}
	Redis    = Server{"Redis", "OMNIBROKER_TEST_REDIS_URL", "redis://" + RedisAdminUser + ":" + RedisAdminPassword + "@127.0.0.1:6379"}
	RabbitMQ = Server{"RabbitMQ's management API", "OMNIBROKER_TEST_RABBITMQ_URL", "http://guest:guest@127.0.0.1:15672"}
)

// The admin login that scripts/services gives the local Redis, and StartRedis with
// SecuredRedisArgs gives a private one.
const (
	RedisAdminUser     = "omnibroker"
	RedisAdminPassword = "omnibroker-dev"
)

// URL is the server's admin URL: the environment's, else the local default.
func (s Server) URL() string {
	if v := os.Getenv(s.Env); v != "" {
		return v
	}
	return s.Default
}

// missing is the failure message of a server that does not answer; it names the variable,
// never the URL.
func (s Server) missing() string {
	if s.Env == "" {
		return s.What + " does not answer"
	}
	return s.What + " must answer at " + s.Env + " (or the local default; scripts/services starts it)"
}

// WithPath returns rawURL with its path replaced by "/" + path. The error never quotes the URL.
func WithPath(rawURL, path string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errNotURL
	}
	u.Path, u.RawPath = "/"+path, ""
	return u.String(), nil
}

// FreePort returns a TCP port of 127.0.0.1 that nothing listened on a moment ago.
func FreePort(t TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// SilentListener accepts connections on a free port of 127.0.0.1 and never answers them, as a
// hung server would, until cleanup. It returns the address.
func SilentListener(t TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}
