package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/pivotal-cf/brokerapi/v10/domain"
	"github.com/pivotal-cf/brokerapi/v10/domain/apiresponses"
)

// checkFields is the chain's last stage. A provision of an instance id that exists with other
// attributes gets 409 rather than any refusal of this stage or of Provision's checks
// (provisionConflict). It answers, in the broker's own words, what
// brokerapi v10 would otherwise answer in its own ("plan_id missing", "plan-id not in the
// catalog", without an error key). A request that lacks service_id or plan_id where OSB
// requires them gets a 400 BadRequest "service_id is required", as the broker says of
// organization_guid (a bind with predecessor_binding_id may lack both); a provision whose ids are not in the catalog gets planOf's answer,
// which names the id to send when a name was sent instead.
func (b *Broker) checkFields(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v2/service_instances/") || strings.HasSuffix(r.URL.Path, "/last_operation") {
			next.ServeHTTP(w, r)
			return
		}
		var fields struct {
			ServiceID   string `json:"service_id"`
			PlanID      string `json:"plan_id"`
			Predecessor string `json:"predecessor_binding_id"`
		}
		binding := strings.Contains(r.URL.Path, "/service_bindings/")
		var body []byte
		switch r.Method {
		case http.MethodPut, http.MethodPatch:
			body, _ = io.ReadAll(r.Body) // checkBody has read and checked it already
			r.Body = io.NopCloser(bytes.NewReader(body))
			_ = json.Unmarshal(body, &fields)
		case http.MethodDelete:
			fields.ServiceID, fields.PlanID = r.URL.Query().Get("service_id"), r.URL.Query().Get("plan_id")
		default:
			next.ServeHTTP(w, r)
			return
		}
		var err error
		switch {
		case r.Method == http.MethodPut && binding && fields.Predecessor != "":
			// A rotation's body may hold only predecessor_binding_id (OSB 2.17); inherit checks it.
		case fields.ServiceID == "":
			err = badRequest("service_id is required")
		case fields.PlanID == "" && r.Method != http.MethodPatch:
			err = badRequest("plan_id is required")
		case r.Method == http.MethodPut && !binding:
			_, _, err = b.planOf(fields.ServiceID, fields.PlanID)
		}
		if err != nil && r.Method == http.MethodPut && !binding {
			var d domain.ProvisionDetails
			if json.Unmarshal(body, &d) == nil {
				err = b.provisionConflict(r.Context(), instanceOf(r.URL.Path), d, err)
			}
		}
		var failure *apiresponses.FailureResponse
		if errors.As(err, &failure) {
			writeJSON(w, failure.ValidatedStatusCode(b.logger), failure.ErrorResponse())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// instanceOf is the instance id of a path under /v2/service_instances/, which checkPath has
// checked and decoded.
func instanceOf(path string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(path, "/v2/service_instances/"), "/")
	return id
}
