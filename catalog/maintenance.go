package catalog

import (
	"encoding/json"
	"regexp"
)

// semverPattern is the regular expression semver.org gives for a Semantic Versioning 2.0.0
// version: MAJOR.MINOR.PATCH without leading zeros, an optional pre-release and build. It is
// stricter than golang.org/x/mod/semver, which also takes "v1" and "v1.2" and needs the "v".
var semverPattern = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// maxMaintenanceInfoBytes is the most JSON Cloud Controller stores for a plan's
// maintenance_info.
const maxMaintenanceInfoBytes = 2000

// IsSemver reports whether v is a Semantic Versioning 2.0.0 version, such as "1.2.0" or
// "2.0.0-rc.1+build.5".
func IsSemver(v string) bool { return semverPattern.MatchString(v) }

// checkMaintenanceInfo reports a maintenance_info without a semver version, or larger than
// Cloud Controller takes. Keys other than version and description are refused by decode.
func checkMaintenanceInfo(ps *problems, at string, m *MaintenanceInfo) {
	if m == nil {
		return
	}
	switch {
	case m.Version == "":
		ps.add(at, "maintenance_info.version is required, a semantic version such as \"1.0.0\"")
	case !IsSemver(m.Version):
		ps.add(at, "maintenance_info.version %q is not a semantic version such as \"1.0.0\"", m.Version)
	}
	if data, _ := json.Marshal(m); len(data) > maxMaintenanceInfoBytes {
		ps.add(at, "maintenance_info is %d bytes of JSON, more than the %d Cloud Controller takes", len(data), maxMaintenanceInfoBytes)
	}
}
