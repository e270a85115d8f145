package broker

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/store"
)

// bindingResponse is the body of bind and GET binding answers, with what brokerapi v10's
// types cannot say (endpoints, metadata); forVersion leaves out the fields newer than the request.
type bindingResponse struct {
	Credentials any                        `json:"credentials,omitempty"`
	Endpoints   []backends.BindingEndpoint `json:"endpoints,omitempty"`
	Parameters  any                        `json:"parameters,omitempty"`
	Metadata    *bindingMetadata           `json:"metadata,omitempty"`
}

// bindingMetadata is the metadata object of a binding whose plan gives it a lifetime:
// expires_at (OSB 2.16) and renew_before (OSB 2.17), in osbTime's format.
type bindingMetadata struct {
	ExpiresAt   string `json:"expires_at,omitempty"`
	RenewBefore string `json:"renew_before,omitempty"`
}

// osbTimeLayout is how OSB writes a binding's times: ISO 8601 in UTC, the spec's pattern
// yyyy-mm-ddThh:mm:ss.sZ, here with milliseconds. It is also RFC 3339.
const osbTimeLayout = "2006-01-02T15:04:05.000Z"

// osbTime is t in osbTimeLayout, or "" for none.
func osbTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(osbTimeLayout)
}

// bindingMetadataOf is the metadata of a binding row, nil for a binding without a lifetime.
func bindingMetadataOf(b store.Binding) *bindingMetadata {
	if b.ExpiresAt == nil {
		return nil
	}
	return &bindingMetadata{ExpiresAt: osbTime(b.ExpiresAt), RenewBefore: osbTime(b.RenewBefore)}
}

// bindingAnswer is the body for a binding with credentials creds (a backends.Credentials, or
// nil), parameters params and metadata meta (or nil), in OSB 2.minor.
func bindingAnswer(creds, params any, meta *bindingMetadata, minor int) map[string]any {
	resp := bindingResponse{Credentials: creds, Parameters: params, Metadata: meta}
	if c, ok := creds.(backends.Credentials); ok {
		resp.Endpoints = backends.EndpointsOf(c)
	}
	fields := forVersion(bindingObject, asFields(resp), minor)
	if m, ok := fields["metadata"].(map[string]any); ok {
		forVersion(bindingMetadataObject, m, minor)
	}
	return fields
}

// mountable decodes stored credentials with the servicebinding.io entries added, so that a
// binding sealed before the adapters wrote them (type, provider, host, database) gets them too.
func mountable(raw json.RawMessage) backends.Credentials {
	return backends.Mountable(decodeObject(raw))
}

// serveBind serves PUT /v2/service_instances/:instance_id/service_bindings/:binding_id in
// place of brokerapi's handler, whose answer cannot carry endpoints or metadata nor read
// predecessor_binding_id (inherit). checkBody and checkFields have refused a body that is not
// a JSON object or lacks service_id or plan_id without a predecessor_binding_id.
func (b *Broker) serveBind(w http.ResponseWriter, r *http.Request) {
	var details domain.BindDetails
	var rotate rotation
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &details)
	}
	if err == nil {
		err = json.Unmarshal(body, &rotate)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "the request body is not a bind request")
		return
	}
	minor := apiMinor(r)
	asyncAllowed := minor >= 14 && r.URL.Query().Get("accepts_incomplete") == "true"
	instanceID := chi.URLParam(r, "instance_id")
	if rotate.PredecessorBindingID != "" {
		if details, err = b.inherit(r.Context(), instanceID, rotate.PredecessorBindingID, details); err != nil {
			writeFailure(w, err)
			return
		}
	}
	binding, err := b.bind(r.Context(), instanceID, chi.URLParam(r, "binding_id"), details, asyncAllowed)
	switch {
	case err != nil:
		writeFailure(w, err)
	case binding.IsAsync:
		writeJSON(w, http.StatusAccepted, map[string]string{"operation": binding.OperationData})
	case binding.AlreadyExists:
		writeJSON(w, http.StatusOK, bindingAnswer(binding.Credentials, nil, binding.metadata, minor))
	default:
		writeJSON(w, http.StatusCreated, bindingAnswer(binding.Credentials, nil, binding.metadata, minor))
	}
}

// serveGetBinding serves GET /v2/service_instances/:instance_id/service_bindings/:binding_id
// in place of brokerapi's handler, whose answer cannot carry endpoints nor metadata. An expired
// binding answers 200 without credentials, its metadata.expires_at in the past.
func (b *Broker) serveGetBinding(w http.ResponseWriter, r *http.Request) {
	minor := apiMinor(r)
	if minor < 14 {
		writeError(w, http.StatusPreconditionFailed, "PreconditionFailed", "get binding endpoint only supported starting with OSB version 2.14")
		return
	}
	spec, meta, err := b.getBinding(r.Context(), chi.URLParam(r, "instance_id"), chi.URLParam(r, "binding_id"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	writeJSON(w, http.StatusOK, bindingAnswer(spec.Credentials, spec.Parameters, meta, minor))
}
