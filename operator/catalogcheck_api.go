package operator

import (
	"net/http"
)

// catalogCheckAnswer is GET /admin/v1/catalog/check's answer: what the served catalog takes
// away from live instances, and whether there is any (the CLI's exit status 1).
type catalogCheckAnswer struct {
	Findings []Finding `json:"findings"`
	Found    bool      `json:"found"`
}

// checkCatalog answers GET /admin/v1/catalog/check: the catalog the broker serves, checked
// against the instances in the state database as `catalog check` checks a file.
func (a *API) checkCatalog(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		a.writeFailure(w, r, badRequest("this route takes no query parameters"))
		return
	}
	findings, err := a.op.CheckCatalog(r.Context())
	if err != nil {
		a.writeFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, catalogCheckAnswer{Findings: findings, Found: len(findings) > 0})
}
