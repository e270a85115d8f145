package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/catalog"
)

// defaults is every setting with a default, and that default as declared in its package.
var defaults = map[string]any{
	"OMNIBROKER_CONFIG":           defaultCatalogPath,
	"OMNIBROKER_LISTEN":           defaultListen,
	"OMNIBROKER_WORKERS":          broker.DefaultWorkers,
	"OMNIBROKER_LEASE":            broker.DefaultLease,
	"OMNIBROKER_POLL_INTERVAL":    broker.DefaultPollInterval,
	"OMNIBROKER_RESCUE_INTERVAL":  broker.DefaultRescueInterval,
	"OMNIBROKER_RETRY_BASE":       broker.DefaultRetryBase,
	"OMNIBROKER_MAX_ATTEMPTS":     broker.DefaultMaxAttempts,
	"OMNIBROKER_SYNC_BUDGET":      broker.DefaultSyncBudget,
	"OMNIBROKER_WAIT_POLL":        broker.DefaultWaitPoll,
	"OMNIBROKER_SHUTDOWN_TIMEOUT": broker.DefaultShutdownTimeout,
	"OMNIBROKER_RESTORE_INTERVAL": broker.DefaultRestoreInterval,
	"OMNIBROKER_EXPIRY_INTERVAL":  broker.DefaultExpiryInterval,
	"OMNIBROKER_LOGIN_FAILURES":   broker.DefaultLoginFailures,
	"OMNIBROKER_LOGIN_INTERVAL":   broker.DefaultLoginInterval,
	"OMNIBROKER_LOG_LEVEL":        defaultLogLevel.String(),
}

// TestREADMEDefaults checks that the README's configuration table states the declared
// defaults.
func TestREADMEDefaults(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| `([^`]*)` \\|")
	stated := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		stated[m[1]] = m[2]
	}
	for name, want := range defaults {
		cell, ok := stated[name]
		if !ok {
			t.Errorf("README: no row with a default for %s", name)
			continue
		}
		if !sameSetting(cell, want) {
			t.Errorf("README: %s defaults to `%s`, but the code says %v", name, cell, want)
		}
	}
}

// TestREADMELimits checks the README's other statements of declared defaults and limits.
func TestREADMELimits(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pattern string
		want    []time.Duration
	}{
		{"`wait_budget` \\(default `([^`]+)`, at most `([^`]+)`\\)", []time.Duration{catalog.DefaultWaitBudget, catalog.MaxWaitBudget}},
		{"`OMNIBROKER_SYNC_BUDGET` \\|[^|]*\\| [^|]*\\(at most ([0-9a-z]+):", []time.Duration{broker.MaxSyncBudget}},
	} {
		m := regexp.MustCompile(c.pattern).FindStringSubmatch(string(readme))
		if m == nil {
			t.Errorf("README: nothing matches %s", c.pattern)
			continue
		}
		for i, want := range c.want {
			if !sameSetting(m[i+1], want) {
				t.Errorf("README: %q states %s, but the code says %s", m[0], m[i+1], want)
			}
		}
	}
}

// TestConfigDefaults checks that an empty environment gives the declared defaults.
func TestConfigDefaults(t *testing.T) {
	for name := range defaults {
		t.Setenv(name, "")
	}
	t.Setenv("DATABASE_URL", "postgres://127.0.0.1/x")
	cfg, err := loadConfig(stateSettings, serveSettings)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"OMNIBROKER_CONFIG":           cfg.CatalogPath,
		"OMNIBROKER_LISTEN":           cfg.Listen,
		"OMNIBROKER_WORKERS":          cfg.Workers,
		"OMNIBROKER_LEASE":            cfg.Lease,
		"OMNIBROKER_POLL_INTERVAL":    cfg.PollInterval,
		"OMNIBROKER_RESCUE_INTERVAL":  cfg.RescueInterval,
		"OMNIBROKER_RETRY_BASE":       cfg.RetryBase,
		"OMNIBROKER_MAX_ATTEMPTS":     cfg.MaxAttempts,
		"OMNIBROKER_SYNC_BUDGET":      cfg.SyncBudget,
		"OMNIBROKER_WAIT_POLL":        cfg.WaitPoll,
		"OMNIBROKER_SHUTDOWN_TIMEOUT": cfg.ShutdownTimeout,
		"OMNIBROKER_RESTORE_INTERVAL": cfg.RestoreInterval,
		"OMNIBROKER_EXPIRY_INTERVAL":  cfg.ExpiryInterval,
		"OMNIBROKER_LOGIN_FAILURES":   cfg.Logins.Failures,
		"OMNIBROKER_LOGIN_INTERVAL":   cfg.Logins.Interval,
		"OMNIBROKER_LOG_LEVEL":        cfg.LogLevel.String(),
	}
	for name, want := range defaults {
		if got[name] != want {
			t.Errorf("%s unset: got %v, want %v", name, got[name], want)
		}
	}
}

// sameSetting tells whether a README cell states value: a duration such as `1m` by what it
// means, anything else as written.
func sameSetting(cell string, value any) bool {
	switch v := value.(type) {
	case time.Duration:
		d, err := time.ParseDuration(cell)
		return err == nil && d == v
	case int:
		n, err := strconv.Atoi(cell)
		return err == nil && n == v
	default:
		return strings.EqualFold(cell, v.(string))
	}
}

// TestREADMEListsEverySetting checks that every environment variable a command reads, as its
// --help lists it, has a line in --help and a row in the README's configuration table that
// states its default.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| ((?:`[A-Z_]+`(?:, )?)+) \\| ([^|]*) \\|")
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		for _, name := range regexp.MustCompile("`([A-Z_]+)`").FindAllStringSubmatch(m[1], -1) {
			rows[name[1]] = strings.TrimSpace(m[2])
		}
	}
	for _, cmd := range commands {
		for _, v := range commandEnv(&cmd) {
			if settingUsage[v.name] == "" {
				t.Errorf("%s reads %s, which has no line in settingUsage", cmd.name, v.name)
			}
			cell, ok := rows[v.name]
			switch {
			case !ok:
				t.Errorf("README: no row for %s, which %s reads", v.name, cmd.name)
			case v.optional:
				if !strings.Contains(cell, "`"+cmd.name+"`") {
					t.Errorf("README: the row of %s does not say that %s reads it only when it is set", v.name, cmd.name)
				}
			case showDefault(v) == "(required)" || showDefault(v) == "(none)":
				if !strings.HasPrefix(cell, "*"+showDefault(v)) {
					t.Errorf("README: %s defaults to %s, but --help says %s", v.name, cell, showDefault(v))
				}
			case !sameSetting(strings.Trim(cell, "`"), showDefault(v)):
				t.Errorf("README: %s defaults to %s, but --help says %s", v.name, cell, showDefault(v))
			}
		}
	}
}

// TestREADMECommands checks that the README's list of sub-commands is what `omnibroker help`
// prints.
func TestREADMECommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := help(&out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```\n$ omnibroker help\n"+out.String()+"```\n") {
		t.Errorf("README: no block of `omnibroker help` as it prints:\n%s", out.String())
	}
}
