package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/internal/fault"
)

// Config is every setting of the broker, read from the environment.
type Config struct {
	DatabaseURL string
	// NoState says why DatabaseURL is empty, for a command whose state database is optional.
	NoState     string
	CatalogPath string
	Listen      string
	// MetricsListen, when set, is the address /metrics is served on instead of Listen's.
	MetricsListen string
	Username      string
	Password      string
	// NextUsername and NextPassword are a second platform credential, accepted beside the
	// first while the platform's password rotates; NextUsername defaults to Username.
	NextUsername string
	NextPassword string
	// AdminUsername and AdminPassword are the operator API's login; unset, it is off.
	AdminUsername   string
	AdminPassword   string
	TLSCert         string
	TLSKey          string
	EncryptionKey   string
	OldKeys         []string
	Workers         int
	Lease           time.Duration
	PollInterval    time.Duration
	RescueInterval  time.Duration
	RetryBase       time.Duration
	MaxAttempts     int
	SyncBudget      time.Duration
	WaitPoll        time.Duration
	ShutdownTimeout time.Duration
	RestoreInterval time.Duration
	ExpiryInterval  time.Duration
	Logins          broker.LoginLimits
	LogLevel        lager.LogLevel
	// Fault is the test-only hook's point (internal/fault); production leaves it empty.
	Fault string
}

// settingError names the setting that stopped start-up and why.
type settingError struct{ name, why string }

func (e *settingError) Error() string { return e.name + " " + e.why }

// The defaults that belong to cmd itself; those of the broker's settings are broker's
// Default… constants.
const (
	defaultCatalogPath = "config/catalog.yml"
	defaultListen      = ":8080"
	defaultLogLevel    = lager.INFO
)

// settingUsage is each setting's line in --help; the README's Configuration table says more.
var settingUsage = map[string]string{
	"DATABASE_URL":                   "the state database (a postgres:// URL); on Cloud Foundry, a bound PostgreSQL service instead",
	"VCAP_SERVICES":                  "set by Cloud Foundry: the services bound to the app, where the state database is looked for without DATABASE_URL",
	databaseServiceEnv:               "the bound service (its name in VCAP_SERVICES) that is the state database, before DATABASE_URL",
	"OMNIBROKER_CONFIG":              "the catalog file",
	"OMNIBROKER_LISTEN":              "address the API and the probes /healthz and /readyz listen on",
	"OMNIBROKER_METRICS_LISTEN":      "address of a listener of its own for /metrics (default: /metrics on OMNIBROKER_LISTEN)",
	"OMNIBROKER_WORKERS":             "workers running queued operations in this process (0 to 256)",
	"OMNIBROKER_LEASE":               "how long a claimed operation stays with its worker without a heartbeat",
	"OMNIBROKER_POLL_INTERVAL":       "how often idle workers look for work",
	"OMNIBROKER_RESCUE_INTERVAL":     "how often the workers' database session and other replicas' are checked",
	"OMNIBROKER_RETRY_BASE":          "first back-off after a transient failure",
	"OMNIBROKER_MAX_ATTEMPTS":        "attempts before an operation fails",
	"OMNIBROKER_SYNC_BUDGET":         "how long a request without accepts_incomplete=true waits",
	"OMNIBROKER_WAIT_POLL":           "how often a waiting request re-reads its operation when no wake-up came",
	"OMNIBROKER_SHUTDOWN_TIMEOUT":    "on SIGTERM, how long running operations may finish",
	"OMNIBROKER_RESTORE_INTERVAL":    "how often lost Redis ACL users are looked for (0: never)",
	"OMNIBROKER_EXPIRY_INTERVAL":     "how often bindings past their lifetime are looked for",
	"OMNIBROKER_LOGIN_FAILURES":      "wrong credentials one address may send at once",
	"OMNIBROKER_LOGIN_INTERVAL":      "after those, how often an address may try another",
	"OMNIBROKER_LOG_LEVEL":           "debug, info, error or fatal",
	fault.Env:                        "test-only: never set it in production",
	"OMNIBROKER_USERNAME":            "basic-auth user name the platform uses",
	"OMNIBROKER_PASSWORD":            "basic-auth password the platform uses",
	"OMNIBROKER_NEXT_USERNAME":       "a second platform user name, while the password rotates (default: OMNIBROKER_USERNAME)",
	"OMNIBROKER_NEXT_PASSWORD":       "a second platform password, accepted beside OMNIBROKER_PASSWORD while it rotates",
	"OMNIBROKER_ADMIN_USERNAME":      "basic-auth user name of the operator API under /admin/v1 (unset: the API is off)",
	"OMNIBROKER_ADMIN_PASSWORD":      "basic-auth password of the operator API, not one of the platform's",
	"OMNIBROKER_TLS_CERT":            "PEM certificate file: with OMNIBROKER_TLS_KEY, serve HTTPS only (re-read when it changes)",
	"OMNIBROKER_TLS_KEY":             "PEM private key file of OMNIBROKER_TLS_CERT",
	"OMNIBROKER_ENCRYPTION_KEY":      "base64 of 32 random bytes that seals credentials at rest",
	"OMNIBROKER_OLD_ENCRYPTION_KEYS": "comma-separated base64 keys still accepted for reading",
}

// settings reads one group of settings into the Config; each sub-command names the groups it
// reads (commands.go), so that its --help lists exactly those.
type settings func(c *Config, r *envReader)

// loadConfig reads the groups of settings from the environment. The first problem found is
// returned, naming the variable.
func loadConfig(groups ...settings) (Config, error) {
	r := envReader{}
	cfg := Config{}
	for _, read := range groups {
		read(&cfg, &r)
	}
	return cfg, r.err
}

// stateSettings is the state database, which every command that touches state reads:
// DATABASE_URL, or on Cloud Foundry the PostgreSQL service bound to the app (vcap.go).
// Cloud Controller sets DATABASE_URL itself, to the first bound service whose credentials
// have a database uri, so a service named in OMNIBROKER_DATABASE_SERVICE comes before it.
func stateSettings(c *Config, r *envReader) {
	if err := readState(c, r, r.requiredUnlessBound("DATABASE_URL")); err != nil {
		r.fail(err.name, err.why)
	}
}

// optionalStateSettings is stateSettings for a command that also works without a state
// database (catalog check): when none is set, or its settings are wrong, DatabaseURL stays
// empty and NoState says why, for the command to say.
func optionalStateSettings(c *Config, r *envReader) {
	r.read = append(r.read, envVar{name: "DATABASE_URL", optional: true})
	if err := readState(c, r, os.Getenv("DATABASE_URL")); err != nil {
		c.DatabaseURL, c.NoState = "", err.Error()
	}
}

// readState sets c.DatabaseURL from url (DATABASE_URL) and the Cloud Foundry settings, or
// says which setting is missing or wrong.
func readState(c *Config, r *envReader, url string) *settingError {
	vcap := r.text("VCAP_SERVICES", "")
	service := r.text(databaseServiceEnv, "")
	var err *settingError
	switch {
	case service != "" && vcap == "":
		err = &settingError{databaseServiceEnv, "is set, but VCAP_SERVICES is not"}
	case service != "":
		c.DatabaseURL, err = boundDatabase(vcap, service)
	case url != "":
		c.DatabaseURL = url
	case vcap != "":
		c.DatabaseURL, err = boundDatabase(vcap, "")
	default:
		err = &settingError{"DATABASE_URL", "is not set"}
	}
	return err
}

// serveSettings is how serve runs: the catalog, the listener, the workers and the log.
func serveSettings(c *Config, r *envReader) {
	c.CatalogPath = r.text("OMNIBROKER_CONFIG", defaultCatalogPath)
	c.Listen = r.text("OMNIBROKER_LISTEN", defaultListen)
	c.MetricsListen = r.text("OMNIBROKER_METRICS_LISTEN", "")
	c.Workers = r.integer("OMNIBROKER_WORKERS", broker.DefaultWorkers, 0, 256)
	c.Lease = r.duration("OMNIBROKER_LEASE", broker.DefaultLease, time.Second, time.Hour)
	c.PollInterval = r.duration("OMNIBROKER_POLL_INTERVAL", broker.DefaultPollInterval, 10*time.Millisecond, time.Minute)
	c.RescueInterval = r.duration("OMNIBROKER_RESCUE_INTERVAL", broker.DefaultRescueInterval, 100*time.Millisecond, time.Minute)
	c.RetryBase = r.duration("OMNIBROKER_RETRY_BASE", broker.DefaultRetryBase, 10*time.Millisecond, time.Minute)
	c.MaxAttempts = r.integer("OMNIBROKER_MAX_ATTEMPTS", broker.DefaultMaxAttempts, 1, 100)
	c.SyncBudget = r.duration("OMNIBROKER_SYNC_BUDGET", broker.DefaultSyncBudget, time.Second, broker.MaxSyncBudget)
	c.WaitPoll = r.duration("OMNIBROKER_WAIT_POLL", broker.DefaultWaitPoll, 10*time.Millisecond, time.Hour)
	c.ShutdownTimeout = r.duration("OMNIBROKER_SHUTDOWN_TIMEOUT", broker.DefaultShutdownTimeout, 0, 10*time.Minute)
	c.RestoreInterval = r.durationOrOff("OMNIBROKER_RESTORE_INTERVAL", broker.DefaultRestoreInterval, time.Second, 24*time.Hour)
	c.ExpiryInterval = r.duration("OMNIBROKER_EXPIRY_INTERVAL", broker.DefaultExpiryInterval, time.Second, time.Hour)
	c.Logins = broker.LoginLimits{
		Failures: r.integer("OMNIBROKER_LOGIN_FAILURES", broker.DefaultLoginFailures, 1, 1000000),
		Interval: r.duration("OMNIBROKER_LOGIN_INTERVAL", broker.DefaultLoginInterval, 10*time.Millisecond, time.Hour),
	}
	c.LogLevel = r.logLevel("OMNIBROKER_LOG_LEVEL")
	c.Fault = r.text(fault.Env, "")
	c.TLSCert = r.text("OMNIBROKER_TLS_CERT", "")
	c.TLSKey = r.text("OMNIBROKER_TLS_KEY", "")
	r.together("OMNIBROKER_TLS_CERT", c.TLSCert, "OMNIBROKER_TLS_KEY", c.TLSKey)
}

// authSettings is the platform's basic-auth credentials.
func authSettings(c *Config, r *envReader) {
	c.Username = r.required("OMNIBROKER_USERNAME")
	c.Password = r.required("OMNIBROKER_PASSWORD")
	c.NextUsername = r.text("OMNIBROKER_NEXT_USERNAME", "")
	c.NextPassword = r.text("OMNIBROKER_NEXT_PASSWORD", "")
	switch {
	case c.NextUsername != "" && c.NextPassword == "":
		r.fail("OMNIBROKER_NEXT_USERNAME", "is set without OMNIBROKER_NEXT_PASSWORD")
	case c.NextUsername == "":
		c.NextUsername = c.Username
	}
}

// adminSettings is the operator API's login (/admin/v1), which must not be one of the
// platform's: a platform that holds the broker's credentials must not also hold the repairs.
// It is read after authSettings.
func adminSettings(c *Config, r *envReader) {
	c.AdminUsername = r.text("OMNIBROKER_ADMIN_USERNAME", "")
	c.AdminPassword = r.text("OMNIBROKER_ADMIN_PASSWORD", "")
	switch {
	case (c.AdminUsername == "") != (c.AdminPassword == ""):
		r.fail("OMNIBROKER_ADMIN_USERNAME", "and OMNIBROKER_ADMIN_PASSWORD are set one without the other; set both to turn the operator API on, or neither")
	case c.AdminPassword != "" && (c.AdminPassword == c.Password || c.AdminPassword == c.NextPassword):
		r.fail("OMNIBROKER_ADMIN_PASSWORD", "is one of the platform's passwords; the operator API needs a password of its own")
	}
}

// admin is the operator API's login, none when it is off.
func (c Config) admin() []broker.Credential {
	if c.AdminPassword == "" {
		return nil
	}
	return []broker.Credential{{Username: c.AdminUsername, Password: c.AdminPassword}}
}

// keySettings is the keys that seal credentials at rest.
func keySettings(c *Config, r *envReader) {
	c.EncryptionKey = r.required("OMNIBROKER_ENCRYPTION_KEY")
	if old := r.text("OMNIBROKER_OLD_ENCRYPTION_KEYS", ""); old != "" {
		c.OldKeys = strings.Split(old, ",")
	}
}

// envReader reads environment variables, keeping the first problem, and lists each variable
// it was asked for with its default, for --help.
type envReader struct {
	err  error
	read []envVar
}

// envVar is a variable a command reads and its default (nil: it has none). optional marks a
// variable that other commands require and this one reads only when it is set.
type envVar struct {
	name     string
	def      any
	required bool
	optional bool
}

func (r *envReader) fail(name, why string) {
	if r.err == nil {
		r.err = &settingError{name: name, why: why}
	}
}

// together fails unless the settings a and b are both set or both unset.
func (r *envReader) together(a, aValue, b, bValue string) {
	switch {
	case aValue != "" && bValue == "":
		r.fail(b, "is not set, but "+a+" is: give both or neither")
	case aValue == "" && bValue != "":
		r.fail(a, "is not set, but "+b+" is: give both or neither")
	}
}

// platform is the credentials the platform may log in with: the second only while one is
// set for a rotation.
func (c Config) platform() []broker.Credential {
	creds := []broker.Credential{{Username: c.Username, Password: c.Password}}
	if c.NextPassword != "" {
		creds = append(creds, broker.Credential{Username: c.NextUsername, Password: c.NextPassword})
	}
	return creds
}

// requiredUnlessBound reads a setting that --help lists as required but that a service bound
// on Cloud Foundry may stand in for: its caller says whether it is missing.
func (r *envReader) requiredUnlessBound(name string) string {
	r.read = append(r.read, envVar{name: name, required: true})
	return os.Getenv(name)
}

func (r *envReader) required(name string) string {
	v := r.requiredUnlessBound(name)
	if v == "" {
		r.fail(name, "is not set")
	}
	return v
}

func (r *envReader) text(name, def string) string {
	return setting(r, name, def, "", func(v string) (string, bool) { return v, true })
}

func (r *envReader) integer(name string, def, lo, hi int) int {
	return setting(r, name, def, fmt.Sprintf("must be a whole number from %d to %d", lo, hi), func(v string) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= lo && n <= hi
	})
}

func (r *envReader) duration(name string, def, lo, hi time.Duration) time.Duration {
	return setting(r, name, def, fmt.Sprintf("must be a duration such as 30s, from %s to %s", lo, hi), func(v string) (time.Duration, bool) {
		d, err := time.ParseDuration(v)
		return d, err == nil && d >= lo && d <= hi
	})
}

// durationOrOff is duration for a setting that 0 turns off.
func (r *envReader) durationOrOff(name string, def, lo, hi time.Duration) time.Duration {
	return setting(r, name, def, fmt.Sprintf("must be 0 (off) or a duration such as 1m, from %s to %s", lo, hi), func(v string) (time.Duration, bool) {
		d, err := time.ParseDuration(v)
		return d, err == nil && (d == 0 || d >= lo && d <= hi)
	})
}

func (r *envReader) logLevel(name string) lager.LogLevel {
	return setting(r, name, defaultLogLevel, "must be one of debug, info, error, fatal", func(v string) (lager.LogLevel, bool) {
		level, err := lager.LogLevelFromString(v)
		return level, err == nil
	})
}

// setting reads the variable name with parse: def when it is unset, and def with a failure
// saying why when parse does not accept its value.
func setting[T any](r *envReader, name string, def T, why string, parse func(string) (T, bool)) T {
	r.read = append(r.read, envVar{name: name, def: def})
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	value, ok := parse(v)
	if !ok {
		r.fail(name, why)
		return def
	}
	return value
}
