package rabbitmq

import (
	"fmt"
	"maps"
	"regexp"
	"slices"

	rabbithole "github.com/michaelklishin/rabbit-hole/v3"

	"github.com/omnibroker/omnibroker/backends"
)

// planPermissions reads the plan's permissions: configure, write and read, each a regular
// expression over the names of the vhost's exchanges and queues, as RabbitMQ takes them (""
// grants nothing). Each left out is ".*", everything in the instance's vhost; no setting can
// reach another vhost.
func planPermissions(plan string, cfg map[string]any) (rabbithole.Permissions, error) {
	perms := rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"}
	v, ok := cfg["permissions"]
	if !ok || v == nil {
		return perms, nil
	}
	bad := func(why string) error {
		return backends.Permanent(
			fmt.Sprintf("plan %s sets permissions to something other than configure, write and read regular expressions", plan),
			fmt.Errorf("permissions: %s", why))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return perms, bad(fmt.Sprintf("a %T", v))
	}
	fields := map[string]*string{"configure": &perms.Configure, "write": &perms.Write, "read": &perms.Read}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		field, known := fields[k]
		s, isString := m[k].(string)
		if !known || !isString {
			return perms, bad("key " + k)
		}
		if _, err := regexp.Compile(s); err != nil {
			return perms, bad(k + " does not compile")
		}
		*field = s
	}
	return perms, nil
}

// planManagement reads the plan's management_api: true gives the binding users the management
// tag, with which RabbitMQ lets them use the management API for the vhosts they have
// permissions on (their instance's) alone; false or left out gives them no tags.
func planManagement(plan string, cfg map[string]any) (bool, error) {
	switch v := cfg["management_api"].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	default:
		return false, backends.Permanent(
			fmt.Sprintf("plan %s sets management_api to something other than true or false", plan),
			fmt.Errorf("management_api is a %T", v))
	}
}
