package acceptance_test

import (
	"database/sql"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestAcceptance(t *testing.T) { testkit.RunSuite(t, "Acceptance Suite") }

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
	return []byte(buildBroker())
}, func(path []byte) {
	binaryPath = string(path)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	SetDefaultConsistentlyDuration(time.Second)

	// A missing server fails the run; it never skips it.
	adminURL = testkit.State.URL()
	adminDB = testkit.PostgresAdmin(GinkgoT(), testkit.State)
	adminDB.SetMaxOpenConns(4)

	initSuiteSecrets()
	shared = startBroker(newStateDB(), withAdmin(nil))
	sharedState = shared.state.open()
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
})

// Every spec ends by checking that no broker of this process has printed a secret so far.
var _ = AfterEach(func() {
	expectNoSecretsInOutput()
})
