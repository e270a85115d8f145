package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// databaseServiceEnv names the bound service whose credentials are the state database, when
// VCAP_SERVICES holds more than one PostgreSQL service.
const databaseServiceEnv = "OMNIBROKER_DATABASE_SERVICE"

// vcapService is one service bound to the app, as Cloud Foundry lists it in VCAP_SERVICES
// (an object of arrays keyed by the offering's label, "user-provided" for `cf cups`).
type vcapService struct {
	Name        string         `json:"name"`
	Label       string         `json:"label"`
	Tags        []string       `json:"tags"`
	Credentials map[string]any `json:"credentials"`
}

// isPostgres tells whether s is a PostgreSQL service: a tag or its label says postgres, or its
// credentials' uri is a postgres:// one (a user-provided service has neither tags nor label).
func (s vcapService) isPostgres() bool {
	if strings.Contains(strings.ToLower(strings.Join(s.Tags, " ")+" "+s.Label), "postgres") {
		return true
	}
	u, err := url.Parse(s.text("uri"))
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}

// text is the credential key as a string, a number too (some brokers send the port as one).
func (s vcapService) text(key string) string {
	switch v := s.Credentials[key].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// first is the first of keys that s's credentials hold.
func (s vcapService) first(keys ...string) string {
	for _, k := range keys {
		if v := s.text(k); v != "" {
			return v
		}
	}
	return ""
}

// databaseURL is the state database URL s's credentials give: their uri, or one built from the
// usual fields (hostname or host, port, name or database, username, password), so that a
// password needing escapes is escaped. It says what is missing, never what is there.
func (s vcapService) databaseURL() (string, *settingError) {
	if uri := s.text("uri"); uri != "" {
		u, err := url.Parse(uri)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return "", &settingError{"VCAP_SERVICES", "binds " + s.Name + ", whose credentials' uri is not a postgres:// URL"}
		}
		return uri, nil
	}
	host := s.first("hostname", "host")
	name := s.first("name", "database", "db_name", "dbname")
	user := s.first("username", "user")
	if host == "" || name == "" || user == "" {
		return "", &settingError{"VCAP_SERVICES", "binds " + s.Name + ", whose credentials have neither a uri nor hostname, name and username"}
	}
	if port := s.text("port"); port != "" {
		host = net.JoinHostPort(host, port)
	}
	u := url.URL{Scheme: "postgres", Host: host, Path: "/" + name, User: url.User(user)}
	if password, ok := s.Credentials["password"].(string); ok {
		u.User = url.UserPassword(user, password)
	}
	return u.String(), nil
}

// boundDatabase is the state database URL of the PostgreSQL service that VCAP_SERVICES (vcap)
// binds: the one named service when name is set, else the only PostgreSQL service there is.
// Its errors name services, never credentials.
func boundDatabase(vcap, name string) (string, *settingError) {
	var bound map[string][]vcapService
	if err := json.Unmarshal([]byte(vcap), &bound); err != nil {
		// json's errors may quote a piece of the text, which holds passwords.
		return "", &settingError{"VCAP_SERVICES", "is not a JSON object of bound services"}
	}
	var found []vcapService
	for _, label := range sortedKeys(bound) {
		for _, s := range bound[label] {
			if name != "" && s.Name == name || name == "" && s.isPostgres() {
				found = append(found, s)
			}
		}
	}
	var names []string
	for _, s := range found {
		names = append(names, s.Name)
	}
	switch {
	case len(found) == 1:
		return found[0].databaseURL()
	case name != "":
		return "", &settingError{databaseServiceEnv, "names " + name + ", which VCAP_SERVICES does not bind"}
	case len(found) == 0:
		return "", &settingError{"DATABASE_URL", "is not set, and VCAP_SERVICES binds no PostgreSQL service"}
	default:
		return "", &settingError{"DATABASE_URL", fmt.Sprintf("is not set, and VCAP_SERVICES binds %d PostgreSQL services (%s): name the state database's in %s",
			len(found), strings.Join(names, ", "), databaseServiceEnv)}
	}
}

// sortedKeys is m's keys in order, so that what boundDatabase finds does not depend on map order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
