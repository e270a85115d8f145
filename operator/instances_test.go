package operator_test

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

// The JSON of `instances --json`, `instances show --json` and GET /admin/v1/instances(/ID), whose
// members the README's table and the acceptance specs rely on: an InstanceListed is the store's
// summary of the instance with what the operator adds to it.
var _ = Describe("The instances' JSON", func() {
	created := time.Date(2026, 12, 1, 22, 14, 3, 0, time.UTC)
	finished := created.Add(time.Minute)
	listed := operator.InstanceListed{
		InstanceSummary: store.InstanceSummary{ID: "i1", PlanID: "p1", Backend: "pg", Node: "pg-1", State: store.InstanceReady,
			MaintenanceVersion: "1.0.0", Bindings: 1, CreatedAt: created, VersionParameter: "15",
			LastKind: store.OpProvision, LastState: store.OpSucceeded},
		Service: "svc", Plan: "small", Version: "15",
		LastOperation: &operator.OperationSummary{Kind: store.OpProvision, State: store.OpSucceeded},
	}

	It("lists an instance by its summary, its catalog names, its version and its latest operation", func() {
		Expect(json.Marshal(listed)).To(MatchJSON(`{"id":"i1","service":"svc","plan":"small","plan_id":"p1","backend":"pg",
			"node":"pg-1","state":"ready","version":"15","maintenance_version":"1.0.0","bindings":1,
			"last_operation":{"kind":"provision","state":"succeeded"},"created_at":"2026-12-01T22:14:03Z"}`))
	})

	It("shows an instance with its bindings, its latest operation in full and its usage in place of the counts", func() {
		shown := operator.InstanceShown{InstanceListed: listed, ServiceID: "s1", UpdatedAt: finished,
			Bindings: []store.BindingSummary{
				{ID: "b1", State: store.BindingBound, AppGUID: "app", CreatedAt: created, ExpiresAt: &finished},
				{ID: "b2", State: store.BindingFailed, CreatedAt: created},
			},
			LastOperation: &operator.OperationShown{ID: "o1", Kind: store.OpDeprovision, State: store.OpFailed,
				Description: "node pg-1 refused the connection", Attempt: 3, MaxAttempts: 3, CreatedAt: created, FinishedAt: &finished},
			Usage: []backends.Figure{{Name: "size", Value: 5, Unit: "bytes"}},
		}
		Expect(json.Marshal(shown)).To(MatchJSON(`{"id":"i1","service":"svc","plan":"small","plan_id":"p1","backend":"pg",
			"node":"pg-1","state":"ready","version":"15","maintenance_version":"1.0.0","created_at":"2026-12-01T22:14:03Z",
			"service_id":"s1","updated_at":"2026-12-01T22:15:03Z",
			"bindings":[{"id":"b1","state":"bound","app_guid":"app","created_at":"2026-12-01T22:14:03Z","expires_at":"2026-12-01T22:15:03Z"},
				{"id":"b2","state":"failed","created_at":"2026-12-01T22:14:03Z"}],
			"last_operation":{"id":"o1","kind":"deprovision","state":"failed","description":"node pg-1 refused the connection",
				"attempt":3,"max_attempts":3,"created_at":"2026-12-01T22:14:03Z","finished_at":"2026-12-01T22:15:03Z"},
			"usage":[{"name":"size","value":5,"unit":"bytes"}]}`))
	})

	It("shows an instance with no binding and no operation, whose plan left the catalog, with why its usage is unknown", func() {
		gone := listed
		gone.Plan, gone.LastOperation = "", nil
		shown := operator.InstanceShown{InstanceListed: gone, ServiceID: "s1", UpdatedAt: finished,
			Bindings: []store.BindingSummary{}, Usage: []backends.Figure{}, UsageUnknown: "it was never placed on a node"}
		Expect(json.Marshal(shown)).To(MatchJSON(`{"id":"i1","service":"svc","plan":"","plan_id":"p1","backend":"pg",
			"node":"pg-1","state":"ready","version":"15","maintenance_version":"1.0.0","created_at":"2026-12-01T22:14:03Z",
			"service_id":"s1","updated_at":"2026-12-01T22:15:03Z","bindings":[],"usage":[],
			"usage_unknown":"it was never placed on a node"}`))
	})
})
