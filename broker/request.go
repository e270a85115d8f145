package broker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"code.cloudfoundry.org/lager/v3"
	"github.com/pivotal-cf/brokerapi/v10/middlewares"

	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// session starts the logger session of one request, carrying ids and the platform's
// correlation id, never parameters or credentials.
func (b *Broker) session(ctx context.Context, action string, data lager.Data) lager.Logger {
	for key, name := range map[middlewares.ContextKey]string{
		middlewares.CorrelationIDKey:   "correlation-id",
		middlewares.RequestIdentityKey: "request-id",
	} {
		if v, ok := ctx.Value(key).(string); ok && v != "" {
			data[name] = v
		}
	}
	return b.logger.Session(action, logIDs(data))
}

// logIDs cuts every string of data with logID: the chain refuses a long id in a request, but
// a header or a row written before it did may still carry one.
func logIDs(data lager.Data) lager.Data {
	for k, v := range data {
		if s, ok := v.(string); ok {
			data[k] = logID(s)
		}
	}
	return data
}

// originatingIdentity decodes X-Broker-API-Originating-Identity ("platform base64(json)")
// into {"platform": …, "value": …}; nil when the header is absent or unreadable.
func originatingIdentity(ctx context.Context) json.RawMessage {
	header, _ := ctx.Value(middlewares.OriginatingIdentityKey).(string)
	platform, encoded, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok {
		return nil
	}
	value, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil || !json.Valid(value) {
		return nil
	}
	out, err := json.Marshal(map[string]any{"platform": platform, "value": json.RawMessage(value)})
	if err != nil {
		return nil
	}
	return out
}

// object returns raw, or {} when raw is empty or null.
func object(raw json.RawMessage) json.RawMessage {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return json.RawMessage("{}")
	}
	return trimmed
}

// sameJSON compares two JSON documents by value, so key order and spacing do not matter.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(object(a), &va) != nil || json.Unmarshal(object(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func decodeObject(raw json.RawMessage) map[string]any {
	out := map[string]any{}
	_ = json.Unmarshal(object(raw), &out)
	return out
}

func (b *Broker) newOperation(ctx context.Context, kind store.OperationKind, instanceID, bindingID string, platformContext, request json.RawMessage) store.Operation {
	op := store.NewOperation(kind, instanceID, bindingID, b.maxAttempts, object(request), object(platformContext))
	op.OriginatingIdentity = originatingIdentity(ctx)
	return op
}

// planOf finds the plan by id and checks it belongs to serviceID. An id that is a name in
// the catalog hears which id to send instead.
func (b *Broker) planOf(serviceID, planID string) (catalog.Plan, catalog.Service, error) {
	if _, ok := b.catalog.Service(serviceID); !ok {
		return catalog.Plan{}, catalog.Service{}, badRequest("service_id %q is not in this broker's catalog%s", serviceID, b.serviceNameHint(serviceID))
	}
	plan, svc, ok := b.catalog.Plan(planID)
	if !ok {
		return catalog.Plan{}, catalog.Service{}, badRequest("plan_id %q is not in this broker's catalog%s", planID, b.planNameHint(serviceID, planID))
	}
	if svc.ID != serviceID {
		return catalog.Plan{}, catalog.Service{}, badRequest("plan_id %q belongs to service %q, not to service_id %q", planID, svc.Name, serviceID)
	}
	return plan, svc, nil
}

// notTheInstances refuses a request whose service_id and plan_id are not those of the
// instance, naming the id to send for either that is a name in the catalog.
func (b *Broker) notTheInstances(instanceID, serviceID, planID string) error {
	hint := ""
	if _, ok := b.catalog.Service(serviceID); !ok {
		hint = b.serviceNameHint(serviceID)
	}
	if _, _, ok := b.catalog.Plan(planID); !ok {
		hint += b.planNameHint(serviceID, planID)
	}
	return badRequest("service_id and plan_id must be those of service instance %s%s", instanceID, hint)
}

// serviceNameHint is "; service_id "pg" is a service name; its id is "…"" when name is the
// name of a service in the catalog, else "".
func (b *Broker) serviceNameHint(name string) string {
	for _, s := range b.catalog.Services() {
		if s.Name == name {
			return fmt.Sprintf("; service_id %q is a service name; its id is %q", name, s.ID)
		}
	}
	return ""
}

// planNameHint is "; plan_id "small" is a plan name; its id is "…"" when name is the name of
// a plan in the catalog, one of serviceID's first, else "".
func (b *Broker) planNameHint(serviceID, name string) string {
	var found []catalog.Service
	for _, s := range b.catalog.Services() {
		if s.ID == serviceID {
			found = append([]catalog.Service{s}, found...)
		} else {
			found = append(found, s)
		}
	}
	for _, s := range found {
		for _, p := range s.Plans {
			if p.Name == name {
				return fmt.Sprintf("; plan_id %q is a plan name; its id is %q", name, p.ID)
			}
		}
	}
	return ""
}
