package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/omnibroker/omnibroker/catalog"
)

// command is one sub-command. A new one (the operator commands: orphans, operations,
// instances, nodes) is a new entry of commands; one of several words ("catalog check",
// "operations retry") is found by its words.
type command struct {
	// name is the words that call it.
	name string
	// args is its arguments as its usage shows them, say "FILE"; nargs how many it takes.
	args  string
	nargs int
	// summary is its line in the list of commands.
	summary string
	// settings are the groups of environment variables it reads, which its --help lists.
	settings []settings
	// nodes says that it also reads the url_env of each node of the catalog.
	nodes bool
	// flags declares its flags on fs, if it has any; --help lists them.
	flags func(fs *flag.FlagSet)
	// run runs it with the settings it reads and its arguments, once its flags are parsed.
	run func(cfg Config, args []string) error
}

// commands is every sub-command, in the order `omnibroker help` lists them (set in init, as
// help reads it).
var commands []command

func init() {
	commands = []command{
		{name: "serve", summary: "migrate, start the workers and serve the API",
			settings: []settings{stateSettings, serveSettings, authSettings, adminSettings, keySettings}, nodes: true,
			run: func(cfg Config, _ []string) error { return serve(cfg) }},
		{name: "migrate", summary: "apply the state database's migrations (serve does this too)",
			settings: []settings{stateSettings}, run: func(cfg Config, _ []string) error { return migrate(cfg) }},
		{name: "reseal", summary: "re-seal stored credentials under the current encryption key",
			settings: []settings{stateSettings, keySettings}, run: func(cfg Config, _ []string) error { return reseal(cfg) }},
		operatorEntry("orphans", "", "find what the nodes hold that nothing owns, and what live instances lack", declareOrphansFlags, orphans),
		operatorEntry("operations", "", "list the operations queued, running or failed", declareOperationsFlags, operations),
		operatorEntry("operations show", "ID", "show an operation and the history of its attempts", nil, showOperation),
		operatorEntry("operations retry", "ID", "queue a failed operation again and wait for it", nil, retryOperation),
		operatorEntry("operations cancel", "ID", "fail a queued operation with --reason", declareCancelFlags, cancelOperation),
		operatorEntry("nodes", "", "list every node: kind, plans, versions, instances placed, drained, reachable", nil, nodes),
		operatorEntry("nodes drain", "NODE", "take no new instances on NODE, on any replica, until it is undrained", declareDrainFlags, drainNode),
		operatorEntry("nodes undrain", "NODE", "let NODE take new instances again", nil, undrainNode),
		operatorEntry("instances", "", "list the instances: plan, node, state, version, bindings, last operation", declareInstancesFlags, instances),
		operatorEntry("instances show", "ID", "show instance ID: its node, plan, versions, bindings and last operation", nil, showInstance),
		operatorEntry("instances purge", "ID", "remove instance ID that cannot be deleted the normal way, or --forget it", declarePurgeFlags, purgeInstance),
		{name: "catalog check", args: "FILE", nargs: 1, summary: "validate a catalog file, and check it against the live instances in the state database",
			settings: []settings{optionalStateSettings}, flags: declareCatalogCheckFlags, run: checkCatalog},
		{name: "version", summary: "print the version, the commit and the Go version it was built with",
			run: func(Config, []string) error { fmt.Print(versionText()); return nil }},
		{name: "help", args: "[COMMAND]", nargs: -1, summary: "list the commands, or say what COMMAND takes and reads",
			run: func(_ Config, args []string) error { return help(os.Stdout, args) }},
	}
}

// operatorEntry is the entry of an operator command: it reads what serve does (operatorSettings and each
// node's url_env), takes one argument when args names it, none otherwise, and takes --json and
// what flags (nil for none) declares (declareOperatorFlags).
func operatorEntry(name, args, summary string, flags func(fs *flag.FlagSet), run func(Config, []string) error) command {
	nargs := 0
	if args != "" {
		nargs = 1
	}
	return command{name: name, args: args, nargs: nargs, summary: summary, settings: operatorSettings, nodes: true,
		flags: declareOperatorFlags(flags), run: run}
}

// errUsage is a command line that names no command, or names one wrongly; it exits 2.
var errUsage = errors.New("usage")

// run runs the command line args (without the program's name) and returns the exit status:
// 0 when it succeeded or help was asked for, 2 for a wrong command line (the usage goes to
// stderr), 1 when the command failed, or the status of the exitCode it returned (an operator
// command: 1 found something to act on, 3 could not finish).
func run(args []string, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		args = []string{"help"}
	}
	cmd, rest := find(args)
	if cmd == nil {
		if len(args) > 0 {
			fmt.Fprintf(stderr, "omnibroker: unknown command %q\n", strings.Join(args, " "))
		}
		writeUsage(stderr)
		return 2
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	positional, err := parseFlags(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(os.Stdout, cmd)
			return 0
		}
		fmt.Fprintf(stderr, "omnibroker %s: %v\n", cmd.name, err)
		writeCommandUsage(stderr, cmd)
		return 2
	}
	if cmd.nargs >= 0 && len(positional) != cmd.nargs {
		fmt.Fprintf(stderr, "omnibroker %s: takes %d argument(s), got %d\n", cmd.name, cmd.nargs, len(positional))
		writeCommandUsage(stderr, cmd)
		return 2
	}
	cfg, err := loadConfig(cmd.settings...)
	if err == nil {
		err = cmd.run(cfg, positional)
	}
	if code, ok := errors.AsType[exitCode](err); ok {
		return int(code)
	}
	if err != nil {
		if errors.Is(err, errUsage) {
			writeUsage(stderr)
			return 2
		}
		fmt.Fprintln(stderr, "omnibroker:", err)
		return 1
	}
	return 0
}

// find is the command whose words begin args, the one of most words when several do
// ("operations show ID" is not "operations" with an argument), and the arguments after them.
func find(args []string) (*command, []string) {
	var found *command
	var rest []string
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) &&
			(found == nil || len(words) > len(strings.Fields(found.name))) {
			found, rest = &commands[i], args[len(words):]
		}
	}
	return found, rest
}

// parseFlags parses the flags of fs wherever they stand among args, before or after the
// arguments ("operations cancel ID --reason R"), and returns the arguments; after "--" every
// one is an argument.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if at := len(args) - len(rest); at > 0 && args[at-1] == "--" {
			return append(positional, rest...), nil
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
}

// help writes the list of commands, or the help of the command args name.
func help(w io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(w, "omnibroker is an Open Service Broker API v2 broker for shared backend servers.")
		fmt.Fprintln(w)
		writeUsage(w)
		return nil
	}
	cmd, rest := find(args)
	if cmd == nil || len(rest) > 0 {
		fmt.Fprintf(os.Stderr, "omnibroker help: no command %q\n", strings.Join(args, " "))
		return errUsage
	}
	writeHelp(w, cmd)
	return nil
}

// writeUsage writes the list of commands, a line each.
func writeUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: omnibroker COMMAND [ARGUMENTS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	tw := newTable(w)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "'omnibroker COMMAND --help' lists a command's flags and the environment variables it reads.")
}

func writeCommandUsage(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "Usage: omnibroker %s\n", strings.TrimSpace(cmd.name+" [FLAGS] "+cmd.args))
}

// writeHelp writes what cmd does, its flags, and every environment variable it reads with its
// default.
func writeHelp(w io.Writer, cmd *command) {
	writeCommandUsage(w, cmd)
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.ToUpper(cmd.summary[:1])+cmd.summary[1:]+".")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags:")
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "  -h, --help\tprint this help\n")
	fs.VisitAll(func(f *flag.Flag) { fmt.Fprintf(tw, "  --%s\t%s (default %q)\n", f.Name, f.Usage, f.DefValue) })
	_ = tw.Flush()
	vars := commandEnv(cmd)
	fmt.Fprintln(w)
	if len(vars) == 0 && !cmd.nodes {
		fmt.Fprintln(w, "Environment: none.")
		return
	}
	fmt.Fprintln(w, "Environment (the README's Configuration table says more):")
	tw = newTable(w)
	for _, v := range vars {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.name, showDefault(v), settingUsage[v.name])
	}
	_ = tw.Flush()
	if cmd.nodes {
		writeNodeEnv(w)
	}
}

// commandEnv is every environment variable cmd reads, in the order it reads them, from the
// same calls that read them.
func commandEnv(cmd *command) []envVar {
	r := envReader{}
	for _, read := range cmd.settings {
		read(&Config{}, &r)
	}
	return r.read
}

// writeNodeEnv lists the variable that holds each catalog node's admin URL, from the catalog
// OMNIBROKER_CONFIG names: the catalog decides which there are.
func writeNodeEnv(w io.Writer) {
	path := os.Getenv("OMNIBROKER_CONFIG")
	if path == "" {
		path = defaultCatalogPath
	}
	fmt.Fprintf(w, "\nAnd the admin URL of each node, in the variable its url_env names (catalog %s):\n", path)
	cat, err := catalog.Load(path)
	if err != nil {
		fmt.Fprintf(w, "  (the catalog does not load here; 'omnibroker catalog check %s' says why)\n", path)
		return
	}
	tw := newTable(w)
	for _, be := range cat.Config.Backends {
		for _, n := range be.Nodes {
			def := "(required)"
			if n.DefaultURL != "" {
				def = n.DefaultURL // the catalog check refuses one that carries a password
			}
			fmt.Fprintf(tw, "  %s\t%s\tnode %s of backend %s (%s)\n", n.URLEnv, def, n.Name, be.Name, be.Kind)
		}
	}
	_ = tw.Flush()
}

// showDefault is how --help and the README state v's default.
func showDefault(v envVar) string {
	switch d := v.def.(type) {
	case nil:
		if v.required {
			return "(required)"
		}
		return "(none)"
	case string:
		if d == "" {
			return "(none)"
		}
		return d
	case time.Duration:
		return shortDuration(d)
	case fmt.Stringer:
		return d.String()
	default:
		return fmt.Sprint(d)
	}
}

// shortDuration writes d as the README does: 1m, not 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
