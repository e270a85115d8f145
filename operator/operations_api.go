package operator

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/omnibroker/omnibroker/store"
)

// listOperations answers GET /admin/v1/operations?state=S&instance=ID&older_than=DURATION:
// `operations --json`, with found true when one of them needs a person.
func (a *API) listOperations(w http.ResponseWriter, r *http.Request) {
	query, err := queryOf(r, "state", "instance", "older_than")
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	f := OperationFilter{State: query.Get("state"), Instance: query.Get("instance")}
	if s := query.Get("older_than"); s != "" {
		if f.OlderThan, err = time.ParseDuration(s); err != nil || f.OlderThan <= 0 {
			a.writeFailure(w, r, badRequest("older_than must be a positive duration, such as 10m or 24h"))
			return
		}
	}
	list, err := a.op.Operations(r.Context(), f)
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// showOperation answers GET /admin/v1/operations/{id}: the operation and its attempts.
func (a *API) showOperation(w http.ResponseWriter, r *http.Request) {
	if _, err := queryOf(r); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	detail, err := a.op.Operation(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, detail)
}

// operationRepair is the answer of a retry or a cancel: its repair, and the operation after it.
type operationRepair struct {
	Repair    store.Repair          `json:"repair"`
	Operation store.ListedOperation `json:"operation"`
}

// retryOperation answers POST /admin/v1/operations/{id}/retry (body {} or none): 202 with the
// repair and the operation, queued again, which the brokers' workers run.
func (a *API) retryOperation(w http.ResponseWriter, r *http.Request) {
	var body struct{}
	if err := decodeBody(r, &body); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	rec, _, err := a.op.Retry(r.Context(), actorOf(r), id)
	a.answerRepair(w, r, http.StatusAccepted, rec, id, err)
}

// cancelOperation answers POST /admin/v1/operations/{id}/cancel with body {"reason": "…"}:
// 200 with the repair and the operation, failed with the reason.
func (a *API) cancelOperation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decodeBody(r, &body); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	rec, _, err := a.op.Cancel(r.Context(), actorOf(r), id, body.Reason)
	a.answerRepair(w, r, http.StatusOK, rec, id, err)
}

// answerRepair answers a retry or a cancel of operation id that ended with err: status with
// the repair and the operation as it is now, or the failure.
func (a *API) answerRepair(w http.ResponseWriter, r *http.Request, status int, rec store.Repair, id string, err error) {
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	op, err := a.op.listed(r.Context(), id)
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, status, operationRepair{Repair: rec, Operation: op})
}
