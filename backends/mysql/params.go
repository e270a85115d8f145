package mysql

import (
	"fmt"

	"github.com/omnibroker/omnibroker/backends"
)

// defaultMaxUserConnections is a binding user's connection limit when the plan sets none.
const defaultMaxUserConnections = 20

// maxUserConnections reads the plan's max_user_connections: a positive whole number, the most
// connections each binding's user may hold at once.
func maxUserConnections(plan string, cfg map[string]any) (int, error) {
	v, ok := cfg["max_user_connections"]
	if !ok || v == nil {
		return defaultMaxUserConnections, nil
	}
	n, ok := backends.WholeNumber(v)
	if !ok || n < 1 {
		return 0, backends.Permanent(
			fmt.Sprintf("plan %s sets max_user_connections to something other than a positive whole number", plan),
			fmt.Errorf("max_user_connections is %v (%T)", v, v))
	}
	return n, nil
}
