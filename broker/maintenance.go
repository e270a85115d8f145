package broker

import (
	"github.com/pivotal-cf/brokerapi/v10/domain"

	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/store"
)

// askedVersion is the maintenance version a provision or update asks for: the one its
// maintenance_info carries, else the plan's current one, which every update applies.
func askedVersion(plan catalog.Plan, asked *domain.MaintenanceInfo) string {
	if asked == nil {
		return plan.MaintenanceVersion()
	}
	return asked.Version
}

// maintenanceConflict is the 422 MaintenanceInfoConflict for a request whose
// maintenance_info is not plan's (a platform that read the catalog before it changed), and
// nil for a request that matches or carries none.
func maintenanceConflict(plan catalog.Plan, asked *domain.MaintenanceInfo) error {
	current := plan.MaintenanceVersion()
	switch {
	case asked == nil || asked.Version == current:
		return nil
	case current == "":
		return unprocessable("MaintenanceInfoConflict",
			"maintenance_info was sent, but plan %q has none; read the catalog again", plan.Name)
	default:
		return unprocessable("MaintenanceInfoConflict",
			"maintenance_info.version %q is not the version of plan %q, which is %q; read the catalog again", asked.Version, plan.Name, current)
	}
}

// sameMaintenance tells whether a request that asks for a maintenance version (or none)
// matches what the instance records.
func sameMaintenance(have store.Instance, asked *domain.MaintenanceInfo) bool {
	return asked == nil || asked.Version == have.MaintenanceVersion
}

// maintenanceInfo is what GET instance says of the instance's maintenance version, for a
// platform of OSB 2.15 or later; nil when it has none.
func maintenanceInfo(inst store.Instance, minor int) *domain.MaintenanceInfo {
	if inst.MaintenanceVersion == "" || minor < 15 {
		return nil
	}
	return &domain.MaintenanceInfo{Version: inst.MaintenanceVersion}
}
