package operator

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// listNodes answers GET /admin/v1/nodes: `nodes --json`.
func (a *API) listNodes(w http.ResponseWriter, r *http.Request) {
	if _, err := queryOf(r); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	reports, err := a.op.ListNodes(r.Context())
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Nodes []NodeReport `json:"nodes"`
	}{reports})
}

// drainBody is the body of POST /admin/v1/nodes/{node}/drain.
type drainBody struct {
	Reason string `json:"reason"`
}

// drainNode answers POST /admin/v1/nodes/{node}/drain with the repair: 200 once the node is
// drained on every replica, 409 when it was drained already.
func (a *API) drainNode(w http.ResponseWriter, r *http.Request) {
	var body drainBody
	if err := decodeBody(r, &body); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	if err := checkText(body.Reason); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	rec, err := a.op.Drain(r.Context(), actorOf(r), chi.URLParam(r, "node"), body.Reason)
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// undrainNode answers POST /admin/v1/nodes/{node}/undrain like drainNode.
func (a *API) undrainNode(w http.ResponseWriter, r *http.Request) {
	if err := decodeBody(r, &struct{}{}); err != nil {
		a.writeFailure(w, r, err)
		return
	}
	rec, err := a.op.Undrain(r.Context(), actorOf(r), chi.URLParam(r, "node"))
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}
