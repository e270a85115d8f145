package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/omnibroker/omnibroker/catalog"
	"github.com/omnibroker/omnibroker/operator"
	"github.com/omnibroker/omnibroker/store"
)

// stateTimeout bounds the catalog check's connection to the state database and its read: a
// database that does not answer within it leaves the file checked alone.
const stateTimeout = 10 * time.Second

var catalogCheckJSON bool

func declareCatalogCheckFlags(fs *flag.FlagSet) {
	catalogCheckJSON = false
	fs.BoolVar(&catalogCheckJSON, "json", false, "print JSON instead of text")
}

// catalogReport is what `catalog check --json` prints.
type catalogReport struct {
	File  string `json:"file"`
	Valid bool   `json:"valid"`
	// StateChecked says whether the file was checked against the state database; Unchecked
	// says why not.
	StateChecked bool               `json:"state_checked"`
	Unchecked    string             `json:"unchecked,omitempty"`
	Findings     []operator.Finding `json:"findings"`
}

// checkCatalog validates the catalog file args[0] and, when a state database is set and
// answers, checks it against the instances there: exit 1 for an invalid file or a finding,
// 3 when the state database answered but could not be read.
func checkCatalog(cfg Config, args []string) error {
	path := args[0]
	cat, err := catalog.Load(path)
	if err != nil {
		return err
	}
	report := catalogReport{File: path, Valid: true, Findings: []operator.Finding{}}
	defer func() {
		if catalogCheckJSON {
			_ = json.NewEncoder(os.Stdout).Encode(report)
		}
	}()
	if !catalogCheckJSON {
		fmt.Printf("%s: the catalog is valid\n", path)
	}
	if cfg.DatabaseURL == "" {
		report.Unchecked = "no state database is set: " + cfg.NoState
		fmt.Fprintf(os.Stderr, "omnibroker catalog check: the file alone is checked, not against live instances: %s\n", cfg.NoState)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	st, err := store.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		report.Unchecked = "the state database cannot be reached"
		fmt.Fprintf(os.Stderr, "omnibroker catalog check: the file alone is checked, not against live instances: the state database cannot be reached (%v)\n", err)
		return nil
	}
	defer st.Close()
	findings, err := (&operator.Operator{Store: st, Catalog: cat}).CheckCatalog(ctx)
	if err != nil {
		report.Unchecked = "the state database's instances could not be read"
		fmt.Fprintf(os.Stderr, "omnibroker catalog check: the state database's instances could not be read (a database never migrated has none to read): %v\n", err)
		return exitCode(3)
	}
	report.StateChecked, report.Findings = true, findings
	if !catalogCheckJSON {
		writeFindings(os.Stdout, path, findings)
	}
	if len(findings) > 0 {
		return exitCode(1)
	}
	return nil
}

// writeFindings prints findings as text, a line each.
func writeFindings(w io.Writer, path string, findings []operator.Finding) {
	for _, f := range findings {
		fmt.Fprintf(w, "%s: %s (%s)\n", f.Kind, f.Sentence, someIDs(f))
	}
	if len(findings) == 0 {
		fmt.Fprintf(w, "%s: it serves every live instance in the state database\n", path)
	}
}

// someIDs names the instances of f that it carries, and says when there are more.
func someIDs(f operator.Finding) string {
	s := "instance"
	if f.Instances > 1 {
		s += "s"
	}
	s += " " + strings.Join(f.InstanceIDs, ", ")
	if f.Instances > len(f.InstanceIDs) {
		s += fmt.Sprintf(" and %d more", f.Instances-len(f.InstanceIDs))
	}
	return s
}
