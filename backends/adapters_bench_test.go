package backends_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/backends/backendtest"
)

func openBench(b *testing.B, i int) backends.Backend {
	a, err := backendtest.Kinds[i].Open([]backends.Server{{Name: "bench", AdminURL: backendtest.Kinds[i].Server.URL()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	return a
}

// BenchmarkProvisionDeprovision is one instance's life on each kind of local server: a
// database, a key prefix or a vhost, created and removed.
func BenchmarkProvisionDeprovision(b *testing.B) {
	for i, k := range backendtest.Kinds {
		b.Run(k.Name, func(b *testing.B) {
			a := openBench(b, i)
			ctx := b.Context()
			for b.Loop() {
				inst := backends.Instance{ID: uuid.NewString(), Node: "bench", Plan: "bench", Parameters: map[string]any{}}
				if _, err := a.Provision(ctx, backends.ProvisionRequest{Instance: inst}); err != nil {
					b.Fatal(err)
				}
				if err := a.Deprovision(ctx, backends.DeprovisionRequest{Instance: inst}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBindUnbind is one binding's life on a provisioned instance of each kind: a login
// made with its password and privileges, then revoked with its connections closed.
func BenchmarkBindUnbind(b *testing.B) {
	for i, k := range backendtest.Kinds {
		b.Run(k.Name, func(b *testing.B) {
			a := openBench(b, i)
			ctx := b.Context()
			inst := backends.Instance{ID: uuid.NewString(), Node: "bench", Plan: "bench", Parameters: map[string]any{}}
			b.Cleanup(func() {
				if err := a.Deprovision(context.WithoutCancel(ctx), backends.DeprovisionRequest{Instance: inst}); err != nil {
					b.Errorf("deprovision: %v", err)
				}
			})
			if _, err := a.Provision(ctx, backends.ProvisionRequest{Instance: inst}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				password, err := backends.NewPassword()
				if err != nil {
					b.Fatal(err)
				}
				bnd := backends.Binding{ID: uuid.NewString(), Password: password}
				if _, err := a.Bind(ctx, backends.BindRequest{Instance: inst, Binding: bnd}); err != nil {
					b.Fatal(err)
				}
				if err := a.Unbind(ctx, backends.UnbindRequest{Instance: inst, Binding: bnd}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlace is placement's choice among 100 candidates, the half of a pool of 200 nodes
// that the catalog finds eligible (catalog's BenchmarkEligible measures that filter).
func BenchmarkPlace(b *testing.B) {
	nodes := make([]backends.Node, 100)
	used := map[string]int{}
	for i := range nodes {
		name := fmt.Sprintf("node-%03d", 2*i)
		nodes[i] = backends.Node{Name: name, Capacity: 500}
		used[name] = 2 * i
	}
	for b.Loop() {
		if _, err := backends.Place(nodes, used, "small", "16"); err != nil {
			b.Fatal(err)
		}
	}
}
