package broker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3/lagertest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/postgres"
	"github.com/omnibroker/omnibroker/backends/redis"
	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/internal/testkit"
	"github.com/omnibroker/omnibroker/store"
)

func TestBroker(t *testing.T) { testkit.RunSuite(t, "Broker Suite") }

const (
	serviceID = "b6a4f0c2-0000-4000-8000-000000000001"
	quickPlan = "b6a4f0c2-0000-4000-8000-000000000002"
	asyncPlan = "b6a4f0c2-0000-4000-8000-000000000003"
	downPlan  = "b6a4f0c2-0000-4000-8000-000000000004"
	// asyncInstancesPlan is async_only without bindings_async_only: its binds still wait.
	asyncInstancesPlan = "b6a4f0c2-0000-4000-8000-000000000005"
	// expiringPlan gives its bindings a lifetime of expiringLifetime.
	expiringPlan = "b6a4f0c2-0000-4000-8000-000000000006"

	cacheServiceID = "b6a4f0c2-0000-4000-8000-000000000011"
	cachePlan      = "b6a4f0c2-0000-4000-8000-000000000012"
)

const testCatalog = `
services:
  - id: ` + serviceID + `
    name: pg
    description: test postgres
    bindable: true
    instances_retrievable: true
    bindings_retrievable: true
    plan_updateable: true
    plans:
      - {id: ` + quickPlan + `, name: quick, description: d, backend: local, wait_budget: 10s}
      - {id: ` + asyncPlan + `, name: async, description: d, backend: local, async_only: true, bindings_async_only: true}
      - {id: ` + asyncInstancesPlan + `, name: async-instances, description: d, backend: local, async_only: true}
      - {id: ` + expiringPlan + `, name: expiring, description: d, backend: local, wait_budget: 10s, binding_lifetime: 3s, binding_rotatable: true}
      - {id: ` + downPlan + `, name: down, description: d, backend: down, wait_budget: 100ms, plan_updateable: true, maximum_polling_duration: 600, binding_rotatable: true}
  - id: ` + cacheServiceID + `
    name: cache
    description: test redis
    bindable: true
    bindings_retrievable: true
    plans:
      - {id: ` + cachePlan + `, name: shared, description: d, backend: cache, wait_budget: 10s, maintenance_info: {version: 2.0.0}}
backends:
  - name: local
    kind: postgres
    nodes: [{name: pg-local, url_env: OMNIBROKER_TEST_POSTGRES_URL, default_url: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"}]
  - name: down
    kind: postgres
    nodes: [{name: pg-down, url_env: OMNIBROKER_TEST_UNUSED_URL, default_url: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"}]
  - name: cache
    kind: redis
    nodes: [{name: redis-local, url_env: OMNIBROKER_TEST_REDIS_URL}]
`

var (
	adminURL string
	stateDB  string
	st       *store.Store
	server   *httptest.Server
	logger   *lagertest.TestLogger
	stopPool context.CancelFunc
	poolDone chan struct{}
)

// redisAdmin reaches the cache backend's node as its admin, to do behind the broker's back
// what a restart of Redis without an aclfile does.
var redisAdmin *goredis.Client

var _ = BeforeSuite(func() {
	adminURL = testkit.State.URL()
	state := testkit.NewDatabase(GinkgoT(), adminURL, "omnibroker_broker_test")
	stateDB = state.Name
	st = openStore(GinkgoT(), state.URL)

	cat, err := catalog.Parse([]byte(testCatalog))
	Expect(err).NotTo(HaveOccurred())
	local, err := postgres.New([]backends.Server{{Name: "pg-local", AdminURL: adminURL}})
	Expect(err).NotTo(HaveOccurred())
	down, err := postgres.New([]backends.Server{{Name: "pg-down", AdminURL: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"}})
	Expect(err).NotTo(HaveOccurred())
	redisAdmin = testkit.RedisAdmin(GinkgoT(), testkit.Redis)
	cache, err := redis.New([]backends.Server{{Name: "redis-local", AdminURL: testkit.Redis.URL()}})
	Expect(err).NotTo(HaveOccurred())

	logger = lagertest.NewTestLogger("broker-test")
	b := broker.New(broker.Config{
		Catalog: cat, Store: st, Logger: logger, MaxAttempts: 3, SyncBudget: 20 * time.Second,
		// Wrapped as cmd wraps them, so that restore is shown to work behind the wrappers.
		Backends: map[string]backends.Backend{
			"local": backends.Wrap(local, backends.Logging("postgres")),
			"down":  backends.Wrap(down, backends.Logging("postgres")),
			"cache": backends.Wrap(cache, backends.Logging("redis")),
		},
	})
	pool := b.NewPool(broker.PoolConfig{
		Workers: 2, Lease: 3 * time.Second, PollInterval: 200 * time.Millisecond, RetryBase: 100 * time.Millisecond,
		RestoreInterval: 300 * time.Millisecond, ExpiryInterval: 200 * time.Millisecond,
	})
	var ctx context.Context
	ctx, stopPool = context.WithCancel(context.Background())
	poolDone = make(chan struct{})
	go func() {
		defer close(poolDone)
		pool.Run(ctx, ctx)
	}()
	server = httptest.NewServer(broker.Handler(b, logger, broker.Credential{Username: "broker", Password: "s3cret-broker-pw"}))
	// Cleanups run last-registered first: the server, then the workers, then the store and
	// the state database.
	DeferCleanup(func() {
		stopPool()
		Eventually(poolDone, 15*time.Second).Should(BeClosed())
	})
	DeferCleanup(server.Close)
})

// openStore opens a store on the state database at url with a fresh key, migrates it, and
// closes it at cleanup. The suite and the benchmarks (which run without ginkgo) both set up
// with it.
func openStore(t testkit.TB, url string) *store.Store {
	t.Helper()
	key := make([]byte, store.KeySize)
	_, _ = rand.Read(key)
	keys, err := store.NewKeyring(key)
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, url, keys)
	if err != nil {
		t.Fatalf("open the state database: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate the state database: %v", err)
	}
	return s
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func call(method, path string, body any, mutate ...func(*http.Request)) response {
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		Expect(err).NotTo(HaveOccurred())
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, server.URL+path, reader)
	Expect(err).NotTo(HaveOccurred())
	req.SetBasicAuth("broker", "s3cret-broker-pw")
	req.Header.Set("X-Broker-API-Version", "2.17")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Broker-API-Originating-Identity", "cloudfoundry "+base64.StdEncoding.EncodeToString([]byte(`{"user_id":"u-1"}`)))
	for _, m := range mutate {
		m(req)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	out := response{status: resp.StatusCode, header: resp.Header}
	if len(data) > 0 {
		Expect(json.Unmarshal(data, &out.body)).To(Succeed(), "body %s", data)
	}
	return out
}

func provisionBody(plan string) map[string]any {
	return map[string]any{"service_id": serviceID, "plan_id": plan, "organization_guid": "org", "space_guid": "space"}
}
