package broker

import (
	"encoding/json"
	"net/http"

	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/catalog"
)

// osbService and osbPlan are the catalog as platforms see it: the OSB fields only, without
// the backend settings, and without the empty schema objects brokerapi's types would add.
type osbService struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	Description          string         `json:"description"`
	Bindable             bool           `json:"bindable"`
	InstancesRetrievable bool           `json:"instances_retrievable,omitempty"`
	BindingsRetrievable  bool           `json:"bindings_retrievable,omitempty"`
	PlanUpdateable       bool           `json:"plan_updateable"`
	Tags                 []string       `json:"tags,omitempty"`
	Requires             []string       `json:"requires,omitempty"`
	Metadata             map[string]any `json:"metadata,omitempty"`
	Plans                []osbPlan      `json:"plans"`
}

type osbPlan struct {
	ID                     string           `json:"id"`
	Name                   string           `json:"name"`
	Description            string           `json:"description"`
	Free                   *bool            `json:"free,omitempty"`
	Bindable               *bool            `json:"bindable,omitempty"`
	PlanUpdateable         *bool            `json:"plan_updateable,omitempty"`
	Metadata               map[string]any   `json:"metadata,omitempty"`
	Schemas                *catalog.Schemas `json:"schemas,omitempty"`
	MaximumPollingDuration *int             `json:"maximum_polling_duration,omitempty"`

	// MaintenanceInfo came with OSB 2.15; older platforms are not sent it.
	MaintenanceInfo *catalog.MaintenanceInfo `json:"maintenance_info,omitempty"`
}

// publicCatalog is the catalog for a platform that speaks OSB 2.minor: fields that came with
// a later minor version are left out, since strict older clients refuse a plan with a field
// they do not know.
func publicCatalog(services []catalog.Service, minor int) []osbService {
	out := make([]osbService, 0, len(services))
	for _, s := range services {
		o := osbService{
			ID: s.ID, Name: s.Name, Description: s.Description, Bindable: s.Bindable,
			InstancesRetrievable: s.InstancesRetrievable, BindingsRetrievable: s.BindingsRetrievable,
			PlanUpdateable: s.PlanUpdateable, Tags: s.Tags, Requires: s.Requires, Metadata: s.Metadata,
			Plans: make([]osbPlan, 0, len(s.Plans)),
		}
		for _, p := range s.Plans {
			plan := osbPlan{
				ID: p.ID, Name: p.Name, Description: p.Description, Free: p.Free, Bindable: p.Bindable,
				PlanUpdateable: p.PlanUpdateable, Metadata: p.Metadata, Schemas: p.Schemas,
				MaximumPollingDuration: p.MaximumPollingDuration,
			}
			if minor >= 15 {
				plan.MaintenanceInfo = p.MaintenanceInfo
			}
			o.Plans = append(o.Plans, plan)
		}
		out = append(out, o)
	}
	return out
}

// toDomainServices converts the catalog for brokerapi, which checks request ids against it.
func toDomainServices(services []catalog.Service) []domain.Service {
	var out []domain.Service
	data, err := json.Marshal(publicCatalog(services, latestAPIMinor))
	if err == nil {
		err = json.Unmarshal(data, &out)
	}
	if err != nil {
		// The catalog was validated as JSON-serialisable at load; this cannot happen.
		panic(err)
	}
	return out
}

func (b *Broker) serveCatalog(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"services": publicCatalog(b.catalog.Services(), apiMinor(r))})
}
