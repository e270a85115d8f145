package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/omnibroker/omnibroker/broker"
)

// Config is every setting of the broker, read from the environment.
type Config struct {
	DatabaseURL     string
	CatalogPath     string
	Listen          string
	Username        string
	Password        string
	EncryptionKey   string
	OldKeys         []string
	Workers         int
	Lease           time.Duration
	PollInterval    time.Duration
	RescueInterval  time.Duration
	RetryBase       time.Duration
	MaxAttempts     int
	SyncBudget      time.Duration
	ShutdownTimeout time.Duration
	RestoreInterval time.Duration
	ExpiryInterval  time.Duration
	Logins          broker.LoginLimits
	LogLevel        lager.LogLevel
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

// loadConfig reads the settings from the environment; needAuth and needKeys add the secrets
// that only some sub-commands need. The first problem found is returned, naming the variable.
func loadConfig(needAuth, needKeys bool) (Config, error) {
	r := envReader{}
	cfg := Config{
		DatabaseURL:     r.required("DATABASE_URL"),
		CatalogPath:     r.text("OMNIBROKER_CONFIG", defaultCatalogPath),
		Listen:          r.text("OMNIBROKER_LISTEN", defaultListen),
		Workers:         r.integer("OMNIBROKER_WORKERS", broker.DefaultWorkers, 0, 256),
		Lease:           r.duration("OMNIBROKER_LEASE", broker.DefaultLease, time.Second, time.Hour),
		PollInterval:    r.duration("OMNIBROKER_POLL_INTERVAL", broker.DefaultPollInterval, 10*time.Millisecond, time.Minute),
		RescueInterval:  r.duration("OMNIBROKER_RESCUE_INTERVAL", broker.DefaultRescueInterval, 100*time.Millisecond, time.Minute),
		RetryBase:       r.duration("OMNIBROKER_RETRY_BASE", broker.DefaultRetryBase, 10*time.Millisecond, time.Minute),
		MaxAttempts:     r.integer("OMNIBROKER_MAX_ATTEMPTS", broker.DefaultMaxAttempts, 1, 100),
		SyncBudget:      r.duration("OMNIBROKER_SYNC_BUDGET", broker.DefaultSyncBudget, time.Second, broker.MaxSyncBudget),
		ShutdownTimeout: r.duration("OMNIBROKER_SHUTDOWN_TIMEOUT", broker.DefaultShutdownTimeout, 0, 10*time.Minute),
		RestoreInterval: r.durationOrOff("OMNIBROKER_RESTORE_INTERVAL", broker.DefaultRestoreInterval, time.Second, 24*time.Hour),
		ExpiryInterval:  r.duration("OMNIBROKER_EXPIRY_INTERVAL", broker.DefaultExpiryInterval, time.Second, time.Hour),
		Logins: broker.LoginLimits{
			Failures: r.integer("OMNIBROKER_LOGIN_FAILURES", broker.DefaultLoginFailures, 1, 1000000),
			Interval: r.duration("OMNIBROKER_LOGIN_INTERVAL", broker.DefaultLoginInterval, 10*time.Millisecond, time.Hour),
		},
		LogLevel: r.logLevel("OMNIBROKER_LOG_LEVEL"),
	}
	if needAuth {
		cfg.Username = r.required("OMNIBROKER_USERNAME")
		cfg.Password = r.required("OMNIBROKER_PASSWORD")
	}
	if needKeys {
		cfg.EncryptionKey = r.required("OMNIBROKER_ENCRYPTION_KEY")
		if old := os.Getenv("OMNIBROKER_OLD_ENCRYPTION_KEYS"); old != "" {
			cfg.OldKeys = strings.Split(old, ",")
		}
	}
	return cfg, r.err
}

type envReader struct{ err error }

func (r *envReader) fail(name, why string) {
	if r.err == nil {
		r.err = &settingError{name: name, why: why}
	}
}

func (r *envReader) required(name string) string {
	v := os.Getenv(name)
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

var errUsage = errors.New("usage: omnibroker serve | migrate | reseal | catalog check FILE")
