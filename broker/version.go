package broker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// latestAPIMinor is the newest minor version of OSB API 2 whose fields the broker writes.
const latestAPIMinor = 17

// apiMinor is the minor version of the OSB API the request speaks, from its
// X-Broker-API-Version (checkAPIVersion let only 2.N with N >= minAPIMinor through); a minor
// beyond latestAPIMinor counts as latestAPIMinor. What the broker answers leaves out fields
// newer than it.
func apiMinor(r *http.Request) int {
	minor, ok := apiVersionMinor(r.Header.Get(apiVersionHeader))
	if !ok {
		return minAPIMinor
	}
	return min(minor, latestAPIMinor)
}

// answerObject names a kind of JSON object the broker sends a platform.
type answerObject string

const (
	serviceObject         answerObject = "service"
	planObject            answerObject = "plan"
	instanceObject        answerObject = "instance"
	bindingObject         answerObject = "binding"
	bindingMetadataObject answerObject = "binding.metadata"
)

// since lists, for each kind of object, the fields that came with a minor version of OSB API 2 newer
// than the oldest the broker speaks (minAPIMinor), and that minor. forVersion leaves such a
// field out of what the broker sends a platform that asked in an older version, so strict
// older clients (the OSB checker's 2.13 suite checks each plan against a closed schema) keep
// working while the catalog uses the newer fields. A field the broker starts sending takes
// its line here, and every answer that carries it goes through forVersion. Bind and GET
// binding answers are the broker's own (serveBind, serveGetBinding), since brokerapi v10's
// types carry none of the binding fields.
var since = map[answerObject]map[string]int{
	serviceObject:         {"instances_retrievable": 14, "bindings_retrievable": 14, "allow_context_updates": 16},
	planObject:            {"plan_updateable": 15, "maintenance_info": 15, "maximum_polling_duration": 15, "binding_rotatable": 17},
	instanceObject:        {"maintenance_info": 15, "metadata": 16},
	bindingObject:         {"endpoints": 15, "metadata": 16},
	bindingMetadataObject: {"expires_at": 16, "renew_before": 17},
}

// forVersion removes from fields (a decoded JSON object of kind o) what is newer than minor,
// and returns it.
func forVersion(o answerObject, fields map[string]any, minor int) map[string]any {
	for name, introduced := range since[o] {
		if minor < introduced {
			delete(fields, name)
		}
	}
	return fields
}

// asFields is v (a struct the broker sends) as a JSON object's fields.
func asFields(v any) map[string]any {
	out := map[string]any{}
	data, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(data, &out)
	}
	if err != nil {
		// Everything the broker sends was checked as JSON-serialisable when the catalog was
		// loaded or the row was stored; this cannot happen.
		panic(err)
	}
	return out
}

// entityTag is the strong ETag of an answer's body.
func entityTag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// matchesIfNoneMatch tells whether an If-None-Match header (a list of entity tags, or "*")
// names tag, by the weak comparison RFC 9110 prescribes for it.
func matchesIfNoneMatch(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}
