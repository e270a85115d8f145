package acceptance_test

// Process control: the suite's settings, a state database per broker, and building,
// starting, stopping and killing `omnibroker serve`.

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// The admin URLs of the other local servers, overridable like OMNIBROKER_TEST_DATABASE_URL.
var (
	mysqlAdminURL  = testkit.MySQL.URL()
	redisAdminURL  = testkit.Redis.URL()
	rabbitAdminURL = testkit.RabbitMQ.URL()
)

// buildBroker builds the omnibroker binary and returns its path.
func buildBroker() string {
	GinkgoHelper()
	path, err := gexec.Build("github.com/omnibroker/omnibroker/cmd/omnibroker")
	Expect(err).NotTo(HaveOccurred())
	return path
}

// Per-process settings shared by every broker this process starts, so that a restarted
// broker can read what an earlier one sealed.
var (
	brokerUsername = "platform"
	brokerPassword string
	// adminUsername and adminPassword are the operator API's login (adminEnv).
	adminUsername = "operator"
	adminPassword string
	encryptionKey string
	catalogPath   string
)

func initSuiteSecrets() {
	brokerPassword = randomBase62(32)
	adminPassword = randomBase62(32)
	rememberSecret("the operator API's password", adminPassword)
	key := make([]byte, 32)
	_, err := rand.Read(key)
	Expect(err).NotTo(HaveOccurred())
	encryptionKey = base64.StdEncoding.EncodeToString(key)
	rememberSecret("the basic-auth password", brokerPassword)
	rememberSecret("the encryption key", encryptionKey)

	dir, err := os.MkdirTemp("", "omnibroker-acceptance")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	catalogPath = filepath.Join(dir, "catalog.yml")
	Expect(os.WriteFile(catalogPath, []byte(catalogYAML), 0o600)).To(Succeed())
}

func randomBase62(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		Expect(err).NotTo(HaveOccurred())
		out[i] = alphabet[k.Int64()]
	}
	return string(out)
}

// stateDB is a state database of its own for one broker (or one broker and its restarts).
type stateDB struct {
	name string
	url  string
}

// newStateDB creates a fresh state database and drops it when the current node ends.
func newStateDB() stateDB {
	GinkgoHelper()
	db := testkit.NewDatabase(GinkgoT(), adminURL, "omnibroker_acceptance")
	return stateDB{name: db.Name, url: db.URL}
}

// open connects to the state database to look at what the broker stored.
func (s stateDB) open() *sql.DB {
	GinkgoHelper()
	db, err := sql.Open("postgres", s.url)
	Expect(err).NotTo(HaveOccurred())
	db.SetMaxOpenConns(2)
	DeferCleanup(db.Close)
	return db
}

// broker is one running omnibroker process.
type broker struct {
	session *gexec.Session
	url     string
	state   stateDB
	// roots, when set, are the CAs its clients trust: it serves HTTPS.
	roots *x509.CertPool
}

// runBinary runs the omnibroker binary with args, in env alone (nil: this process's
// environment), and returns its session once it has exited (within 30 s).
func runBinary(env map[string]string, args ...string) *gexec.Session {
	GinkgoHelper()
	cmd := exec.Command(binaryPath, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(session, 30*time.Second).Should(gexec.Exit())
	return session
}

func freePort() int {
	GinkgoHelper()
	return testkit.FreePort(GinkgoT())
}

// brokerEnv is the environment of a broker of the suite serving the test catalog from state.
func brokerEnv(state stateDB, listen string) map[string]string {
	return map[string]string{
		"DATABASE_URL":              state.url,
		"OMNIBROKER_CONFIG":         catalogPath,
		"OMNIBROKER_LISTEN":         listen,
		"OMNIBROKER_USERNAME":       brokerUsername,
		"OMNIBROKER_PASSWORD":       brokerPassword,
		"OMNIBROKER_ENCRYPTION_KEY": encryptionKey,
		"OMNIBROKER_POSTGRES_URL":   adminURL,
		"OMNIBROKER_MYSQL_URL":      mysqlAdminURL,
		"OMNIBROKER_REDIS_URL":      redisAdminURL,
		"OMNIBROKER_RABBITMQ_URL":   rabbitAdminURL,
		// Every spec calls from 127.0.0.1, and many send wrong passwords on purpose; the spec
		// of the failed-login limit starts a broker with limits of its own.
		"OMNIBROKER_LOGIN_FAILURES": "1000000",
	}
}

// runOperator runs the operator command args (its words, then its own arguments) against state,
// with env on top of the suite's broker environment, and returns its session once it exited.
func runOperator(state stateDB, env map[string]string, args ...string) *gexec.Session {
	GinkgoHelper()
	all := brokerEnv(state, "127.0.0.1:0")
	for k, v := range env {
		all[k] = v
	}
	return runBinary(all, args...)
}

// startBroker runs `omnibroker serve` on a free port against state, with extra environment
// on top of the suite's, waits until it answers the catalog, and stops it when the current
// node ends (unless the spec stopped or killed it first).
func startBroker(state stateDB, extra map[string]string) *broker {
	GinkgoHelper()
	return startBinary(binaryPath, state, extra, nil)
}

// startBrokerTrusted is startBroker for a broker that serves HTTPS with a certificate that
// roots signed.
func startBrokerTrusted(state stateDB, extra map[string]string, roots *x509.CertPool) *broker {
	GinkgoHelper()
	return startBinary(binaryPath, state, extra, roots)
}

// startBinary is startBroker with another omnibroker binary, such as an older release's, and
// over HTTPS trusting roots when roots is not nil.
func startBinary(path string, state stateDB, extra map[string]string, roots *x509.CertPool) *broker {
	GinkgoHelper()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort())
	env := brokerEnv(state, listen)
	for k, v := range extra {
		env[k] = v
	}
	cmd := exec.Command(path, "serve")
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OMNIBROKER_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	sessions.Lock()
	sessions.all = append(sessions.all, session)
	sessions.Unlock()

	b := &broker{session: session, url: "http://" + listen, state: state, roots: roots}
	if roots != nil {
		b.url = "https://" + listen
	}
	DeferCleanup(b.stop)
	c := b.client()
	c.username, c.password = env["OMNIBROKER_USERNAME"], env["OMNIBROKER_PASSWORD"]
	Eventually(func(g Gomega) {
		if code := session.ExitCode(); code != -1 {
			StopTrying(fmt.Sprintf("omnibroker exited with code %d before it answered", code)).Now()
		}
		resp, err := c.try(http.MethodGet, "/v2/catalog", nil, nil)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resp.Status).To(Equal(http.StatusOK), resp.String())
	}).Should(Succeed(), "omnibroker answers GET /v2/catalog")
	return b
}

// stop sends SIGTERM and waits for the process to end; it is a no-op on an ended process.
func (b *broker) stop() {
	GinkgoHelper()
	if b.session.ExitCode() == -1 {
		b.session.Terminate()
		Eventually(b.session, 30*time.Second).Should(gexec.Exit(), "omnibroker stops on SIGTERM")
	}
	expectSessionHasNoSecrets(b.session)
}

// kill sends SIGKILL, as a crashed host would, and waits for the process to end.
func (b *broker) kill() {
	GinkgoHelper()
	b.session.Kill()
	Eventually(b.session, 10*time.Second).Should(gexec.Exit())
	expectSessionHasNoSecrets(b.session)
}

// client returns a client that speaks to b as Cloud Foundry does: OSB 2.15, basic auth, and
// an originating identity of its own user.
func (b *broker) client() *osbClient {
	return &osbClient{
		baseURL:  b.url,
		username: brokerUsername,
		password: brokerPassword,
		version:  "2.15",
		userID:   newID(),
		http:     &http.Client{Timeout: 90 * time.Second, Transport: b.transport()},
	}
}

// transport is how b's clients connect: Go's default, or over TLS trusting b.roots alone.
func (b *broker) transport() http.RoundTripper {
	if b.roots == nil {
		return http.DefaultTransport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: b.roots}
	return t
}
