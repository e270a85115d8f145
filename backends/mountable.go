package backends

import (
	"net/url"
	"regexp"
)

// Provider is the provider entry of every binding's credentials.
const Provider = "omnibroker"

// schemeTypes maps a credentials uri's scheme to the servicebinding.io type of the service.
var schemeTypes = map[string]string{
	"postgres":   "postgresql",
	"postgresql": "postgresql",
	"mysql":      "mysql",
	"redis":      "redis",
	"rediss":     "redis",
	"amqp":       "rabbitmq",
	"amqps":      "rabbitmq",
}

// secretKey is what Kubernetes accepts as the key of a Secret's data.
var secretKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// ValidSecretKey reports whether k may name an entry of a Kubernetes Secret.
func ValidSecretKey(k string) bool { return secretKey.MatchString(k) }

// Mountable returns c with the well-known entries of the Service Binding Specification for
// Kubernetes (servicebinding.io), which Korifi and Spring Cloud Bindings read, added next to
// the keys c has: type (from the uri's scheme), provider, host (from hostname) and database
// (from name). A key c already has stays as it is, so Mountable of Mountable(c) is Mountable(c)
// and credentials sealed before these keys existed get them when they are read.
func Mountable(c Credentials) Credentials {
	out := make(Credentials, len(c)+4)
	for k, v := range c {
		out[k] = v
	}
	if raw, ok := c["uri"].(string); ok {
		if u, err := url.Parse(raw); err == nil {
			if t, known := schemeTypes[u.Scheme]; known {
				setMissing(out, "type", t)
			}
		}
	}
	setMissing(out, "provider", Provider)
	if v, ok := c["hostname"]; ok {
		setMissing(out, "host", v)
	}
	if v, ok := c["name"]; ok {
		setMissing(out, "database", v)
	}
	return out
}

func setMissing(c Credentials, k string, v any) {
	if _, ok := c[k]; !ok {
		c[k] = v
	}
}
