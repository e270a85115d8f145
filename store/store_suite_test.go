package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

func TestStore(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Store Suite")
}

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	// adminURL reaches the server's maintenance database, where test databases are created.
	adminURL string
	// databaseURL is this process's own database, created and migrated for the suite.
	databaseURL  string
	databaseName string

	currentKey []byte
	keys       *store.Keyring
	st         *store.Store
)

var _ = BeforeSuite(func(ctx SpecContext) {
	adminURL = os.Getenv("OMNIBROKER_TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = defaultDatabaseURL
	}
	name := fmt.Sprintf("omnibroker_store_test_%d_%s", GinkgoParallelProcess(), uuid.NewString()[:8])
	databaseURL = createDatabase(ctx, name)
	databaseName = name

	currentKey = newKey()
	var err error
	keys, err = store.NewKeyring(currentKey)
	Expect(err).NotTo(HaveOccurred())
	st, err = store.Open(ctx, databaseURL, keys)
	Expect(err).NotTo(HaveOccurred())
	Expect(st.Migrate(ctx)).To(Succeed())
}, NodeTimeout(time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	if st != nil {
		Expect(st.Close()).To(Succeed())
	}
	if databaseName != "" {
		dropDatabase(ctx, databaseName)
	}
}, NodeTimeout(time.Minute))

// createDatabase creates an empty database on the test server and returns its URL. A server
// that cannot be reached fails the run: these specs are about PostgreSQL, so skipping them
// would pass without testing anything.
func createDatabase(ctx context.Context, name string) string {
	admin, err := sql.Open("postgres", adminURL)
	Expect(err).NotTo(HaveOccurred())
	defer admin.Close()
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name))
	Expect(err).NotTo(HaveOccurred(), "cannot create a test database; is PostgreSQL running at OMNIBROKER_TEST_DATABASE_URL (default %s)?", defaultDatabaseURL)

	u, err := url.Parse(adminURL)
	Expect(err).NotTo(HaveOccurred())
	u.Path = "/" + name
	return u.String()
}

func dropDatabase(ctx context.Context, name string) {
	admin, err := sql.Open("postgres", adminURL)
	Expect(err).NotTo(HaveOccurred())
	defer admin.Close()
	_, err = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
	Expect(err).NotTo(HaveOccurred())
}

func newKey() []byte {
	key := make([]byte, store.KeySize)
	_, err := rand.Read(key)
	Expect(err).NotTo(HaveOccurred())
	return key
}

// Every spec starts from empty tables: the queue is shared by every spec of this process's
// database, and a spec that claims would otherwise take an operation another spec left queued.
var _ = BeforeEach(func(ctx SpecContext) {
	_, err := st.DB().ExecContext(ctx, "TRUNCATE operations, bindings, instances")
	Expect(err).NotTo(HaveOccurred())
})

func newInstance() store.Instance {
	return store.Instance{
		ID:               uuid.NewString(),
		ServiceID:        "service-" + uuid.NewString(),
		PlanID:           "small",
		OrganizationGUID: uuid.NewString(),
		SpaceGUID:        uuid.NewString(),
		Parameters:       []byte(`{"size":1}`),
		Context:          []byte(`{"platform":"cloudfoundry"}`),
		Backend:          "postgresql",
		State:            store.InstanceProvisioning,
	}
}

func newOperation(kind store.OperationKind, instanceID, bindingID string) store.Operation {
	return store.Operation{
		ID:          uuid.NewString(),
		Kind:        kind,
		InstanceID:  instanceID,
		BindingID:   bindingID,
		State:       store.OpQueued,
		MaxAttempts: 3,
		Request:     []byte(`{}`),
		Context:     []byte(`{}`),
	}
}

func newBinding(instanceID string) store.Binding {
	return store.Binding{
		ID:           uuid.NewString(),
		InstanceID:   instanceID,
		ServiceID:    "service",
		PlanID:       "small",
		AppGUID:      uuid.NewString(),
		BindResource: []byte(`{}`),
		Parameters:   []byte(`{}`),
		Context:      []byte(`{}`),
		State:        store.BindingCreating,
		Password:     "pw-" + strings.ReplaceAll(uuid.NewString(), "-", ""),
	}
}

// createInstance writes an instance with its provision operation.
func createInstance(ctx context.Context) (store.Instance, store.Operation) {
	inst := newInstance()
	op := newOperation(store.OpProvision, inst.ID, "")
	Expect(st.CreateInstance(ctx, inst, op)).To(Succeed())
	return inst, op
}

// claim claims the next operation as owner, expecting it to be want.
func claim(ctx context.Context, owner, want string) store.Operation {
	op, err := st.Claim(ctx, owner, time.Minute)
	Expect(err).NotTo(HaveOccurred())
	Expect(op.ID).To(Equal(want))
	return op
}

// readyInstance creates an instance and runs its provision to success.
func readyInstance(ctx context.Context) store.Instance {
	inst, op := createInstance(ctx)
	Expect(st.Succeed(ctx, claim(ctx, "setup", op.ID), nil)).To(Succeed())
	inst, err := st.GetInstance(ctx, inst.ID)
	Expect(err).NotTo(HaveOccurred())
	Expect(inst.State).To(Equal(store.InstanceReady))
	return inst
}
