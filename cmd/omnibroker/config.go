package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"code.cloudfoundry.org/lager/v3"
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
	RetryBase       time.Duration
	MaxAttempts     int
	SyncBudget      time.Duration
	ShutdownTimeout time.Duration
	RestoreInterval time.Duration
	LogLevel        lager.LogLevel
}

// settingError names the setting that stopped start-up and why.
type settingError struct{ name, why string }

func (e *settingError) Error() string { return e.name + " " + e.why }

// loadConfig reads the settings from the environment; needAuth and needKeys add the secrets
// that only some sub-commands need. The first problem found is returned, naming the variable.
func loadConfig(needAuth, needKeys bool) (Config, error) {
	r := envReader{}
	cfg := Config{
		DatabaseURL:     r.required("DATABASE_URL"),
		CatalogPath:     r.text("OMNIBROKER_CONFIG", "config/catalog.yml"),
		Listen:          r.text("OMNIBROKER_LISTEN", ":8080"),
		Workers:         r.integer("OMNIBROKER_WORKERS", 4, 0, 256),
		Lease:           r.duration("OMNIBROKER_LEASE", 30*time.Second, time.Second, time.Hour),
		PollInterval:    r.duration("OMNIBROKER_POLL_INTERVAL", 2*time.Second, 10*time.Millisecond, time.Minute),
		RetryBase:       r.duration("OMNIBROKER_RETRY_BASE", 2*time.Second, 10*time.Millisecond, time.Minute),
		MaxAttempts:     r.integer("OMNIBROKER_MAX_ATTEMPTS", 5, 1, 100),
		SyncBudget:      r.duration("OMNIBROKER_SYNC_BUDGET", 50*time.Second, time.Second, 55*time.Second),
		ShutdownTimeout: r.duration("OMNIBROKER_SHUTDOWN_TIMEOUT", 20*time.Second, 0, 10*time.Minute),
		RestoreInterval: r.durationOrOff("OMNIBROKER_RESTORE_INTERVAL", time.Minute, time.Second, 24*time.Hour),
		LogLevel:        r.logLevel("OMNIBROKER_LOG_LEVEL"),
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
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (r *envReader) integer(name string, def, lo, hi int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

func (r *envReader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.fail(name, fmt.Sprintf("must be a duration such as 30s, from %s to %s", lo, hi))
		return def
	}
	return d
}

// durationOrOff is duration for a setting that 0 turns off.
func (r *envReader) durationOrOff(name string, def, lo, hi time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || (d != 0 && (d < lo || d > hi)) {
		r.fail(name, fmt.Sprintf("must be 0 (off) or a duration such as 1m, from %s to %s", lo, hi))
		return def
	}
	return d
}

func (r *envReader) logLevel(name string) lager.LogLevel {
	v := os.Getenv(name)
	if v == "" {
		return lager.INFO
	}
	level, err := lager.LogLevelFromString(v)
	if err != nil {
		r.fail(name, "must be one of debug, info, error, fatal")
		return lager.INFO
	}
	return level
}

var errUsage = errors.New("usage: omnibroker serve | migrate | reseal | catalog check FILE")
