package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/postgres"
	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/internal/testkit"
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
    nodes: [{name: ` + benchNode + `, url_env: OMNIBROKER_TEST_POSTGRES_URL, default_url: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"}]
`

// benchBroker is an in-process broker with its workers, on a state database of its own, in
// front of the real postgres backend.
type benchBroker struct {
	url    string
	client *http.Client
	st     *store.Store
	// ids are the instances the benchmark asked for, swept from the node at the end.
	ids []string
}

// benchNode is the one node of benchCatalog's backend.
const benchNode = "pg-local"

// newBenchBroker starts a broker for one benchmark and stops it when the benchmark ends,
// dropping its state database and whatever it left on the backend. The suite's BeforeSuite
// does not run under `go test -run '^$' -bench`, so benchmarks set up without it.
func newBenchBroker(b *testing.B) *benchBroker {
	b.Helper()
	nodeURL := testkit.Postgres.URL()
	local, err := postgres.New([]backends.Server{{Name: benchNode, AdminURL: nodeURL}})
	if err != nil {
		b.Fatalf("postgres backend: %v", err)
	}
	b.Cleanup(func() { _ = local.Close() })
	bb := &benchBroker{}
	// Runs after the workers have stopped (cleanups run last-registered first): whatever a
	// failed iteration left on the node is removed, so no ob_* object outlives the run.
	b.Cleanup(func() { benchSweep(b, local, nodeURL, bb.ids) })
	bb.start(b, benchCatalog, map[string]backends.Backend{"local": local})
	return bb
}

// start runs bb's broker on a state database of its own, serving catalogYAML from adapters,
// with as many workers as a serving process runs by default, until the benchmark ends.
func (bb *benchBroker) start(b *testing.B, catalogYAML string, adapters map[string]backends.Backend) {
	b.Helper()
	bb.startOn(b, testkit.NewDatabase(b, testkit.State.URL(), "omnibroker_broker_bench").URL, broker.DefaultWorkers, catalogYAML, adapters)
}

// startOn is start on the state database at stateURL, with workers workers: a replica when
// another broker of the benchmark shares that database.
func (bb *benchBroker) startOn(b *testing.B, stateURL string, workers int, catalogYAML string, adapters map[string]backends.Backend) {
	b.Helper()
	bb.st = openStore(b, stateURL)
	cat, err := catalog.Parse([]byte(catalogYAML))
	if err != nil {
		b.Fatalf("catalog: %v", err)
	}
	// A logger without sinks: the benchmark measures the broker, not a growing log buffer.
	logger := lager.NewLogger("broker-bench")
	// Each adapter timed as cmd times it, so the table counts what the metrics cost.
	calls := backends.NewCallMetrics()
	timed := make(map[string]backends.Backend, len(adapters))
	for name, adapter := range adapters {
		timed[name] = backends.Wrap(adapter, calls.Middleware(name))
	}
	brk := broker.New(broker.Config{
		Catalog: cat, Store: bb.st, Logger: logger, MaxAttempts: 3, SyncBudget: 20 * time.Second,
		Backends: timed, Collectors: []prometheus.Collector{calls},
	})
	pool := brk.NewPool(broker.PoolConfig{Workers: workers, PollInterval: time.Second, RetryBase: 100 * time.Millisecond})
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

	srv := httptest.NewServer(broker.Handler(brk, logger, broker.Credential{Username: "broker", Password: "bench-broker-pw"}))
	b.Cleanup(srv.Close)
	bb.url, bb.client = srv.URL, srv.Client()
}

// benchSweep deprovisions, straight on the backend, every instance the benchmark asked for,
// whatever became of its request (Deprovision is idempotent), then fails the benchmark if a
// database or owner role of one of them is still on the node.
func benchSweep(b *testing.B, backend backends.Backend, nodeURL string, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	names := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		if err := backend.Deprovision(ctx, backends.DeprovisionRequest{Instance: backends.Instance{ID: id, Node: benchNode}}); err != nil {
			b.Errorf("deprovision instance %s: %v", id, err)
		}
		names = append(names, backends.Name("ob_", id), backends.Name("ob_o_", id))
	}
	node, err := sqlx.Open("postgres", nodeURL)
	if err != nil {
		b.Errorf("open node connection: %v", err)
		return
	}
	defer node.Close()
	var left []string
	err = node.SelectContext(ctx, &left, `
SELECT datname FROM pg_database WHERE datname = ANY($1)
UNION ALL
SELECT rolname FROM pg_roles WHERE rolname = ANY($1)`, pq.Array(names))
	if err != nil {
		b.Errorf("look for objects left on the node: %v", err)
	}
	if len(left) > 0 {
		b.Errorf("left on the node: %v", left)
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

func benchInstancePath(id string) string { return "/v2/service_instances/" + id }

// provision PUTs a new instance as Cloud Foundry does, with accepts_incomplete=true, and
// expects it created within the plan's budget. It returns the instance id.
func (bb *benchBroker) provision(b *testing.B) string {
	b.Helper()
	id := uuid.NewString()
	bb.ids = append(bb.ids, id)
	bb.expect(b, http.StatusCreated, "PUT", benchInstancePath(id)+"?accepts_incomplete=true", map[string]any{
		"service_id": benchServiceID, "plan_id": benchPlanID,
		"organization_guid": "org-bench", "space_guid": "space-bench",
	})
	return id
}

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
		start := time.Now()
		id := bb.provision(b)
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
	id := bb.provision(b)
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
