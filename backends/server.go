package backends

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
)

// Server is how an adapter reaches one node: its name (unique across the catalog), the admin
// URL from the node's environment variable, and the host and port applications are told to
// connect to (empty and 0 mean those of AdminURL, or the kind's default port). CAFile names
// the PEM file of the CA certificates that sign the node's TLS certificate (see ReadCA); it
// needs an AdminURL that asks for TLS.
type Server struct {
	Name     string
	AdminURL string
	Host     string
	Port     int
	CAFile   string
}

// WholeNumber reads a plan setting that must be a whole number within int32: JSON numbers
// arrive as float64 from a decoder, as int from YAML or code. ok is false for anything else.
func WholeNumber(v any) (n int, ok bool) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// Endpoint is a node as the sentences and the applications know it: its name, the host and
// port applications are told to connect to, and the CA they verify its certificate with.
type Endpoint struct {
	Name string
	Host string
	Port int
	CA   CA
}

// NewEndpoint is the endpoint of server cfg, a node of kind, whose Host and Port default to
// host and port (those of its admin URL, or the kind's default port). Its error names the
// node, never its URL. Its CA is the adapter's to set, from ReadCA.
func NewEndpoint(kind string, cfg Server, host string, port int) (Endpoint, error) {
	e := Endpoint{Name: cfg.Name, Host: cfg.Host, Port: cfg.Port}
	if e.Host == "" {
		e.Host = host
	}
	if e.Port == 0 {
		e.Port = port
	}
	if e.Port < 1 || e.Port > 65535 {
		return Endpoint{}, fmt.Errorf("%s node %q: port %d is out of range", kind, cfg.Name, e.Port)
	}
	return e, nil
}

// HostPort is host:port, for the URLs applications get.
func (e Endpoint) HostPort() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// StringList reads a plan setting or parameter that must be a list of strings: from a JSON
// decoder it arrives as []any, from code as []string; absent (nil) is an empty list. ok is
// false for anything else.
func StringList(v any) (list []string, ok bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case []string:
		return slices.Clone(x), true
	case []any:
		for _, e := range x {
			s, isString := e.(string)
			if !isString {
				return nil, false
			}
			list = append(list, s)
		}
		return list, true
	}
	return nil, false
}
