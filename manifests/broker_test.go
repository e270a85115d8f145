package manifests_test

import (
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	_ "github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// stateServer is the PostgreSQL server on which each spec that starts the broker makes a state
// database of its own, as the broker's suites do.
func stateServer() string {
	if u := os.Getenv("OMNIBROKER_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// newStateDatabase creates an empty database on stateServer, dropped when the spec ends, and
// returns its name.
func newStateDatabase() string {
	GinkgoHelper()
	admin, err := sql.Open("postgres", stateServer())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(admin.Close)
	name := fmt.Sprintf("omnibroker_manifests_%d_%d", GinkgoParallelProcess(), time.Now().UnixNano())
	_, err = admin.Exec("CREATE DATABASE " + name)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		_, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		Expect(err).NotTo(HaveOccurred())
	})
	return name
}

// databaseURL is stateServer's URL with the database name in its path.
func databaseURL(name string) string {
	u := stateServer()
	i := strings.Index(u, "?")
	if i < 0 {
		i = len(u)
	}
	return u[:strings.LastIndex(u[:i], "/")+1] + name + u[i:]
}

// startBroker runs `omnibroker serve` with env alone (nothing of the test's environment) on a
// free port of 127.0.0.1 instead of the one OMNIBROKER_LISTEN names, and returns its base URL.
func startBroker(env map[string]string) (string, *gexec.Session) {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	cmd := exec.Command(binary, "serve")
	cmd.Env = []string{"OMNIBROKER_LISTEN=" + addr}
	for k, v := range env {
		if k != "OMNIBROKER_LISTEN" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { session.Terminate().Wait(30 * time.Second) })
	base := "http://" + addr
	Eventually(func() error {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}).WithTimeout(60*time.Second).Should(Succeed(), "the broker does not answer on %s", addr)
	return base, session
}

// status is what GET base+path answers, without credentials.
func status(base, path string) int {
	GinkgoHelper()
	resp, err := http.Get(base + path)
	Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	return resp.StatusCode
}
