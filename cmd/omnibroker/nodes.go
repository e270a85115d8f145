package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

// nodes lists every node of every backend; it exits 1 when one does not answer or is full.
func nodes(cfg Config, _ []string) error {
	c, closeAll, err := openOperator(cfg, "nodes")
	if err != nil {
		return err
	}
	defer closeAll()
	reports, err := c.op.ListNodes(c.ctx)
	if err != nil {
		return err
	}
	found := false
	for _, r := range reports {
		found = found || !r.Reachable || r.Full
	}
	if operatorArgs.jsonW {
		printJSON(struct {
			Nodes []operator.NodeReport `json:"nodes"`
		}{reports})
	} else {
		writeNodes(reports)
	}
	if found {
		return exitCode(1)
	}
	return nil
}

func writeNodes(reports []operator.NodeReport) {
	tw := newTable(os.Stdout)
	fmt.Fprintln(tw, "NODE\tBACKEND\tKIND\tPLANS\tVERSIONS\tPLACED\tSTATE")
	for _, r := range reports {
		placed := fmt.Sprintf("%d", r.Placed)
		if r.Capacity > 0 {
			placed = fmt.Sprintf("%d/%d", r.Placed, r.Capacity)
		}
		var state []string
		switch {
		case r.Reachable:
			state = append(state, "reachable")
		default:
			state = append(state, "unreachable: "+r.Reason)
		}
		if r.Full {
			state = append(state, "full")
		}
		if r.Drain != nil {
			state = append(state, fmt.Sprintf("drained by %s at %s", r.Drain.DrainedBy, r.Drain.DrainedAt.UTC().Format("2006-01-02 15:04 MST")))
		}
		versions := strings.Join(r.Versions, ",")
		if versions == "" {
			versions = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Backend, r.Kind, strings.Join(r.Plans, ","), versions, placed, strings.Join(state, "; "))
	}
	_ = tw.Flush()
}

// drainNode drains NODE of new instances on every replica; undrainNode lets it take them again.
func drainNode(cfg Config, args []string) error { return setDrain(cfg, args[0], true) }

func undrainNode(cfg Config, args []string) error { return setDrain(cfg, args[0], false) }

func setDrain(cfg Config, node string, drain bool) error {
	c, closeAll, err := openOperator(cfg, "nodes")
	if err != nil {
		return err
	}
	defer closeAll()
	var rec store.Repair
	if drain {
		rec, err = c.op.Drain(c.ctx, c.actor, node, operatorArgs.reason)
	} else {
		rec, err = c.op.Undrain(c.ctx, c.actor, node)
	}
	if _, ok := errors.AsType[*operator.NotFound](err); ok {
		fmt.Fprintf(os.Stderr, "omnibroker nodes: the catalog has no node %q\n", node)
		return exitCode(2)
	}
	if operatorArgs.jsonW && rec.ID != "" {
		printJSON(rec)
	}
	var refused *operator.Refused
	switch {
	case errors.As(err, &refused):
		if !operatorArgs.jsonW {
			fmt.Println(refused.Reason)
		}
		return exitCode(1)
	case err != nil:
		return err
	}
	if !operatorArgs.jsonW {
		what := "takes new instances again"
		if drain {
			what = "takes no new instances, on any replica; its instances keep working there"
		}
		fmt.Printf("node %s %s\n", node, what)
	}
	return nil
}
