package backends

import (
	"fmt"
	"net/url"
	"strconv"
)

// BindingEndpoint is an OSB binding endpoint: a host, its ports (numbers or ranges, as strings) and
// the protocol, "tcp" for every service the broker offers.
type BindingEndpoint struct {
	Host     string   `json:"host"`
	Ports    []string `json:"ports"`
	Protocol string   `json:"protocol"`
}

// EndpointsOf is where an application with credentials c connects: the host and port they name
// (the well-known host, else hostname), and the management API's host and port when they hold
// an http_api_uri. Reading them from the credentials keeps endpoints and credentials one truth,
// for bindings sealed before endpoints were answered too.
func EndpointsOf(c Credentials) []BindingEndpoint {
	var out []BindingEndpoint
	host, _ := c["host"].(string)
	if host == "" {
		host, _ = c["hostname"].(string)
	}
	if port := portString(c["port"]); host != "" && port != "" {
		out = append(out, BindingEndpoint{Host: host, Ports: []string{port}, Protocol: "tcp"})
	}
	if raw, ok := c["http_api_uri"].(string); ok {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			port := u.Port()
			if port == "" {
				port = map[string]string{"https": "443"}[u.Scheme]
				if port == "" {
					port = "80"
				}
			}
			out = append(out, BindingEndpoint{Host: u.Hostname(), Ports: []string{port}, Protocol: "tcp"})
		}
	}
	return out
}

// portString is a credentials port (an int from an adapter, a float64 once decoded from JSON,
// or a string) as OSB's endpoint ports say it.
func portString(v any) string {
	switch p := v.(type) {
	case int:
		return fmt.Sprint(p)
	case float64:
		if p == float64(int(p)) && p > 0 {
			return fmt.Sprint(int(p))
		}
	case string:
		if n, err := strconv.Atoi(p); err == nil && n > 0 {
			return p
		}
	}
	return ""
}
