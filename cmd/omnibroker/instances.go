package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

// instances lists the instances of the state database; it exits 1 when one of them is failed
// or delete_failed.
func instances(cfg Config, _ []string) error {
	f := operatorArgs
	if err := f.instances.Check(); err != nil {
		fmt.Fprintln(os.Stderr, "omnibroker instances:", err)
		return exitCode(2)
	}
	c, closeAll, err := openOperator(cfg, "instances")
	if err != nil {
		return err
	}
	defer closeAll()
	listed, err := c.op.ListInstances(c.ctx, f.instances, 0)
	if err != nil {
		return err
	}
	if f.jsonW {
		printJSON(struct {
			Instances []operator.InstanceListed `json:"instances"`
		}{listed})
	} else {
		writeInstances(os.Stdout, listed)
	}
	for _, i := range listed {
		if i.Stuck() {
			return exitCode(1)
		}
	}
	return nil
}

func writeInstances(w io.Writer, listed []operator.InstanceListed) {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tPLAN\tNODE\tSTATE\tVERSION\tMAINTENANCE\tBINDINGS\tLAST OPERATION")
	for _, i := range listed {
		last := "-"
		if i.LastOperation != nil {
			last = string(i.LastOperation.Kind) + " " + string(i.LastOperation.State)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", i.ID, planOf(i), dash(i.Node), i.State,
			dash(i.Version), dash(i.MaintenanceVersion), i.Bindings, last)
	}
	_ = tw.Flush()
}

// planOf is the plan's name, or its id when it has left the catalog.
func planOf(i operator.InstanceListed) string {
	if i.Plan == "" {
		return i.PlanID + " (not in the catalog)"
	}
	return i.Plan
}

// showInstance prints one instance with its bindings and its latest operation; it exits 1 when
// the instance is failed or delete_failed, 2 when the state database has no such instance.
func showInstance(cfg Config, args []string) error {
	_, shown, closeAll, err := openInstance(cfg, args[0])
	if err != nil {
		return err
	}
	defer closeAll()
	if operatorArgs.jsonW {
		printJSON(shown)
	} else {
		writeInstance(os.Stdout, shown)
	}
	if shown.Stuck() {
		return exitCode(1)
	}
	return nil
}

// openInstance opens what the instances commands work with and reads instance id as
// ShowInstance shows it; exitCode(2), said on stderr, when there is no such instance. close
// releases what it opened, when err is nil.
func openInstance(cfg Config, id string) (c *operatorCommand, shown operator.InstanceShown, close func(), err error) {
	c, close, err = openOperator(cfg, "instances")
	if err != nil {
		return nil, shown, nil, err
	}
	shown, err = c.op.ShowInstance(c.ctx, id)
	if _, ok := errors.AsType[*operator.NotFound](err); ok {
		fmt.Fprintf(os.Stderr, "omnibroker instances: the state database has no instance %q\n", id)
		err = exitCode(2)
	}
	if err != nil {
		close()
		return nil, shown, nil, err
	}
	return c, shown, close, nil
}

const shownTime = "2006-01-02 15:04:05 MST"

func writeInstance(w io.Writer, s operator.InstanceShown) {
	tw := newTable(w)
	fmt.Fprintf(tw, "instance\t%s\n", s.ID)
	fmt.Fprintf(tw, "service\t%s (%s)\n", dash(s.Service), s.ServiceID)
	fmt.Fprintf(tw, "plan\t%s (%s)\n", dash(s.Plan), s.PlanID)
	fmt.Fprintf(tw, "node\t%s of backend %s\n", dash(s.Node), s.Backend)
	fmt.Fprintf(tw, "state\t%s\n", s.State)
	fmt.Fprintf(tw, "version\t%s\n", dash(s.Version))
	fmt.Fprintf(tw, "maintenance version\t%s\n", dash(s.MaintenanceVersion))
	fmt.Fprintf(tw, "created\t%s\n", s.CreatedAt.UTC().Format(shownTime))
	fmt.Fprintf(tw, "updated\t%s\n", s.UpdatedAt.UTC().Format(shownTime))
	if op := s.LastOperation; op != nil {
		at := op.CreatedAt
		if op.FinishedAt != nil {
			at = *op.FinishedAt
		}
		line := fmt.Sprintf("%s %s %s (attempt %d of %d, %s)", op.ID, op.Kind, op.State, op.Attempt, op.MaxAttempts, at.UTC().Format(shownTime))
		if op.Description != "" {
			line += ": " + op.Description
		}
		fmt.Fprintf(tw, "last operation\t%s\n", line)
	} else {
		fmt.Fprintf(tw, "last operation\t-\n")
	}
	if s.UsageUnknown != "" {
		fmt.Fprintf(tw, "usage\tunknown: %s\n", s.UsageUnknown)
	} else {
		var figures []string
		for _, f := range s.Usage {
			figures = append(figures, strings.TrimSpace(fmt.Sprintf("%s %d %s", f.Name, f.Value, f.Unit)))
		}
		fmt.Fprintf(tw, "usage\t%s\n", strings.Join(figures, ", "))
	}
	fmt.Fprintf(tw, "bindings\t%d\n", len(s.Bindings))
	_ = tw.Flush()
	tw = newTable(w)
	for _, b := range s.Bindings {
		expires := ""
		if b.ExpiresAt != nil {
			expires = "expires " + b.ExpiresAt.UTC().Format(shownTime)
		}
		fmt.Fprintf(tw, "  %s\t%s\tapp %s\tcreated %s\t%s\n", b.ID, b.State, dash(b.AppGUID), b.CreatedAt.UTC().Format(shownTime), expires)
	}
	_ = tw.Flush()
}

// purged is what `instances purge --json` prints: the repair, how its operation ended (a purge
// through the queue), or what was forgotten and may be left on the node (--forget).
type purged struct {
	Repair    store.Repair        `json:"repair"`
	Operation *purgeOperation     `json:"operation,omitempty"`
	Forgotten *operator.Forgotten `json:"forgotten,omitempty"`
}

type purgeOperation struct {
	ID          string               `json:"id"`
	State       store.OperationState `json:"state"`
	Description string               `json:"description,omitempty"`
}

// purgeInstance removes an instance that cannot be deleted the normal way, after asking unless
// --yes: through the queue (its bindings' logins, then its objects, then its rows), run by
// this process's workers next to any broker's; or with --forget from the state database alone.
// It exits 0 when the instance is gone, 1 when it was refused (another operation runs) or not
// confirmed, 3 when its node did not answer, its operation failed, or no one could confirm.
func purgeInstance(cfg Config, args []string) error {
	f := operatorArgs
	c, shown, closeAll, err := openInstance(cfg, args[0])
	if err != nil {
		return err
	}
	defer closeAll()
	if !f.yes {
		question := fmt.Sprintf("purge instance %s (plan %s, %s, on node %s) and its %d binding(s), removing their logins and data from the node? [y/N] ",
			shown.ID, dash(shown.Plan), shown.State, dash(shown.Node), len(shown.Bindings))
		if f.forget {
			question = fmt.Sprintf("forget instance %s (plan %s, %s, on node %s) and its %d binding(s), in the state database alone, leaving what is on the node? [y/N] ",
				shown.ID, dash(shown.Plan), shown.State, dash(shown.Node), len(shown.Bindings))
		}
		ok, err := confirm(bufio.NewReader(os.Stdin), question)
		if err != nil {
			fmt.Fprintln(os.Stderr, "omnibroker instances purge:", err)
			return exitCode(3)
		}
		if !ok {
			return exitCode(1)
		}
	}
	if f.forget {
		return c.forgetInstance(shown.ID, f.jsonW)
	}
	var rec store.Repair
	var op store.Operation
	c.withWorkers(func() {
		rec, op, err = c.op.PurgeInstance(c.ctx, c.actor, shown.ID)
		if err == nil {
			op, err = operator.Wait(c.ctx, c.op.Store, op.ID)
		}
	})
	out := purged{Repair: rec}
	if op.ID != "" {
		out.Operation = &purgeOperation{ID: op.ID, State: op.State, Description: op.Description}
	}
	if f.jsonW && rec.ID != "" {
		printJSON(out)
	}
	var down *operator.NodeDown
	var refused *operator.Refused
	switch {
	case errors.As(err, &down):
		say(f.jsonW, "instance %s: not purged: %s\n", shown.ID, down.Error())
		return exitCode(3)
	case errors.As(err, &refused):
		say(f.jsonW, "instance %s: not purged: %s\n", shown.ID, refused.Reason)
		return exitCode(1)
	case err != nil:
		return err
	case op.State != store.OpSucceeded:
		say(f.jsonW, "instance %s: the purge failed (operation %s): %s\n", shown.ID, op.ID, op.Description)
		return exitCode(3)
	}
	say(f.jsonW, "instance %s purged: its %d binding(s) and their logins, and its objects on node %s, are gone; the platform's DELETE now answers 410\n",
		shown.ID, len(shown.Bindings), dash(shown.Node))
	return nil
}

// forgetInstance removes instance id from the state database alone and prints what may be left.
func (c *operatorCommand) forgetInstance(id string, jsonW bool) error {
	rec, forgotten, err := c.op.ForgetInstance(c.ctx, c.actor, id)
	if jsonW && rec.ID != "" {
		printJSON(purged{Repair: rec, Forgotten: &forgotten})
	}
	var refused *operator.Refused
	switch {
	case errors.As(err, &refused):
		say(jsonW, "instance %s: not forgotten: %s\n", id, refused.Reason)
		return exitCode(1)
	case err != nil:
		return err
	}
	say(jsonW, "instance %s and its %d binding(s) are gone from the state database; the platform's DELETE now answers 410\n", id, len(forgotten.Bindings))
	for _, o := range forgotten.MayBeLeft {
		say(jsonW, "may be left: %s on node %s of backend %s\n", o.Object, o.Node, o.Backend)
	}
	if len(forgotten.MayBeLeft) > 0 {
		say(jsonW, "'omnibroker orphans --node %s' lists what is left, and --purge removes it, once the node answers\n", forgotten.MayBeLeft[0].Node)
	}
	return nil
}
