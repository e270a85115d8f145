package store_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnibroker/omnibroker/internal/testkit"
	"github.com/omnibroker/omnibroker/store"
)

// benchStore returns a store on a database of its own, created and migrated for this
// benchmark and dropped when it ends. The suite's BeforeSuite does not run under
// `go test -run '^$' -bench`, so benchmarks set up without it, and without Gomega.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	db := testkit.NewDatabase(b, testkit.State.URL(), "omnibroker_store_bench")
	key := make([]byte, store.KeySize)
	_, _ = rand.Read(key)
	keys, err := store.NewKeyring(key)
	if err != nil {
		b.Fatalf("keyring: %v", err)
	}
	return openStore(b, db.URL, keys)
}

// benchPlace is the placement every benchmark instance gets: one node, whatever the counts.
func benchPlace(map[string]int, map[string]bool) (string, error) { return "pg-bench", nil }

// benchReadyInstance creates an instance and runs its provision to success.
func benchReadyInstance(b *testing.B, st *store.Store) store.Instance {
	b.Helper()
	ctx := b.Context()
	inst := newInstance()
	op := newOperation(store.OpProvision, inst.ID, "")
	if err := st.CreateInstance(ctx, inst, op); err != nil {
		b.Fatal(err)
	}
	claimed, err := st.Claim(ctx, "bench-setup", time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Succeed(ctx, claimed, nil); err != nil {
		b.Fatal(err)
	}
	return inst
}

// BenchmarkEnqueueClaimSucceed is one provision's whole trip through the queue, without the
// backend call: enqueue (instance + operation + NOTIFY in one transaction), claim, placement,
// fenced completion. ops/s is how many provisions one worker can record per second.
func BenchmarkEnqueueClaimSucceed(b *testing.B) {
	st := benchStore(b)
	ctx := b.Context()
	n := 0
	for b.Loop() {
		inst := newInstance()
		op := newOperation(store.OpProvision, inst.ID, "")
		if err := st.CreateInstance(ctx, inst, op); err != nil {
			b.Fatal(err)
		}
		claimed, err := st.Claim(ctx, "bench-worker", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if claimed.ID != op.ID {
			b.Fatalf("claimed operation %s, want %s", claimed.ID, op.ID)
		}
		if _, err := st.AssignNode(ctx, inst.ID, inst.Backend, benchPlace); err != nil {
			b.Fatal(err)
		}
		if err := st.Succeed(ctx, claimed, nil); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}

// benchClaimers is how many goroutines BenchmarkClaimContended claims with, as a replica's
// workers would.
const benchClaimers = 8

// benchQueueDepth is how many operations a refill queues. Claim sorts the queued rows, so
// the depth is kept near what a busy broker holds rather than growing with b.N.
const benchQueueDepth = 256

// Operations go in with one statement rather than through CreateInstance, so that refilling
// stays a small part of the measurement. Claim reads operations alone, and nothing references
// an instance row, so none is created.
const benchFillQueue = `
INSERT INTO operations (id, kind, instance_id, state, max_attempts)
SELECT gen_random_uuid()::text, 'provision', gen_random_uuid()::text, 'queued', 3
FROM generate_series(1, $1)`

// benchQueue refills the queue once per time it ran dry, however many claimers noticed.
type benchQueue struct {
	st     *store.Store
	mu     sync.Mutex
	fills  atomic.Uint64
	failed atomic.Bool
}

// refill queues another batch unless one was queued since the caller saw fills == seen.
func (q *benchQueue) refill(ctx context.Context, seen uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fills.Load() != seen {
		return nil
	}
	if _, err := q.st.DB().ExecContext(ctx, benchFillQueue, benchQueueDepth); err != nil {
		return fmt.Errorf("fill queue: %w", err)
	}
	q.fills.Add(1)
	return nil
}

// BenchmarkClaimContended measures Claim's FOR UPDATE SKIP LOCKED throughput with eight
// workers claiming from one queue at once; ns/op is wall time per claimed operation.
func BenchmarkClaimContended(b *testing.B) {
	st := benchStore(b)
	q := &benchQueue{st: st}
	if err := q.refill(b.Context(), 0); err != nil {
		b.Fatal(err)
	}
	// RunParallel starts parallelism × GOMAXPROCS goroutines.
	procs := runtime.GOMAXPROCS(0)
	parallelism := (benchClaimers + procs - 1) / procs
	b.SetParallelism(parallelism)

	var worker atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		owner := fmt.Sprintf("bench-claimer-%d", worker.Add(1))
		for pb.Next() {
			for {
				seen := q.fills.Load()
				op, err := st.Claim(ctx, owner, time.Minute)
				if err == nil {
					if op.LeaseOwner != owner {
						b.Errorf("claimed %s under owner %q, want %q", op.ID, op.LeaseOwner, owner)
					}
					break
				}
				// Empty, or every queued row is locked by another claimer: queue more.
				if errors.Is(err, store.ErrNothingToClaim) {
					err = q.refill(ctx, seen)
				}
				if err != nil {
					if q.failed.CompareAndSwap(false, true) {
						b.Error(err)
					}
					return
				}
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
	b.ReportMetric(float64(parallelism*procs), "claimers")
}

// BenchmarkSealOpen shows what sealing credentials at rest costs on the store's round trips.
// The keyring's seal and open are unexported, so it is measured through the Store:
// get-binding (one row, two values opened) against get-instance (one row, nothing sealed),
// and a whole bind (password sealed on CreateBinding, credentials sealed on Succeed, both
// opened by GetBinding).
func BenchmarkSealOpen(b *testing.B) {
	st := benchStore(b)
	inst := benchReadyInstance(b, st)
	creds := json.RawMessage(`{"hostname":"10.0.0.7","port":5432,"name":"ob_0123456789abcdef0123456789","username":"ob_b_0123456789abcdef012345678","password":"Zq3v8TQ1mX0aP7cL5nR2wY9eK4hJ6dBs","uri":"postgres://ob_b_0123456789abcdef012345678:Zq3v8TQ1mX0aP7cL5nR2wY9eK4hJ6dBs@10.0.0.7:5432/ob_0123456789abcdef0123456789"}`)

	bind := func(ctx context.Context) (store.Binding, error) {
		bnd := newBinding(inst.ID)
		op := newOperation(store.OpBind, inst.ID, bnd.ID)
		if err := st.CreateBinding(ctx, bnd, op); err != nil {
			return store.Binding{}, err
		}
		claimed, err := st.Claim(ctx, "bench-worker", time.Minute)
		if err != nil {
			return store.Binding{}, err
		}
		if claimed.ID != op.ID {
			return store.Binding{}, fmt.Errorf("claimed operation %s, want %s", claimed.ID, op.ID)
		}
		if err := st.Succeed(ctx, claimed, creds); err != nil {
			return store.Binding{}, err
		}
		got, err := st.GetBinding(ctx, inst.ID, bnd.ID)
		if err != nil {
			return store.Binding{}, err
		}
		if got.Password != bnd.Password || len(got.Credentials) == 0 {
			return store.Binding{}, fmt.Errorf("binding %s did not open to what was sealed", bnd.ID)
		}
		return got, nil
	}

	bound, err := bind(b.Context())
	if err != nil {
		b.Fatal(err)
	}

	b.Run("get-instance", func(b *testing.B) {
		ctx := b.Context()
		for b.Loop() {
			if _, err := st.GetInstance(ctx, inst.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get-binding", func(b *testing.B) {
		ctx := b.Context()
		for b.Loop() {
			got, err := st.GetBinding(ctx, inst.ID, bound.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.Password != bound.Password {
				b.Fatal("binding did not open to what was sealed")
			}
		}
	})
	b.Run("bind-round-trip", func(b *testing.B) {
		ctx := b.Context()
		for b.Loop() {
			if _, err := bind(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
