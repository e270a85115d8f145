package operator

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/omnibroker/omnibroker/store"
)

// instancesLimit bounds the instances GET /admin/v1/instances lists.
const instancesLimit = 1000

// listInstances answers GET /admin/v1/instances?node=N&plan=P&state=S&limit=L: `instances
// --json`, oldest first, at most L (default and most 1000).
func (a *API) listInstances(w http.ResponseWriter, r *http.Request) {
	query, err := queryOf(r, "node", "plan", "state", "limit")
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	limit := instancesLimit
	if s := query.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > instancesLimit {
			a.writeFailure(w, r, badRequest(fmt.Sprintf("limit must be a number from 1 to %d", instancesLimit)))
			return
		}
	}
	f := InstanceFilter{Node: query.Get("node"), Plan: query.Get("plan"), State: query.Get("state")}
	listed, err := a.op.ListInstances(r.Context(), f, limit)
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Instances []InstanceListed `json:"instances"`
	}{listed})
}

// showInstance answers GET /admin/v1/instances/{id}: `instances show ID --json`.
func (a *API) showInstance(w http.ResponseWriter, r *http.Request) {
	if _, err := queryOf(r); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	shown, err := a.op.ShowInstance(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, shown)
}

// purgeBody is the body of POST /admin/v1/instances/{id}/purge.
type purgeBody struct {
	Forget bool `json:"forget"`
}

// purgeAnswer is POST /admin/v1/instances/{id}/purge's answer: the repair, the operation it
// queued (a purge through the queue) or what was forgotten and may be left on the node.
type purgeAnswer struct {
	Repair    store.Repair    `json:"repair"`
	Operation *OperationShown `json:"operation,omitempty"`
	Forgotten *Forgotten      `json:"forgotten,omitempty"`
}

// purgeInstance answers POST /admin/v1/instances/{id}/purge: with {"forget": false} (or {})
// 202 once the purge is queued, which the brokers' workers run (follow it with GET
// /admin/v1/repairs); with {"forget": true} 200 once the instance is gone from the state
// database, with what may be left on its node. 404 for an instance that is not there, 409
// while another operation of it runs or, without forget, when its node does not answer.
func (a *API) purgeInstance(w http.ResponseWriter, r *http.Request) {
	var body purgeBody
	if err := decodeBody(r, &body); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	if body.Forget {
		rec, forgotten, err := a.op.ForgetInstance(r.Context(), actorOf(r), id)
		if err != nil {
			a.writeFailure(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, purgeAnswer{Repair: rec, Forgotten: &forgotten})
		return
	}
	rec, _, err := a.op.PurgeInstance(r.Context(), actorOf(r), id)
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, purgeAnswer{Repair: rec})
}
