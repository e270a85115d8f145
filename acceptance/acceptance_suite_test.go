package acceptance_test

import (
	"database/sql"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

func TestAcceptance(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Acceptance Suite")
}

var (
	// binaryPath is the omnibroker binary, built once for all parallel processes.
	binaryPath string
	// adminURL reaches the local PostgreSQL server as a superuser: it creates the state
	// databases and is the admin URL of the broker's postgres node.
	adminURL string
	// adminDB is this process's connection to adminURL, used to check backend effects.
	adminDB *sql.DB
	// shared is this process's broker with the default worker settings; specs that need
	// another configuration start their own.
	shared *broker
	// sharedState is this process's connection to the shared broker's state database.
	sharedState *sql.DB
)

var _ = SynchronizedBeforeSuite(func() []byte {
	path, err := gexec.Build("github.com/omnibroker/omnibroker/cmd/omnibroker")
	Expect(err).NotTo(HaveOccurred())
	return []byte(path)
}, func(path []byte) {
	binaryPath = string(path)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	SetDefaultConsistentlyDuration(time.Second)

	adminURL = os.Getenv("OMNIBROKER_TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	// A missing server fails the run; it never skips it.
	var err error
	adminDB, err = sql.Open("postgres", adminURL)
	Expect(err).NotTo(HaveOccurred())
	adminDB.SetMaxOpenConns(4)
	Expect(adminDB.Ping()).To(Succeed(), "PostgreSQL must be reachable at OMNIBROKER_TEST_DATABASE_URL")
	DeferCleanup(adminDB.Close)

	initSuiteSecrets()
	shared = startBroker(newStateDB(), nil)
	sharedState = shared.state.open()
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
})

// Every spec ends by checking that no broker of this process has printed a secret so far.
var _ = AfterEach(func() {
	expectNoSecretsInOutput()
})
