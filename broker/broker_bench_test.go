package broker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/postgres"
	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

const (
	benchServiceID = "5e1d7c0a-0000-4000-8000-00000000b001"
	benchPlanID    = "5e1d7c0a-0000-4000-8000-00000000b002"
)

// benchCatalog's plan leaves wait_budget out, so a request waits the default short budget
// (catalog.DefaultWaitBudget) that Cloud Foundry's always-async requests get.
const benchCatalog = `
services:
  - id: ` + benchServiceID + `
    name: pg-bench
    description: benchmark postgres
    bindable: true
    instances_retrievable: true
    bindings_retrievable: true
    plans:
      - {id: ` + benchPlanID + `, name: small, description: d, backend: local}
backends:
  - name: local
    kind: postgres
    nodes: [{name: pg-local, url_env: OMNIBROKER_TEST_POSTGRES_URL, default_url: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"}]
`

// benchBroker is an in-process broker with its workers, on a state database of its own, in
// front of the real postgres backend.
type benchBroker struct {
	url    string
	client *http.Client
	st     *store.Store
}

func benchEnv(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// newBenchBroker starts a broker for one benchmark and stops it when the benchmark ends,
// dropping its state database and whatever it left on the backend. The suite's BeforeSuite
// does not run under `go test -run '^$' -bench`, so benchmarks set up without it.
func newBenchBroker(b *testing.B) *benchBroker {
	b.Helper()
	const localDefault = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	serverURL := benchEnv("OMNIBROKER_TEST_DATABASE_URL", localDefault)
	nodeURL := benchEnv("OMNIBROKER_TEST_POSTGRES_URL", localDefault)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	admin, err := sqlx.Open("postgres", serverURL)
	if err != nil {
		b.Fatalf("open admin connection: %v", err)
	}
	b.Cleanup(func() { _ = admin.Close() })
	name := "omnibroker_broker_bench_" + uuid.NewString()[:8]
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		b.Fatalf("create state database; is PostgreSQL running at OMNIBROKER_TEST_DATABASE_URL (default %s)? %v", localDefault, err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			b.Errorf("drop state database %s: %v", name, err)
		}
	})

	u, err := url.Parse(serverURL)
	if err != nil {
		b.Fatalf("parse OMNIBROKER_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	key := make([]byte, store.KeySize)
	_, _ = rand.Read(key)
	keys, err := store.NewKeyring(key)
	if err != nil {
		b.Fatalf("keyring: %v", err)
	}
	st, err := store.Open(ctx, u.String(), keys)
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		b.Fatalf("migrate: %v", err)
	}

	cat, err := catalog.Parse([]byte(benchCatalog))
	if err != nil {
		b.Fatalf("catalog: %v", err)
	}
	local, err := postgres.New([]postgres.Node{{Name: "pg-local", AdminURL: nodeURL}})
	if err != nil {
		b.Fatalf("postgres backend: %v", err)
	}
	b.Cleanup(func() { _ = local.Close() })
	// Runs after the workers have stopped (cleanups run last-registered first): whatever a
	// failed iteration left placed on the node is removed, so no ob_* object outlives the run.
	b.Cleanup(func() { benchSweep(b, st, local) })

	// A logger without sinks: the benchmark measures the broker, not a growing log buffer.
	logger := lager.NewLogger("broker-bench")
	brk := broker.New(broker.Config{
		Catalog: cat, Store: st, Logger: logger, MaxAttempts: 3, SyncBudget: 20 * time.Second,
		Backends: map[string]backends.Backend{"local": local},
	})
	pool := brk.NewPool(broker.PoolConfig{Workers: 2, PollInterval: time.Second, RetryBase: 100 * time.Millisecond})
	poolCtx, stopPool := context.WithCancel(context.Background())
	poolDone := make(chan struct{})
	go func() {
		defer close(poolDone)
		pool.Run(poolCtx, poolCtx)
	}()
	b.Cleanup(func() {
		stopPool()
		select {
		case <-poolDone:
		case <-time.After(30 * time.Second):
			b.Error("workers did not stop within 30s")
		}
	})

	srv := httptest.NewServer(broker.Handler(brk, logger, "broker", "bench-broker-pw"))
	b.Cleanup(srv.Close)
	return &benchBroker{url: srv.URL, client: srv.Client(), st: st}
}

// benchSweep deprovisions, straight on the backend, every instance still placed in the
// state database.
func benchSweep(b *testing.B, st *store.Store, backend backends.Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var left []struct {
		ID   string `db:"id"`
		Node string `db:"node"`
	}
	if err := st.DB().SelectContext(ctx, &left, `SELECT id, node FROM instances WHERE node IS NOT NULL`); err != nil {
		b.Errorf("list instances left behind: %v", err)
		return
	}
	for _, inst := range left {
		if err := backend.Deprovision(ctx, backends.Instance{ID: inst.ID, Node: inst.Node}); err != nil {
			b.Errorf("deprovision instance %s left behind: %v", inst.ID, err)
		}
	}
}

// do sends one OSB request as Cloud Foundry would and returns the status and body.
func (bb *benchBroker) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, bb.url+path, reader)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth("broker", "bench-broker-pw")
	req.Header.Set("X-Broker-API-Version", "2.15")
	req.Header.Set("Content-Type", "application/json")
	resp, err := bb.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// expect sends a request and fails the benchmark unless the broker answers want.
func (bb *benchBroker) expect(b *testing.B, want int, method, path string, body any) []byte {
	b.Helper()
	status, data, err := bb.do(b.Context(), method, path, body)
	if err != nil {
		b.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		b.Fatalf("%s %s answered %d, want %d: %s", method, path, status, want, data)
	}
	return data
}

func benchProvisionBody() map[string]any {
	return map[string]any{
		"service_id": benchServiceID, "plan_id": benchPlanID,
		"organization_guid": "org-bench", "space_guid": "space-bench",
	}
}

func benchInstancePath(id string) string { return "/v2/service_instances/" + id }

func benchDeprovisionPath(id string) string {
	return benchInstancePath(id) + "?accepts_incomplete=true&service_id=" + benchServiceID + "&plan_id=" + benchPlanID
}

// BenchmarkProvisionInBudget is what a platform waits for a real database: PUT with
// accepts_incomplete=true goes through the queue to a worker that creates the database and
// its owner role, and is answered 201 inside the plan's short budget; DELETE drops them and
// is answered 200. provision-ms and deprovision-ms split ns/op between the two.
func BenchmarkProvisionInBudget(b *testing.B) {
	bb := newBenchBroker(b)
	var provision, deprovision time.Duration
	n := 0
	for b.Loop() {
		id := uuid.NewString()
		start := time.Now()
		bb.expect(b, http.StatusCreated, "PUT", benchInstancePath(id)+"?accepts_incomplete=true", benchProvisionBody())
		provisioned := time.Now()
		bb.expect(b, http.StatusOK, "DELETE", benchDeprovisionPath(id), nil)
		provision += provisioned.Sub(start)
		deprovision += time.Since(provisioned)
		n++
	}
	b.ReportMetric(provision.Seconds()*1000/float64(n), "provision-ms")
	b.ReportMetric(deprovision.Seconds()*1000/float64(n), "deprovision-ms")
}

// BenchmarkCatalog is GET /v2/catalog through auth, the version check and JSON encoding.
func BenchmarkCatalog(b *testing.B) {
	bb := newBenchBroker(b)
	for b.Loop() {
		bb.expect(b, http.StatusOK, "GET", "/v2/catalog", nil)
	}
}

// BenchmarkLastOperation polls the finished provision of a live instance by its operation
// id, as a platform does after a 202.
func BenchmarkLastOperation(b *testing.B) {
	bb := newBenchBroker(b)
	id := uuid.NewString()
	bb.expect(b, http.StatusCreated, "PUT", benchInstancePath(id)+"?accepts_incomplete=true", benchProvisionBody())
	op, err := bb.st.LatestOperation(b.Context(), id, "")
	if err != nil {
		b.Fatal(err)
	}
	path := benchInstancePath(id) + "/last_operation?operation=" + op.ID
	want := []byte(`"state":"succeeded"`)
	for b.Loop() {
		data := bb.expect(b, http.StatusOK, "GET", path, nil)
		if !bytes.Contains(data, want) {
			b.Fatalf("last_operation answered %s, want state succeeded", data)
		}
	}
	bb.expect(b, http.StatusOK, "DELETE", benchDeprovisionPath(id), nil)
}
