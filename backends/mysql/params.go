package mysql

import (
	"encoding/json"
	"fmt"
	"math"
)

// defaultMaxUserConnections is a binding user's connection limit when the plan sets none.
const defaultMaxUserConnections = 20

// maxUserConnections reads the plan's max_user_connections: a positive whole number, the most
// connections each binding's user may hold at once. JSON numbers arrive as float64 from a
// decoder, as int from YAML or code.
func maxUserConnections(plan string, cfg map[string]any) (int, error) {
	v, ok := cfg["max_user_connections"]
	if !ok || v == nil {
		return defaultMaxUserConnections, nil
	}
	var (
		n     float64
		valid = true
	)
	switch x := v.(type) {
	case int:
		n = float64(x)
	case int32:
		n = float64(x)
	case int64:
		n = float64(x)
	case uint64:
		n = float64(x)
	case float64:
		n = x
	case json.Number:
		f, err := x.Float64()
		n, valid = f, err == nil
	default:
		valid = false
	}
	if !valid || n != math.Trunc(n) || n < 1 || n > math.MaxInt32 {
		return 0, permanent(
			fmt.Sprintf("plan %s sets max_user_connections to something other than a positive whole number", plan),
			fmt.Errorf("max_user_connections is %v (%T)", v, v))
	}
	return int(n), nil
}
