package broker

import (
	"net/http"
	"strconv"
)

// latestAPIMinor is the newest minor version of OSB API 2 whose fields the broker writes.
const latestAPIMinor = 17

// apiMinor is the minor version of the OSB API the request speaks, from its
// X-Broker-API-Version (checkAPIVersion let only 2.N with N >= minAPIMinor through); a minor
// beyond latestAPIMinor counts as latestAPIMinor. What the broker answers leaves out fields
// newer than it.
func apiMinor(r *http.Request) int {
	m := apiVersion.FindStringSubmatch(r.Header.Get("X-Broker-API-Version"))
	if m == nil {
		return minAPIMinor
	}
	minor, err := strconv.Atoi(m[1])
	if err != nil || minor > latestAPIMinor {
		return latestAPIMinor
	}
	return minor
}
