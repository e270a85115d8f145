package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

// orphans finds the objects on the nodes that no instance or binding owns, and the live
// instances and bindings whose objects are gone; --purge and --restore repair them through the
// queue, run by this process's own workers next to any broker's.
func orphans(cfg Config, _ []string) error {
	f := operatorArgs
	if f.purge && f.restore {
		fmt.Fprintln(os.Stderr, "omnibroker orphans: --purge and --restore go one at a time")
		return exitCode(2)
	}
	c, closeAll, err := openOperator(cfg, "orphans")
	if err != nil {
		return err
	}
	defer closeAll()
	if f.scope.Backend != "" && c.op.Nodes()[f.scope.Backend] == nil {
		fmt.Fprintf(os.Stderr, "omnibroker orphans: the catalog has no backend %q\n", f.scope.Backend)
		return exitCode(2)
	}
	report, err := c.op.FindOrphans(c.ctx, f.scope)
	if err != nil {
		return err
	}
	if f.jsonW && !f.purge && !f.restore {
		printJSON(report)
	} else if !f.jsonW {
		writeOrphans(os.Stdout, report)
	}
	left := report.Found()
	failed := len(report.Unchecked) > 0
	if f.purge || f.restore {
		var repairs []repair
		c.withWorkers(func() {
			if f.purge {
				repairs, left, failed = c.purgeOrphans(report, f, failed)
			} else {
				repairs, left, failed = c.restoreLogins(report, failed)
			}
		})
		if f.jsonW {
			printJSON(struct {
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

// repair is one purge or restore the command asked for, and how it ended.
type repair struct {
	Repair      string `json:"repair_id"`
	Operation   string `json:"operation_id,omitempty"`
	What        string `json:"what"`
	State       string `json:"state"`
	Description string `json:"description,omitempty"`
}

// purgeOrphans purges each orphan of report, asking first unless f.yes; it reports the
// purges, whether anything is left to act on, and whether anything could not finish.
func (c *operatorCommand) purgeOrphans(report operator.OrphanReport, f operatorFlags, failed bool) ([]repair, bool, bool) {
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
		rec, op, err := c.op.Purge(c.ctx, c.actor, o)
		r, done := c.finish(rec, op, err, "purge "+what)
		repairs = append(repairs, r)
		left, failed = left || !done, failed || !done
	}
	return repairs, left, failed
}

// restoreLogins restores each restorable missing login of report.
func (c *operatorCommand) restoreLogins(report operator.OrphanReport, failed bool) ([]repair, bool, bool) {
	var repairs []repair
	left := len(report.Orphans) > 0
	for _, m := range report.Missing {
		if !m.Restorable {
			left = true
			continue
		}
		rec, op, err := c.op.Restore(c.ctx, c.actor, m)
		r, done := c.finish(rec, op, err, fmt.Sprintf("restore %s of binding %s", m.Object, m.BindingID))
		repairs = append(repairs, r)
		left, failed = left || !done, failed || !done
	}
	return repairs, left, failed
}

// finish waits for op, which repair rec queued unless err, prints how it ended, and reports
// whether it succeeded.
func (c *operatorCommand) finish(rec store.Repair, op store.Operation, err error, what string) (repair, bool) {
	if err == nil {
		op, err = operator.Wait(c.ctx, c.op.Store, op.ID)
	}
	r := repair{Repair: rec.ID, Operation: op.ID, What: what, State: string(op.State), Description: op.Description}
	switch {
	case rec.Outcome == store.RepairRefused:
		r.State, r.Description = "refused", rec.Detail
	case err != nil:
		r.State, r.Description = "unfinished", err.Error()
	}
	if !operatorArgs.jsonW {
		fmt.Printf("%s: %s %s\n", what, r.State, r.Description)
	}
	return r, r.State == string(store.OpSucceeded)
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
