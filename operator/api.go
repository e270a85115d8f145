package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
)

// API is the operator API under /admin/v1: the reads and repairs of the CLI's operator
// commands, as JSON, made by the same Operator methods. The broker's chain serves it (its
// stage 6) behind the operator's own credentials and hands it the user name that passed.
// NewAPI lists every route; each area's handlers are in a file of its own.
type API struct {
	op     *Operator
	router chi.Router
}

// NewAPI is the operator API of o.
func NewAPI(o *Operator) *API {
	a := &API{op: o}
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, http.StatusNotFound, "NotFound", "no such route in the operator API")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed on this route of the operator API")
	})
	// Every route of the API; each area answers from a file of its own.
	r.Route("/admin/v1", func(r chi.Router) {
		r.Get("/orphans", a.findOrphans)
		r.Post("/orphans/purge", a.purgeOrphans)
		r.Post("/orphans/restore", a.restoreLogins)
		r.Get("/catalog/check", a.checkCatalog)
		r.Get("/repairs", a.listRepairs)
		r.Get("/operations", a.listOperations)
		r.Get("/operations/{id}", a.showOperation)
		r.Post("/operations/{id}/retry", a.retryOperation)
		r.Post("/operations/{id}/cancel", a.cancelOperation)
		r.Get("/nodes", a.listNodes)
		r.Post("/nodes/{node}/drain", a.drainNode)
		r.Post("/nodes/{node}/undrain", a.undrainNode)
		r.Get("/instances", a.listInstances)
		r.Get("/instances/{id}", a.showInstance)
		r.Post("/instances/{id}/purge", a.purgeInstance)
	})
	a.router = r
	return a
}

// Serve answers r for user, who passed the operator API's credentials: the repairs it asks
// for are recorded as user's, through the API.
func (a *API) Serve(w http.ResponseWriter, r *http.Request, user string) {
	a.router.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, Actor{Name: user, Via: ViaAPI})))
}

type actorKey struct{}

// actorOf is who asked for r.
func actorOf(r *http.Request) Actor {
	actor, _ := r.Context().Value(actorKey{}).(Actor)
	return actor
}

// problem is the body of a refusal or a failure, in the OSB API's form.
type problem struct {
	Error       string `json:"error"`
	Description string `json:"description"`
}

func writeProblem(w http.ResponseWriter, status int, key, description string) {
	writeJSON(w, status, problem{Error: key, Description: description})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

// writeFailure answers err: 400 for a bad request, 404 for a row or an operation that is not
// there, 409 for a refused repair, else 500 with a reference that the log line carries,
// the cause staying in the log.
func (a *API) writeFailure(w http.ResponseWriter, r *http.Request, err error) {
	if bad, ok := errors.AsType[badRequest](err); ok {
		writeProblem(w, http.StatusBadRequest, "BadRequest", string(bad))
		return
	}
	if missing, ok := errors.AsType[*NotFound](err); ok {
		writeProblem(w, http.StatusNotFound, "NotFound", missing.Error())
		return
	}
	if reason, ok := refusal(err); ok {
		writeProblem(w, http.StatusConflict, "Conflict", reason)
		return
	}
	reference := uuid.NewString()
	a.op.Logger.Error("operator-api-failed", err, lager.Data{"reference": reference, "route": chi.RouteContext(r.Context()).RoutePattern()})
	writeProblem(w, http.StatusInternalServerError, "InternalError", "the operator API could not answer; the broker's log has the cause under reference "+reference)
}

// NotFound is what a read or a repair names that is not there (an operation, an instance, a
// node of the catalog).
type NotFound struct{ What string }

func (n *NotFound) Error() string { return n.What + " does not exist" }

// repairsLimit bounds the repairs GET /admin/v1/repairs lists.
const repairsLimit = 1000

// listRepairs answers GET /admin/v1/repairs?since=DURATION&limit=N: the repairs asked for in
// the last DURATION (default 7 days), newest first, at most N (default and most 1000).
func (a *API) listRepairs(w http.ResponseWriter, r *http.Request) {
	query, err := queryOf(r, "since", "limit")
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	since, limit := 7*24*time.Hour, repairsLimit
	if s := query.Get("since"); s != "" {
		if since, err = time.ParseDuration(s); err != nil || since <= 0 {
			a.writeFailure(w, r, badRequest("since must be a positive duration, such as 24h or 30m"))
			return
		}
	}
	if s := query.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > repairsLimit {
			a.writeFailure(w, r, badRequest(fmt.Sprintf("limit must be a number from 1 to %d", repairsLimit)))
			return
		}
	}
	repairs, err := a.op.Store.Repairs(r.Context(), time.Now().Add(-since), limit)
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Repairs any `json:"repairs"`
	}{repairs})
}
