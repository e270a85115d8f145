package main

import (
	"flag"
	"slices"
	"testing"
)

// "operations show ID" is its own command, not "operations" with two arguments.
func TestFindTakesTheCommandOfMostWords(t *testing.T) {
	for _, c := range []struct {
		args []string
		name string
		rest []string
	}{
		{[]string{"operations", "--state", "failed"}, "operations", []string{"--state", "failed"}},
		{[]string{"operations", "show", "x"}, "operations show", []string{"x"}},
		{[]string{"operations", "cancel", "x", "--reason", "r"}, "operations cancel", []string{"x", "--reason", "r"}},
		{[]string{"catalog", "check", "f"}, "catalog check", []string{"f"}},
	} {
		cmd, rest := find(c.args)
		if cmd == nil || cmd.name != c.name || !slices.Equal(rest, c.rest) {
			t.Errorf("find(%q) = %v, %q; want %q, %q", c.args, cmd, rest, c.name, c.rest)
		}
	}
}

// Flags may follow the arguments, and "--" ends them.
func TestParseFlagsTakesFlagsAfterTheArguments(t *testing.T) {
	for _, c := range []struct {
		args       []string
		reason     string
		positional []string
	}{
		{[]string{"x", "--reason", "r"}, "r", []string{"x"}},
		{[]string{"--reason=r", "x"}, "r", []string{"x"}},
		{[]string{"x", "y", "--reason", "r", "z"}, "r", []string{"x", "y", "z"}},
		{[]string{"x", "--", "--reason", "r"}, "", []string{"x", "--reason", "r"}},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		reason := fs.String("reason", "", "")
		positional, err := parseFlags(fs, c.args)
		if err != nil || *reason != c.reason || !slices.Equal(positional, c.positional) {
			t.Errorf("parseFlags(%q) = %q, %q, %v; want %q, %q", c.args, *reason, positional, err, c.reason, c.positional)
		}
	}
}
