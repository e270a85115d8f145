package broker

import (
	"context"
	"net/http"
	"strings"

	"code.cloudfoundry.org/lager/v3"
)

// AdminPrefix is where the operator API is served.
const AdminPrefix = "/admin/v1"

// AdminAPI is the operator API that stage 6 of chain serves under AdminPrefix, behind
// credentials of its own. The broker only guards it; cmd wires in operator's handler, which
// the broker does not import.
type AdminAPI struct {
	// Credentials are the operator's logins; with none, every request under AdminPrefix is
	// refused.
	Credentials []Credential
	// Serve answers a request whose credentials are one of Credentials (user is its user
	// name, which the operator's repairs are recorded under) and whose headers, path and
	// query passed the checks every OSB request passes.
	Serve func(w http.ResponseWriter, r *http.Request, user string)
}

// adminOff is the description of a request to the operator API when it is not configured.
const adminOff = "the operator API is off: set OMNIBROKER_ADMIN_USERNAME and OMNIBROKER_ADMIN_PASSWORD to turn it on"

// operatorAPI answers every request under AdminPrefix (stage 6 of chain) and lets the others
// through: 403 when the API is off, 401 or 429 for credentials that are not the operator's
// (the platform's are not, and the failed logins of an address count with its failed logins
// on the OSB API), 400 for a path segment, header or query that the OSB API would refuse too;
// then admin.Serve answers.
func operatorAPI(logger lager.Logger, admin AdminAPI, logins *loginLimiter) func(http.Handler) http.Handler {
	login := newLogin(logger, admin.Credentials, logins, "omnibroker-admin", "the operator API's basic-auth credentials are missing or wrong")
	return func(next http.Handler) http.Handler {
		checked := checkHeaders(checkPath(checkQuery(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, segment := range strings.Split(strings.TrimPrefix(r.URL.Path, AdminPrefix), "/") {
				if problem := checkID(segment); segment != "" && problem != "" {
					writeError(w, http.StatusBadRequest, "BadRequest", "a name or id in the path "+problem)
					return
				}
			}
			admin.Serve(w, r, adminUser(r))
		}))))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != AdminPrefix && !strings.HasPrefix(r.URL.Path, AdminPrefix+"/") {
				next.ServeHTTP(w, r)
				return
			}
			if len(admin.Credentials) == 0 || admin.Serve == nil {
				refuse(w, http.StatusForbidden, "Forbidden", adminOff)
				return
			}
			user, ok := login.check(w, r)
			if !ok {
				return
			}
			checked.ServeHTTP(w, r.WithContext(withAdminUser(r.Context(), user)))
		})
	}
}

// adminUserKey is the context key of the operator API's user name, once checked.
type adminUserKey struct{}

func withAdminUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, adminUserKey{}, user)
}

func adminUser(r *http.Request) string {
	user, _ := r.Context().Value(adminUserKey{}).(string)
	return user
}
