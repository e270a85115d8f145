package store_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
	"github.com/omnibroker/omnibroker/store"
)

func TestStore(t *testing.T) { testkit.RunSuite(t, "Store Suite") }

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
	adminURL = testkit.State.URL()
	db := testkit.NewDatabase(GinkgoT(), adminURL, "omnibroker_store_test")
	databaseURL, databaseName = db.URL, db.Name

	currentKey = newKey()
	var err error
	keys, err = store.NewKeyring(currentKey)
	Expect(err).NotTo(HaveOccurred())
	st = openStore(GinkgoT(), databaseURL, keys)
}, NodeTimeout(time.Minute))

// openStore opens the store at url, sealing with keys, migrates it, and closes it at cleanup.
// The suite and the benchmarks (which run without ginkgo) both set up with it.
func openStore(t testkit.TB, url string, keys *store.Keyring) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, url, keys)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// createDatabase creates an empty database on the test server and returns its URL. A server
// that cannot be reached fails the run: these specs are about PostgreSQL, so skipping them
// would pass without testing anything.
func createDatabase(ctx context.Context, name string) string {
	GinkgoHelper()
	u, err := testkit.CreateDatabase(ctx, adminURL, name)
	Expect(err).NotTo(HaveOccurred(), "cannot create a test database; is PostgreSQL running at %s?", testkit.State.Env)
	return u
}

func dropDatabase(ctx context.Context, name string) {
	GinkgoHelper()
	Expect(testkit.DropDatabase(ctx, adminURL, name)).To(Succeed())
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
	_, err := st.DB().ExecContext(ctx, "TRUNCATE operation_attempts, operations, bindings, instances, repairs, node_drains")
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
	return store.NewOperation(kind, instanceID, bindingID, 3, []byte(`{}`), []byte(`{}`))
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
