package broker

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/catalog"
)

// osbService is a service as platforms see it: the OSB fields only, without the backend
// settings, and without the empty schema objects brokerapi's types would add. Of its plans'
// fields, forVersion leaves out maintenance_info (OSB 2.15) and binding_rotatable (OSB 2.17)
// for older platforms.
type osbService struct {
	catalog.OSBService
	Plans []catalog.OSBPlan `json:"plans"`
}

// publicCatalog is the catalog with every field the broker writes; what a platform of an
// older minor version does not know of, catalogAnswers leaves out (forVersion).
func publicCatalog(services []catalog.Service) []osbService {
	out := make([]osbService, 0, len(services))
	for _, s := range services {
		o := osbService{OSBService: s.OSBService, Plans: make([]catalog.OSBPlan, 0, len(s.Plans))}
		for _, p := range s.Plans {
			o.Plans = append(o.Plans, p.OSBPlan)
		}
		out = append(out, o)
	}
	return out
}

// toDomainServices converts the catalog for brokerapi, which checks request ids against it.
func toDomainServices(services []catalog.Service) []domain.Service {
	var out []domain.Service
	data, err := json.Marshal(publicCatalog(services))
	if err == nil {
		err = json.Unmarshal(data, &out)
	}
	if err != nil {
		// The catalog was validated as JSON-serialisable at load; this cannot happen.
		panic(err)
	}
	return out
}

// catalogAnswer is the body of GET /v2/catalog in one minor version of the API, and its ETag.
type catalogAnswer struct {
	body []byte
	etag string
}

// catalogAnswers renders the catalog once for each minor version the broker speaks, each with
// the fields that version knows of (forVersion): the catalog never changes while the broker runs.
func catalogAnswers(services []catalog.Service) map[int]catalogAnswer {
	out := map[int]catalogAnswer{}
	for minor := minAPIMinor; minor <= latestAPIMinor; minor++ {
		var doc []any
		for _, s := range publicCatalog(services) {
			fields := forVersion(serviceObject, asFields(s), minor)
			plans, _ := fields["plans"].([]any)
			for _, p := range plans {
				if plan, ok := p.(map[string]any); ok {
					forVersion(planObject, plan, minor)
				}
			}
			doc = append(doc, fields)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(map[string]any{"services": doc}); err != nil {
			// The catalog was validated as JSON-serialisable at load; this cannot happen.
			panic(err)
		}
		out[minor] = catalogAnswer{body: buf.Bytes(), etag: entityTag(buf.Bytes())}
	}
	return out
}

// serveCatalog serves GET /v2/catalog in the request's version of the API, with an ETag; an
// If-None-Match that names it is answered 304 Not Modified without a body (OSB 2.16).
func (b *Broker) serveCatalog(w http.ResponseWriter, r *http.Request) {
	answer := b.catalogs[apiMinor(r)]
	w.Header().Set("ETag", answer.etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && matchesIfNoneMatch(inm, answer.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(answer.body)
}
