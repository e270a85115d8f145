package main

import (
	"slices"
	"testing"
	"time"

	"github.com/omnibroker/omnibroker/broker"
)

func TestRestoreInterval(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", time.Minute, true},
		{"0", 0, true},
		{"1s", time.Second, true},
		{"15m", 15 * time.Minute, true},
		{"500ms", 0, false},
		{"-1m", 0, false},
		{"48h", 0, false},
		{"often", 0, false},
	} {
		t.Setenv("DATABASE_URL", "postgres://127.0.0.1/x")
		t.Setenv("OMNIBROKER_RESTORE_INTERVAL", tc.value)
		cfg, err := loadConfig(stateSettings, serveSettings)
		switch {
		case tc.ok && err != nil:
			t.Errorf("OMNIBROKER_RESTORE_INTERVAL=%q: %v", tc.value, err)
		case tc.ok && cfg.RestoreInterval != tc.want:
			t.Errorf("OMNIBROKER_RESTORE_INTERVAL=%q: got %s, want %s", tc.value, cfg.RestoreInterval, tc.want)
		case !tc.ok && (err == nil || err.Error() != "OMNIBROKER_RESTORE_INTERVAL must be 0 (off) or a duration such as 1m, from 1s to 24h0m0s"):
			t.Errorf("OMNIBROKER_RESTORE_INTERVAL=%q: got error %v", tc.value, err)
		}
	}
}

func TestPlatformCredentials(t *testing.T) {
	for _, tc := range []struct {
		nextUser, nextPassword string
		want                   []broker.Credential
	}{
		{"", "", []broker.Credential{{Username: "platform", Password: "pw"}}},
		{"", "next-pw", []broker.Credential{{Username: "platform", Password: "pw"}, {Username: "platform", Password: "next-pw"}}},
		{"platform-2", "next-pw", []broker.Credential{{Username: "platform", Password: "pw"}, {Username: "platform-2", Password: "next-pw"}}},
	} {
		t.Setenv("DATABASE_URL", "postgres://127.0.0.1/x")
		t.Setenv("OMNIBROKER_USERNAME", "platform")
		t.Setenv("OMNIBROKER_PASSWORD", "pw")
		t.Setenv("OMNIBROKER_NEXT_USERNAME", tc.nextUser)
		t.Setenv("OMNIBROKER_NEXT_PASSWORD", tc.nextPassword)
		cfg, err := loadConfig(stateSettings, authSettings)
		if err != nil {
			t.Fatalf("next %q: %v", tc.nextUser, err)
		}
		if got := cfg.platform(); !slices.Equal(got, tc.want) {
			t.Errorf("next %q: got %d credentials, want %d", tc.nextUser, len(got), len(tc.want))
		}
	}
}
