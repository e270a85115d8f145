package broker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3/lagertest"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	goredis "github.com/redis/go-redis/v9"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/postgres"
	"github.com/omnibroker/omnibroker/backends/redis"
	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

func TestBroker(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Broker Suite")
}

const (
	serviceID = "b6a4f0c2-0000-4000-8000-000000000001"
	quickPlan = "b6a4f0c2-0000-4000-8000-000000000002"
	asyncPlan = "b6a4f0c2-0000-4000-8000-000000000003"
	downPlan  = "b6a4f0c2-0000-4000-8000-000000000004"

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
      - {id: ` + asyncPlan + `, name: async, description: d, backend: local, async_only: true}
      - {id: ` + downPlan + `, name: down, description: d, backend: down, wait_budget: 100ms}
  - id: ` + cacheServiceID + `
    name: cache
    description: test redis
    bindable: true
    bindings_retrievable: true
    plans:
      - {id: ` + cachePlan + `, name: shared, description: d, backend: cache, wait_budget: 10s}
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
	adminURL = os.Getenv("OMNIBROKER_TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	admin, err := sqlx.Open("postgres", adminURL)
	Expect(err).NotTo(HaveOccurred())
	defer admin.Close()
	stateDB = fmt.Sprintf("omnibroker_broker_test_%d_%d", GinkgoParallelProcess(), time.Now().UnixNano())
	_, err = admin.Exec("CREATE DATABASE " + stateDB)
	Expect(err).NotTo(HaveOccurred(), "PostgreSQL must run at %s", "127.0.0.1:5432")

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keys, err := store.NewKeyring(key)
	Expect(err).NotTo(HaveOccurred())
	u, _ := url.Parse(adminURL)
	u.Path = "/" + stateDB
	st, err = store.Open(context.Background(), u.String(), keys)
	Expect(err).NotTo(HaveOccurred())
	Expect(st.Migrate(context.Background())).To(Succeed())

	cat, err := catalog.Parse([]byte(testCatalog))
	Expect(err).NotTo(HaveOccurred())
	local, err := postgres.New([]backends.Server{{Name: "pg-local", AdminURL: adminURL}})
	Expect(err).NotTo(HaveOccurred())
	down, err := postgres.New([]backends.Server{{Name: "pg-down", AdminURL: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"}})
	Expect(err).NotTo(HaveOccurred())
	redisURL := os.Getenv("OMNIBROKER_TEST_REDIS_URL")
	if redisURL == "" {
		// The admin login scripts/services gives the local Redis.
		redisURL = "redis://omnibroker:omnibroker-dev@127.0.0.1:6379"
	}
	cache, err := redis.New([]backends.Server{{Name: "redis-local", AdminURL: redisURL}})
	Expect(err).NotTo(HaveOccurred())
	opts, err := goredis.ParseURL(redisURL)
	Expect(err).NotTo(HaveOccurred())
	redisAdmin = goredis.NewClient(opts)
	Expect(redisAdmin.Ping(context.Background()).Err()).To(Succeed(), "Redis must run at OMNIBROKER_TEST_REDIS_URL (or the local default)")

	logger = lagertest.NewTestLogger("broker-test")
	b := broker.New(broker.Config{
		Catalog: cat, Store: st, Logger: logger, MaxAttempts: 3, SyncBudget: 20 * time.Second,
		Backends: map[string]backends.Backend{"local": local, "down": down, "cache": cache},
	})
	pool := b.NewPool(broker.PoolConfig{
		Workers: 2, Lease: 3 * time.Second, PollInterval: 200 * time.Millisecond, RetryBase: 100 * time.Millisecond,
		RestoreInterval: 300 * time.Millisecond,
	})
	var ctx context.Context
	ctx, stopPool = context.WithCancel(context.Background())
	poolDone = make(chan struct{})
	go func() {
		defer close(poolDone)
		pool.Run(ctx, ctx)
	}()
	server = httptest.NewServer(broker.Handler(b, logger, "broker", "s3cret-broker-pw"))
})

var _ = AfterSuite(func() {
	if server != nil {
		server.Close()
	}
	if stopPool != nil {
		stopPool()
		Eventually(poolDone, 15*time.Second).Should(BeClosed())
	}
	if st != nil {
		_ = st.Close()
	}
	if redisAdmin != nil {
		_ = redisAdmin.Close()
	}
	if stateDB != "" {
		admin, err := sqlx.Open("postgres", adminURL)
		Expect(err).NotTo(HaveOccurred())
		defer admin.Close()
		_, err = admin.Exec("DROP DATABASE IF EXISTS " + stateDB + " WITH (FORCE)")
		Expect(err).NotTo(HaveOccurred())
	}
})

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
