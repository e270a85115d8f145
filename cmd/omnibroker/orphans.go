package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"

	"code.cloudfoundry.org/lager/v3"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/broker"
	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

// exitCode is an error that only sets the exit status: 1 found something to act on, 3 could
// not finish (a node that did not answer). What it stands for was printed already.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// orphansFlags are the flags of the orphans command.
type orphansFlags struct {
	scope                      operator.Scope
	purge, restore, yes, jsonW bool
}

var orphansArgs orphansFlags

func declareOrphansFlags(fs *flag.FlagSet) {
	orphansArgs = orphansFlags{}
	fs.StringVar(&orphansArgs.scope.Backend, "backend", "", "only the nodes of this backend")
	fs.StringVar(&orphansArgs.scope.Node, "node", "", "only this node")
	fs.StringVar(&orphansArgs.scope.Object, "object", "", "only the object of this name")
	fs.BoolVar(&orphansArgs.purge, "purge", false, "remove each orphan, through the queue, after asking")
	fs.BoolVar(&orphansArgs.restore, "restore", false, "make the gone logins of live bindings again with their sealed passwords")
	fs.BoolVar(&orphansArgs.yes, "yes", false, "purge without asking")
	fs.BoolVar(&orphansArgs.jsonW, "json", false, "print JSON instead of text")
}

// orphans finds the objects on the nodes that no instance or binding owns, and the live
// instances and bindings whose objects are gone; --purge and --restore repair them through the
// queue, run by this process's own workers next to any broker's.
func orphans(cfg Config, _ []string) error {
	f := orphansArgs
	if f.purge && f.restore {
		fmt.Fprintln(os.Stderr, "omnibroker orphans: --purge and --restore go one at a time")
		return exitCode(2)
	}
	cat, err := catalog.Load(cfg.CatalogPath)
	if err != nil {
		return fmt.Errorf("OMNIBROKER_CONFIG %s: %w", cfg.CatalogPath, err)
	}
	nodes := operator.Nodes{}
	for _, be := range cat.Config.Backends {
		for _, n := range be.Nodes {
			nodes[be.Name] = append(nodes[be.Name], n.Name)
		}
	}
	if f.scope.Backend != "" && nodes[f.scope.Backend] == nil {
		fmt.Fprintf(os.Stderr, "omnibroker orphans: the catalog has no backend %q\n", f.scope.Backend)
		return exitCode(2)
	}
	keys, err := store.ParseKeyring(cfg.EncryptionKey, cfg.OldKeys)
	if err != nil {
		return fmt.Errorf("OMNIBROKER_ENCRYPTION_KEY: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The log goes to stderr, so that stdout holds the report alone.
	logger, err := newLoggerOn(os.Stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	logger = logger.Session("orphans", lager.Data{"os-user": runningUser()})
	st, err := store.Open(ctx, cfg.DatabaseURL, keys)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer st.Close()
	adapters, closeBackends, err := openBackends(ctx, logger, cat, backends.NewCallMetrics())
	if err != nil {
		return err
	}
	defer closeBackends()

	report, err := operator.FindOrphans(ctx, st, adapters, nodes, f.scope)
	if err != nil {
		return err
	}
	out := os.Stdout
	if f.jsonW && !f.purge && !f.restore {
		_ = json.NewEncoder(out).Encode(report)
	} else if !f.jsonW {
		writeOrphans(out, report)
	}
	left := report.Found()
	failed := len(report.Unchecked) > 0
	if f.purge || f.restore {
		if err := st.Migrate(ctx); err != nil { // the purge kind needs migration 10
			return err
		}
		b := broker.New(broker.Config{Catalog: cat, Store: st, Backends: adapters, Logger: logger, MaxAttempts: cfg.MaxAttempts})
		pool := b.NewPool(broker.PoolConfig{Workers: 2, Lease: cfg.Lease, PollInterval: cfg.PollInterval,
			RetryBase: cfg.RetryBase, RescueInterval: cfg.RescueInterval})
		fetchCtx, stopFetching := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { pool.Run(fetchCtx, ctx); close(done) }()
		var repairs []repair
		if f.purge {
			repairs, left, failed = purgeOrphans(ctx, logger, st, report, f, failed)
		} else {
			repairs, left, failed = restoreLogins(ctx, logger, st, report, failed)
		}
		stopFetching()
		<-done
		if f.jsonW {
			_ = json.NewEncoder(out).Encode(struct {
				operator.OrphanReport
				Repairs []repair `json:"repairs"`
			}{report, repairs})
		}
	}
	switch {
	case failed:
		return exitCode(3)
	case left:
		return exitCode(1)
	}
	return nil
}

// repair is one purge or restore the command queued, and how it ended.
type repair struct {
	Operation   string `json:"operation_id"`
	What        string `json:"what"`
	State       string `json:"state"`
	Description string `json:"description,omitempty"`
}

// purgeOrphans purges each orphan of report, asking first unless f.yes; it reports the
// purges, whether anything is left to act on, and whether anything could not finish.
func purgeOrphans(ctx context.Context, logger lager.Logger, st *store.Store, report operator.OrphanReport, f orphansFlags, failed bool) ([]repair, bool, bool) {
	var repairs []repair
	left := len(report.Missing) > 0
	in := bufio.NewReader(os.Stdin)
	for _, o := range report.Orphans {
		what := fmt.Sprintf("%s on node %s of backend %s", o.Object, o.Node, o.Backend)
		if !f.yes {
			ok, err := confirm(in, "purge "+what+"? [y/N] ")
			if err != nil {
				fmt.Fprintln(os.Stderr, "omnibroker orphans:", err)
				return repairs, true, true
			}
			if !ok {
				left = true
				continue
			}
		}
		op, err := operator.Purge(ctx, logger, st, o)
		r, done := finish(ctx, st, op, err, "purge "+what)
		repairs = append(repairs, r)
		left, failed = left || !done, failed || !done
	}
	return repairs, left, failed
}

// restoreLogins restores each restorable missing login of report.
func restoreLogins(ctx context.Context, logger lager.Logger, st *store.Store, report operator.OrphanReport, failed bool) ([]repair, bool, bool) {
	var repairs []repair
	left := len(report.Orphans) > 0
	for _, m := range report.Missing {
		if !m.Restorable {
			left = true
			continue
		}
		op, err := operator.Restore(ctx, logger, st, m)
		r, done := finish(ctx, st, op, err, fmt.Sprintf("restore %s of binding %s", m.Object, m.BindingID))
		repairs = append(repairs, r)
		left, failed = left || !done, failed || !done
	}
	return repairs, left, failed
}

// finish waits for op, queued unless err, prints how it ended, and reports whether it succeeded.
func finish(ctx context.Context, st *store.Store, op store.Operation, err error, what string) (repair, bool) {
	if err == nil {
		op, err = operator.Wait(ctx, st, op.ID)
	}
	r := repair{Operation: op.ID, What: what, State: string(op.State), Description: op.Description}
	switch {
	case errors.Is(err, store.ErrBusy):
		r.State, r.Description = "refused", "another operation of the same object, instance or binding is queued or running"
	case err != nil:
		r.State, r.Description = "unfinished", err.Error()
	}
	if !orphansArgs.jsonW {
		fmt.Printf("%s: %s %s\n", what, r.State, r.Description)
	}
	return r, r.State == string(store.OpSucceeded)
}

// confirm asks question on stderr and reads the answer, a line, from in. Stdin that ends
// without one (none was given, as under CI) refuses rather than taking silence for an answer.
func confirm(in *bufio.Reader, question string) (bool, error) {
	fmt.Fprint(os.Stderr, question)
	answer, err := in.ReadString('\n')
	if errors.Is(err, io.EOF) && answer == "" {
		fmt.Fprintln(os.Stderr)
		return false, errors.New("no answer on stdin; pass --yes to purge without asking")
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes", nil
}

// writeOrphans prints report as text, a line per finding.
func writeOrphans(w io.Writer, report operator.OrphanReport) {
	for _, u := range report.Unchecked {
		fmt.Fprintf(w, "unchecked: node %s of backend %s: %s\n", u.Node, u.Backend, u.Reason)
	}
	for _, o := range report.Orphans {
		fmt.Fprintf(w, "orphan: %s on node %s of backend %s\n", o.Object, o.Node, o.Backend)
	}
	for _, m := range report.Missing {
		owner, fix := "instance "+m.InstanceID, "its data is gone; it is not made again"
		if m.BindingID != "" {
			owner, fix = "binding "+m.BindingID+" of instance "+m.InstanceID, "--restore makes it again"
			if !m.Restorable {
				fix = "its instance's objects are gone too"
			}
		}
		fmt.Fprintf(w, "missing: %s of %s on node %s of backend %s (%s)\n", m.Object, owner, m.Node, m.Backend, fix)
	}
	if !report.Found() && len(report.Unchecked) == 0 {
		fmt.Fprintln(w, "no orphans, and nothing of a live instance or binding is missing")
	}
}

// runningUser is who runs the command, for the log of its repairs.
func runningUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}
