package backendtest

import (
	"slices"
	"sync"

	"github.com/omnibroker/omnibroker/backends"
)

// recorded keeps, per instance id, the bindings Calls was asked to bind, as the broker's state
// keeps binding rows: live from before the Bind (so a bind cut short counts) until its Unbind
// succeeded, and every one ever asked for, for the checks that nothing of an instance is left.
var recorded = struct {
	sync.Mutex
	live, all map[string][]backends.Binding
}{live: map[string][]backends.Binding{}, all: map[string][]backends.Binding{}}

// Record notes b as a binding of instance id, as the broker's binding row does before its
// bind: a spec that makes a cut-short bind's login by hand records its binding with it.
func Record(id string, b backends.Binding) {
	recorded.Lock()
	defer recorded.Unlock()
	if !slices.ContainsFunc(recorded.live[id], sameID(b)) {
		recorded.live[id] = append(recorded.live[id], b)
	}
	if !slices.ContainsFunc(recorded.all[id], sameID(b)) {
		recorded.all[id] = append(recorded.all[id], b)
	}
}

// forget notes that b of instance id was unbound.
func forget(id string, b backends.Binding) {
	recorded.Lock()
	defer recorded.Unlock()
	recorded.live[id] = slices.DeleteFunc(recorded.live[id], sameID(b))
}

// Recorded returns the bindings of instance id that were bound and not unbound since, with
// their passwords, as the worker hands them to Deprovision and Update.
func Recorded(id string) []backends.Binding {
	recorded.Lock()
	defer recorded.Unlock()
	return slices.Clone(recorded.live[id])
}

// EverBound returns every binding of instance id Calls was asked to bind, unbound or not.
func EverBound(id string) []backends.Binding {
	recorded.Lock()
	defer recorded.Unlock()
	return slices.Clone(recorded.all[id])
}

func sameID(b backends.Binding) func(backends.Binding) bool {
	return func(o backends.Binding) bool { return o.ID == b.ID }
}
