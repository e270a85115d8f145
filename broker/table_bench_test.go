package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// tableSteps are the four requests of an instance's life, in the order each round sends them.
var tableSteps = []string{"provision", "bind", "unbind", "deprovision"}

// tablePlan is the service and plan ids of a kind's one plan in tableCatalog.
func tablePlan(i int) (serviceID, planID string) {
	return fmt.Sprintf("7ab1e000-0000-4000-8000-0000000%02d001", i), fmt.Sprintf("7ab1e000-0000-4000-8000-0000000%02d002", i)
}

// tableCatalog is a bindable plan on each kind, with the default short wait budget.
func tableCatalog() string {
	var services, nodes strings.Builder
	for i, k := range backendtest.Kinds {
		serviceID, planID := tablePlan(i)
		fmt.Fprintf(&services, "  - {id: %s, name: bench-%s, description: d, bindable: true, plans: [{id: %s, name: bench, description: d, backend: %s}]}\n",
			serviceID, k.Name, planID, k.Name)
		fmt.Fprintf(&nodes, "  - {name: %s, kind: %s, nodes: [{name: bench-%s, url_env: OMNIBROKER_BENCH_%s_URL}]}\n",
			k.Name, k.Name, k.Name, strings.ToUpper(k.Name))
	}
	return "services:\n" + services.String() + "backends:\n" + nodes.String()
}

// BenchmarkTable prints the table of issue 10: for each backend and each of provision, bind,
// unbind and deprovision, the p50 and p99 of the request over HTTP with
// accepts_incomplete=true until it is answered done, against the floor, the same adapter's
// own calls made directly on the same server, interleaved with the broker's requests in
// every round. Each iteration is one round over every kind; `make bench` runs 40.
func BenchmarkTable(b *testing.B) {
	adapters := map[string]backends.Backend{}
	for _, k := range backendtest.Kinds {
		a, err := k.Open([]backends.Server{{Name: "bench-" + k.Name, AdminURL: k.Server.URL()}})
		if err != nil {
			b.Fatalf("%s backend: %v", k.Name, err)
		}
		b.Cleanup(func() { _ = a.Close() })
		adapters[k.Name] = a
	}
	var created []backends.Instance
	// After the workers have stopped: whatever a failed round left on a node is removed.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, inst := range created {
			if err := adapters[inst.Plan].Deprovision(ctx, backends.DeprovisionRequest{Instance: inst}); err != nil {
				b.Errorf("deprovision instance %s: %v", inst.ID, err)
			}
		}
	})
	bb := &benchBroker{}
	bb.start(b, tableCatalog(), adapters)

	broker, floor := map[string][]time.Duration{}, map[string][]time.Duration{}
	for b.Loop() {
		for i, k := range backendtest.Kinds {
			inst := backends.Instance{ID: uuid.NewString(), Node: "bench-" + k.Name, Plan: k.Name, Parameters: map[string]any{}}
			created = append(created, inst)
			for step, took := range bb.life(b, i, inst.ID) {
				broker[k.Name+" "+step] = append(broker[k.Name+" "+step], took)
			}
			inst.ID = uuid.NewString()
			created = append(created, inst)
			for step, took := range floorLife(b, adapters[k.Name], inst) {
				floor[k.Name+" "+step] = append(floor[k.Name+" "+step], took)
			}
		}
	}

	fmt.Fprintf(os.Stdout, "\n%d rounds; %d requests answered 202 and polled until done\n| what | omnibroker p50 | p99 | floor p50 | p99 | ratio (p50) | target 1.2×floor+5ms |\n|---|---|---|---|---|---|---|\n", b.N, accepted)
	for _, k := range backendtest.Kinds {
		for _, step := range tableSteps {
			what := k.Name + " " + step
			o50, o99 := percentiles(broker[what])
			f50, f99 := percentiles(floor[what])
			target := time.Duration(1.2*float64(f50)) + 5*time.Millisecond
			verdict := "met"
			if o50 > target {
				verdict = "missed"
			}
			fmt.Fprintf(os.Stdout, "| %s | %s | %s | %s | %s | %.1f× | %s (%s) |\n", what, ms(o50), ms(o99), ms(f50), ms(f99),
				float64(o50)/float64(max(f50, time.Microsecond)), ms(target), verdict)
		}
	}
}

// accepted counts the requests of BenchmarkTable answered 202, whose time runs until their
// last_operation says succeeded.
var accepted int

// life sends the four requests of one instance of kind i's plan, each with
// accepts_incomplete=true, and returns how long each took until done: answered done, or
// answered 202 and then polled until last_operation says succeeded.
func (bb *benchBroker) life(b *testing.B, i int, id string) map[string]time.Duration {
	b.Helper()
	serviceID, planID := tablePlan(i)
	bindingID := uuid.NewString()
	ids := "?accepts_incomplete=true&service_id=" + serviceID + "&plan_id=" + planID
	took := map[string]time.Duration{}
	timed := func(step string, want int, method, path string, body any) {
		start := time.Now()
		status, data, err := bb.do(b.Context(), method, path, body)
		if err != nil || (status != want && status != http.StatusAccepted) {
			b.Fatalf("%s %s answered %d (%v), want %d: %s", method, path, status, err, want, data)
		}
		if status == http.StatusAccepted {
			accepted++
			var op struct{ Operation string }
			if err := json.Unmarshal(data, &op); err != nil {
				b.Fatal(err)
			}
			poll := strings.SplitN(path, "?", 2)[0] + "/last_operation" + ids + "&operation=" + op.Operation
			for { // a deleted instance or binding answers 410 once gone
				status, data, err := bb.do(b.Context(), "GET", poll, nil)
				if err != nil || (status != http.StatusOK && status != http.StatusGone) || bytes.Contains(data, []byte(`"state":"failed"`)) {
					b.Fatalf("GET %s answered %d (%v): %s", poll, status, err, data)
				}
				if status == http.StatusGone || bytes.Contains(data, []byte(`"state":"succeeded"`)) {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		took[step] = time.Since(start)
	}
	timed("provision", http.StatusCreated, "PUT", benchInstancePath(id)+"?accepts_incomplete=true", map[string]any{
		"service_id": serviceID, "plan_id": planID, "organization_guid": "org-bench", "space_guid": "space-bench",
	})
	binding := benchInstancePath(id) + "/service_bindings/" + bindingID
	timed("bind", http.StatusCreated, "PUT", binding+"?accepts_incomplete=true", map[string]any{
		"service_id": serviceID, "plan_id": planID, "bind_resource": map[string]any{"app_guid": "app-bench"},
	})
	timed("unbind", http.StatusOK, "DELETE", binding+ids, nil)
	timed("deprovision", http.StatusOK, "DELETE", benchInstancePath(id)+ids, nil)
	return took
}

// floorLife makes the same four calls on the adapter directly and returns how long each took.
func floorLife(b *testing.B, a backends.Backend, inst backends.Instance) map[string]time.Duration {
	b.Helper()
	ctx := b.Context()
	password, err := backends.NewPassword()
	if err != nil {
		b.Fatal(err)
	}
	binding := backends.Binding{ID: uuid.NewString(), Password: password}
	calls := []func() error{
		func() error { _, err := a.Provision(ctx, backends.ProvisionRequest{Instance: inst}); return err },
		func() error {
			_, err := a.Bind(ctx, backends.BindRequest{Instance: inst, Binding: binding})
			return err
		},
		func() error { return a.Unbind(ctx, backends.UnbindRequest{Instance: inst, Binding: binding}) },
		func() error { return a.Deprovision(ctx, backends.DeprovisionRequest{Instance: inst}) },
	}
	took := map[string]time.Duration{}
	for i, call := range calls {
		start := time.Now()
		if err := call(); err != nil {
			b.Fatalf("floor %s: %v", tableSteps[i], err)
		}
		took[tableSteps[i]] = time.Since(start)
	}
	return took
}

// percentiles returns the p50 and p99 of samples.
func percentiles(samples []time.Duration) (p50, p99 time.Duration) {
	if len(samples) == 0 {
		return 0, 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// BenchmarkConcurrentProvisions sends 200 redis provisions at once to a broker with the default
// number of workers, each with accepts_incomplete=true within the default short budget, and
// prints how many were answered 201 and 202, their p50 and p99, and the benchmark process's
// peak RSS (the broker runs in it, beside the test harness).
func BenchmarkConcurrentProvisions(b *testing.B) {
	const n = 200
	i, a, ids := openRedis(b)
	bb := &benchBroker{}
	bb.start(b, tableCatalog(), redisOnly(a))
	serviceID, planID := tablePlan(i)
	for b.Loop() {
		took := make([]time.Duration, n)
		statuses := make([]int, n)
		round := make([]string, n)
		var wg sync.WaitGroup
		for j := range n {
			round[j] = uuid.NewString()
			wg.Go(func() {
				start := time.Now()
				status, _, err := bb.do(b.Context(), "PUT", benchInstancePath(round[j])+"?accepts_incomplete=true", map[string]any{
					"service_id": serviceID, "plan_id": planID, "organization_guid": "org-bench", "space_guid": "space-bench",
				})
				if err != nil {
					b.Error(err)
				}
				took[j], statuses[j] = time.Since(start), status
			})
		}
		wg.Wait()
		*ids = append(*ids, round...)
		p50, p99 := percentiles(took)
		created := 0
		for _, s := range statuses {
			if s == http.StatusCreated {
				created++
			}
		}
		fmt.Fprintf(os.Stdout, "\n%d concurrent redis provisions: %d answered 201, %d other; p50 %s, p99 %s; peak RSS %s\n",
			n, created, n-created, ms(p50), ms(p99), peakRSS())
	}
}

// peakRSS is this process's VmHWM from /proc/self/status, or "unknown".
func peakRSS() string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// openRedis opens the redis adapter of the benchmarks and returns its index in
// backendtest.Kinds, the adapter, and the list of instance ids the benchmark appends to, which
// are deprovisioned on the node when it ends.
func openRedis(b *testing.B) (int, backends.Backend, *[]string) {
	b.Helper()
	i := slices.IndexFunc(backendtest.Kinds, func(k backendtest.Kind) bool { return k.Name == "redis" })
	k := backendtest.Kinds[i]
	a, err := k.Open([]backends.Server{{Name: "bench-redis", AdminURL: k.Server.URL()}})
	if err != nil {
		b.Fatalf("redis backend: %v", err)
	}
	b.Cleanup(func() { _ = a.Close() })
	ids := new([]string)
	b.Cleanup(func() {
		ctx := context.WithoutCancel(b.Context())
		for _, id := range *ids {
			inst := backends.Instance{ID: id, Node: "bench-redis"}
			if err := a.Deprovision(ctx, backends.DeprovisionRequest{Instance: inst}); err != nil {
				b.Errorf("deprovision instance %s: %v", id, err)
			}
		}
	})
	return i, a, ids
}

// redisOnly serves every backend of tableCatalog with a: only its redis plan is asked for.
func redisOnly(a backends.Backend) map[string]backends.Backend {
	adapters := map[string]backends.Backend{}
	for _, k := range backendtest.Kinds {
		adapters[k.Name] = a
	}
	return adapters
}

// BenchmarkAcrossReplicas provisions redis instances, one at a time, on a replica without
// workers whose operations a second replica on the same state database runs (the request is
// woken by NOTIFY), and, interleaved, on that second replica itself (woken in process); the
// difference of the p50s is what the NOTIFY adds.
func BenchmarkAcrossReplicas(b *testing.B) {
	i, a, ids := openRedis(b)
	serviceID, planID := tablePlan(i)
	state := testkit.NewDatabase(b, testkit.State.URL(), "omnibroker_broker_bench").URL
	front, worker := &benchBroker{}, &benchBroker{}
	worker.startOn(b, state, broker.DefaultWorkers, tableCatalog(), redisOnly(a))
	front.startOn(b, state, 0, tableCatalog(), redisOnly(a))
	took := map[*benchBroker][]time.Duration{}
	for b.Loop() {
		for _, bb := range []*benchBroker{front, worker} {
			id := uuid.NewString()
			*ids = append(*ids, id)
			start := time.Now()
			bb.expect(b, http.StatusCreated, "PUT", benchInstancePath(id)+"?accepts_incomplete=true", map[string]any{
				"service_id": serviceID, "plan_id": planID, "organization_guid": "org-bench", "space_guid": "space-bench",
			})
			took[bb] = append(took[bb], time.Since(start))
		}
	}
	f50, f99 := percentiles(took[front])
	w50, w99 := percentiles(took[worker])
	fmt.Fprintf(os.Stdout, "\n%d redis provisions each: on the replica without workers p50 %s, p99 %s; on the one that ran them p50 %s, p99 %s; difference of the p50s %s\n",
		b.N, ms(f50), ms(f99), ms(w50), ms(w99), ms(f50-w50))
}
