package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

// operations lists the operations queued, running or failed (or those --state names), exiting
// 1 when one needs a person: a failed one that retry takes, or with --older-than a stuck one.
func operations(cfg Config, _ []string) error {
	f := operatorArgs
	return withOperator(cfg, "operations", func(c *operatorCommand) error {
		list, err := c.op.Operations(c.ctx, f.operations)
		if err != nil {
			return err
		}
		if f.jsonW {
			printJSON(list)
		} else {
			writeOperations(os.Stdout, list)
		}
		return foundExit(list.Found)
	})
}

// showOperation prints an operation and the history of its attempts.
func showOperation(cfg Config, args []string) error {
	f := operatorArgs
	return withOperator(cfg, "operations show", func(c *operatorCommand) error {
		detail, err := c.op.Operation(c.ctx, args[0])
		if err != nil {
			return err
		}
		if f.jsonW {
			printJSON(detail)
		} else {
			writeOperation(os.Stdout, detail)
		}
		return foundExit(detail.Found)
	})
}

// retryOperation queues a failed operation again and waits until it ends, run by this
// process's workers beside any running broker's: exit 0 when it succeeded, 1 when the retry was
// refused, 3 when it failed again or the wait was cut short.
func retryOperation(cfg Config, args []string) error {
	f := operatorArgs
	return withOperator(cfg, "operations retry", func(c *operatorCommand) error {
		var rec store.Repair
		var op store.Operation
		var err error
		c.withWorkers(func() {
			rec, op, err = c.op.Retry(c.ctx, c.actor, args[0])
			if err == nil {
				if !f.jsonW {
					fmt.Printf("operation %s: queued again, waiting for it to end\n", args[0])
				}
				op, err = operator.Wait(c.ctx, c.op.Store, op.ID)
			}
		})
		return c.reportRepair(rec, args[0], err, f.jsonW, op.State == store.OpSucceeded)
	})
}

// cancelOperation fails a queued operation with --reason.
func cancelOperation(cfg Config, args []string) error {
	f := operatorArgs
	return withOperator(cfg, "operations cancel", func(c *operatorCommand) error {
		rec, _, err := c.op.Cancel(c.ctx, c.actor, args[0], f.reason)
		return c.reportRepair(rec, args[0], err, f.jsonW, err == nil)
	})
}

// withOperator opens the operator command name and runs work with it; an error of work that is
// a bad input (an operation that does not exist, say) is printed and exits 2.
func withOperator(cfg Config, name string, work func(c *operatorCommand) error) error {
	c, closeAll, err := openOperator(cfg, strings.ReplaceAll(name, " ", "-"))
	if err != nil {
		return err
	}
	defer closeAll()
	err = work(c)
	if sentence, ok := operator.BadInput(err); ok {
		fmt.Fprintf(os.Stderr, "omnibroker %s: %s\n", name, sentence)
		return exitCode(2)
	}
	return err
}

func foundExit(found bool) error {
	if found {
		return exitCode(1)
	}
	return nil
}

// reportRepair prints how the retry or cancel rec of operation id went, err being its error,
// and the operation as it is now; it returns the exit status: 0 when done (succeeded says so),
// 1 when refused, 3 when it could not finish.
func (c *operatorCommand) reportRepair(rec store.Repair, id string, err error, jsonW, succeeded bool) error {
	if _, ok := operator.BadInput(err); ok {
		return err
	}
	reason, refused := operator.Refusal(err)
	if err != nil && !refused && rec.ID == "" {
		return err // not even recorded: nothing was done
	}
	op, lookErr := c.op.Store.ListedOperationOf(c.ctx, id)
	switch {
	case jsonW:
		printJSON(struct {
			Repair    store.Repair          `json:"repair"`
			Operation store.ListedOperation `json:"operation"`
		}{rec, op})
	case refused:
		fmt.Printf("operation %s: refused: %s\n", id, reason)
	case lookErr == nil:
		fmt.Printf("operation %s (%s): %s\n", id, subject(op), strings.TrimSuffix(string(op.State)+": "+op.Description, ": "))
	}
	switch {
	case refused:
		return exitCode(1)
	case err != nil || !succeeded:
		if err != nil && !jsonW {
			fmt.Fprintf(os.Stderr, "omnibroker: %v\n", err)
		}
		return exitCode(3)
	}
	return nil
}

// subject says what op acts on, as "deprovision of instance X".
func subject(op store.ListedOperation) string {
	if op.BindingID != "" {
		return fmt.Sprintf("%s of binding %s of instance %s", op.Kind, op.BindingID, op.InstanceID)
	}
	if object, ok := strings.CutPrefix(op.InstanceID, "purge:"); ok {
		return fmt.Sprintf("%s of object %s", op.Kind, object)
	}
	return fmt.Sprintf("%s of instance %s", op.Kind, op.InstanceID)
}

// writeOperations prints list as a table, a line per operation.
func writeOperations(w io.Writer, list operator.OperationList) {
	if len(list.Operations) == 0 {
		fmt.Fprintln(w, "no operations match")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tKIND\tINSTANCE\tBINDING\tSTATE\tATTEMPT\tAGE\tNODE\tDESCRIPTION")
	for _, op := range list.Operations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", op.ID, op.Kind, op.InstanceID, dash(op.BindingID),
			op.State, op.Attempt, op.MaxAttempts, age(op.Age()), dash(op.Node), dash(op.Description))
	}
	_ = tw.Flush()
	if list.More {
		fmt.Fprintln(w, "(more operations match than these; narrow with --state, --instance or --older-than)")
	}
}

// writeOperation prints detail and its attempts.
func writeOperation(w io.Writer, d operator.OperationDetail) {
	fmt.Fprintf(w, "operation %s: %s\n", d.ID, subject(d.ListedOperation))
	tw := newTable(w)
	fmt.Fprintf(tw, "  state\t%s\n", d.State)
	fmt.Fprintf(tw, "  attempt\t%d of %d\n", d.Attempt, d.MaxAttempts)
	fmt.Fprintf(tw, "  node\t%s\n", dash(d.Node))
	if d.Worker != "" {
		fmt.Fprintf(tw, "  worker\t%s\n", d.Worker)
	}
	fmt.Fprintf(tw, "  created\t%s (%s ago)\n", d.CreatedAt.UTC().Format(time.RFC3339), age(d.Age()))
	if d.FinishedAt != nil {
		fmt.Fprintf(tw, "  finished\t%s\n", d.FinishedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "  description\t%s\n", dash(d.Description))
	switch {
	case d.Found:
		fmt.Fprintf(tw, "  latest\tyes: 'omnibroker operations retry %s' queues it again\n", d.ID)
	case d.Latest:
		fmt.Fprintf(tw, "  latest\tyes\n")
	default:
		fmt.Fprintf(tw, "  latest\tno: a newer operation of its instance or binding follows it\n")
	}
	_ = tw.Flush()
	if len(d.Attempts) == 0 {
		fmt.Fprintln(w, "no attempts yet")
		return
	}
	fmt.Fprintln(w, "attempts:")
	tw = newTable(w)
	fmt.Fprintln(tw, "  ATTEMPT\tWORKER\tSTARTED\tENDED\tOUTCOME\tDESCRIPTION")
	for _, a := range d.Attempts {
		ended, outcome := "-", a.Outcome
		if a.EndedAt != nil {
			ended = a.EndedAt.UTC().Format(time.RFC3339)
		}
		if outcome == "" {
			outcome = "running"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", a.Attempt, dash(a.Worker), a.StartedAt.UTC().Format(time.RFC3339), ended, outcome, dash(a.Description))
	}
	_ = tw.Flush()
}
