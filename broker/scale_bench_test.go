package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10"
	"github.com/pivotal-cf/brokerapi/v10/domain"
)

// catalogOnly is a bare brokerapi service broker that knows its catalog and nothing else:
// the other methods of domain.ServiceBroker are never called by GET /v2/catalog.
type catalogOnly struct {
	domain.ServiceBroker
	services []domain.Service
}

func (c catalogOnly) Services(context.Context) ([]domain.Service, error) { return c.services, nil }

// BenchmarkCatalogAgainstBrokerAPI serves the same catalog from omnibroker and from a bare
// brokerapi v10 server (the catalog omnibroker answers, decoded into brokerapi's types), and
// prints the requests per second each answers to 8 clients at once, the two measured in turns
// of half a second so that both see the same machine.
func BenchmarkCatalogAgainstBrokerAPI(b *testing.B) {
	bb := newBenchBroker(b)
	var services struct {
		Services []domain.Service `json:"services"`
	}
	if err := json.Unmarshal(bb.expect(b, http.StatusOK, "GET", "/v2/catalog", nil), &services); err != nil {
		b.Fatal(err)
	}
	bare := httptest.NewServer(brokerapi.New(catalogOnly{services: services.Services}, lager.NewLogger("bare-brokerapi"),
		brokerapi.BrokerCredentials{Username: "broker", Password: "bench-broker-pw"}))
	b.Cleanup(bare.Close)
	bareBroker := &benchBroker{url: bare.URL, client: bare.Client()}

	served := map[*benchBroker]int64{}
	spent := map[*benchBroker]time.Duration{}
	for b.Loop() {
		for _, target := range []*benchBroker{bb, bareBroker} {
			n, took := catalogLoad(b, target, 8, 500*time.Millisecond)
			served[target] += n
			spent[target] += took
		}
	}
	rps := func(t *benchBroker) float64 { return float64(served[t]) / spent[t].Seconds() }
	fmt.Fprintf(os.Stdout, "\nGET /v2/catalog, 8 clients: omnibroker %.0f requests/s, bare brokerapi v10 %.0f requests/s (%.2f×)\n",
		rps(bb), rps(bareBroker), rps(bb)/rps(bareBroker))
}

// catalogLoad sends GET /v2/catalog from clients goroutines for about d and returns how many
// were answered 200 and how long it took.
func catalogLoad(b *testing.B, target *benchBroker, clients int, d time.Duration) (int64, time.Duration) {
	var served atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Since(start) < d {
				status, _, err := target.do(b.Context(), "GET", "/v2/catalog", nil)
				if err != nil || status != http.StatusOK {
					b.Errorf("GET /v2/catalog answered %d (%v)", status, err)
					return
				}
				served.Add(1)
			}
		})
	}
	wg.Wait()
	return served.Load(), time.Since(start)
}

// BenchmarkStoreSize polls last_operation and GETs an instance, as platforms do, with 100 and
// then 100,000 instances in the store (each with its finished provision), and prints the p50
// and p99 of each at both sizes: neither may grow with the number of instances.
func BenchmarkStoreSize(b *testing.B) {
	bb := newBenchBroker(b)
	id := bb.provision(b)
	op, err := bb.st.LatestOperation(b.Context(), id, "")
	if err != nil {
		b.Fatal(err)
	}
	requests := []struct{ what, path string }{
		{"last_operation", benchInstancePath(id) + "/last_operation?operation=" + op.ID},
		{"GET instance", benchInstancePath(id)},
	}
	took := map[string][]time.Duration{}
	for _, size := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("instances=%d", size), func(b *testing.B) {
			seedInstances(b, bb, size)
			for b.Loop() {
				for _, r := range requests {
					start := time.Now()
					bb.expect(b, http.StatusOK, "GET", r.path, nil)
					key := fmt.Sprintf("%s|%d", r.what, size)
					took[key] = append(took[key], time.Since(start))
				}
			}
		})
	}
	fmt.Fprintln(os.Stdout)
	for _, r := range requests {
		s50, s99 := percentiles(took[r.what+"|100"])
		l50, l99 := percentiles(took[r.what+"|100000"])
		fmt.Fprintf(os.Stdout, "%s: 100 instances p50 %s, p99 %s; 100,000 instances p50 %s, p99 %s\n", r.what, ms(s50), ms(s99), ms(l50), ms(l99))
	}
	bb.expect(b, http.StatusOK, "DELETE", benchDeprovisionPath(id), nil)
}

// seedInstances fills the benchmark's state database with ready instances of its plan on
// another node (so that no sweep of the real node finds them), each with the provision that
// made it, until it holds total.
func seedInstances(b *testing.B, bb *benchBroker, total int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
	defer cancel()
	_, err := bb.st.DB().ExecContext(ctx, `
WITH made AS (
    INSERT INTO instances (id, service_id, plan_id, organization_guid, space_guid, backend, node, state)
    SELECT gen_random_uuid()::text, $1, $2, 'org-seed', 'space-seed', 'local', 'seeded-node', 'ready'
    FROM generate_series(1, $3 - (SELECT count(*) FROM instances))
    RETURNING id
)
INSERT INTO operations (id, kind, instance_id, state, max_attempts, finished_at)
SELECT gen_random_uuid()::text, 'provision', id, 'succeeded', 1, now() FROM made`, benchServiceID, benchPlanID, total)
	if err != nil {
		b.Fatalf("seed %d instances: %v", total, err)
	}
	if _, err := bb.st.DB().ExecContext(ctx, `ANALYZE instances; ANALYZE operations`); err != nil {
		b.Fatalf("analyze: %v", err)
	}
}
