package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// printJSON writes v as one line of JSON on stdout.
func printJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// say prints a line of text unless the command prints JSON.
func say(jsonW bool, format string, args ...any) {
	if !jsonW {
		fmt.Printf(format, args...)
	}
}

// newTable writes tab-separated cells to w as aligned columns, two spaces apart, once flushed.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// dash is s, or "-" in place of an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age is d as a listing shows it: whole seconds, or whole minutes past an hour.
func age(d time.Duration) string {
	if d >= time.Hour {
		return shortDuration(d.Round(time.Minute))
	}
	return shortDuration(d.Round(time.Second))
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
