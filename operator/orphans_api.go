package operator

import (
	"net/http"

	"github.com/omnibroker/omnibroker/store"
)

// orphansAnswer is GET /admin/v1/orphans's answer: the report, and whether it holds anything
// to act on (the CLI's exit status 1).
type orphansAnswer struct {
	OrphanReport
	Found bool `json:"found"`
}

// findOrphans answers GET /admin/v1/orphans?backend=B&node=N&object=O, orphans' report.
func (a *API) findOrphans(w http.ResponseWriter, r *http.Request) {
	query, err := queryOf(r, "backend", "node", "object")
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	scope := Scope{Backend: query.Get("backend"), Node: query.Get("node"), Object: query.Get("object")}
	report, err := a.scopedOrphans(r, scope)
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orphansAnswer{report, report.Found()})
}

func (a *API) scopedOrphans(r *http.Request, scope Scope) (OrphanReport, error) {
	if err := a.op.checkScope(scope); err != nil {
		return OrphanReport{}, err
	}
	return a.op.FindOrphans(r.Context(), scope)
}

// repairsAnswer is the answer of a request that asked for repairs: what was found, and the
// repair of each finding, queued or refused.
type repairsAnswer struct {
	OrphanReport
	Repairs []store.Repair `json:"repairs"`
}

// purgeOrphans answers POST /admin/v1/orphans/purge with a scope as its body (backend, node,
// object; {} for every node): it finds the orphans in scope again, as the CLI does, and queues
// the purge of each, 202 when it queued any. The running brokers' workers purge them.
func (a *API) purgeOrphans(w http.ResponseWriter, r *http.Request) {
	a.repairFound(w, r, func(report OrphanReport) []store.Repair {
		var repairs []store.Repair
		for _, o := range report.Orphans {
			rec, _, _ := a.op.Purge(r.Context(), actorOf(r), o)
			repairs = append(repairs, rec)
		}
		return repairs
	})
}

// restoreLogins answers POST /admin/v1/orphans/restore like purgeOrphans, queuing a restore of
// each restorable login that is missing.
func (a *API) restoreLogins(w http.ResponseWriter, r *http.Request) {
	a.repairFound(w, r, func(report OrphanReport) []store.Repair {
		var repairs []store.Repair
		for _, m := range report.Missing {
			if m.Restorable {
				rec, _, _ := a.op.Restore(r.Context(), actorOf(r), m)
				repairs = append(repairs, rec)
			}
		}
		return repairs
	})
}

// repairFound finds the orphans in the scope r's body gives and answers with the repairs
// repair asked for of them: 202 when one is queued, else 200.
func (a *API) repairFound(w http.ResponseWriter, r *http.Request, repair func(OrphanReport) []store.Repair) {
	var scope Scope
	if err := decodeBody(r, &scope); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	report, err := a.scopedOrphans(r, scope)
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	answer := repairsAnswer{OrphanReport: report, Repairs: []store.Repair{}}
	status := http.StatusOK
	for _, rec := range repair(report) {
		if rec.ID == "" {
			continue // not even recorded: the state database failed, and the log says so
		}
		answer.Repairs = append(answer.Repairs, rec)
		if rec.Outcome == store.RepairQueued {
			status = http.StatusAccepted
		}
	}
	writeJSON(w, status, answer)
}
