package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/store"
)

// breaksOlderBinary are the changes an Up section may not make (migrations/README.md): each
// leaves a schema on which the previous release's binary fails.
var breaksOlderBinary = []struct {
	what string
	re   *regexp.Regexp
}{
	{"drops a table, column, index or type", regexp.MustCompile(`\bDROP\s+(TABLE|COLUMN|INDEX|TYPE|VIEW|SEQUENCE|FUNCTION|TRIGGER|SCHEMA)\b`)},
	{"renames", regexp.MustCompile(`\bRENAME\b`)},
	{"changes a column's type", regexp.MustCompile(`\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b`)},
	{"sets NOT NULL on a column", regexp.MustCompile(`\bSET\s+NOT\s+NULL\b`)},
}

var (
	addNotNullColumn = regexp.MustCompile(`\bADD\s+COLUMN\s+[^,]*\bNOT\s+NULL\b[^,]*`)
	dropConstraint   = regexp.MustCompile(`\bDROP\s+CONSTRAINT\s+(\S+?)\s*(,|$)`)
)

// landedBeforeTheRule are the migrations that landed before the rule and break it, with what
// they break; no other may join them.
var landedBeforeTheRule = map[string][]string{}

// droppedAfterDisuse are the migrations that drop what the release before them stopped using
// (migrations/README.md: stop using it in one release, drop it in the next), with the drop;
// each names, in its own comment, the migration of the release that stopped using it.
var droppedAfterDisuse = map[string][]string{
	// The release of migration 8 checks one active operation under the instance row's lock.
	"00009_binding_operations_apart.sql": {"drops a table, column, index or type: DROP INDEX OPERATIONS_ACTIVE_INSTANCE_KEY"},
}

// upStatements is the Up section of a goose file, without comments, as uppercase statements
// with single spaces.
func upStatements(text string) []string {
	up, _, _ := strings.Cut(text, "-- +goose Down")
	var lines []string
	for _, line := range strings.Split(up, "\n") {
		code, _, _ := strings.Cut(line, "--")
		lines = append(lines, code)
	}
	var out []string
	for _, st := range strings.Split(strings.Join(lines, "\n"), ";") {
		if st = strings.Join(strings.Fields(strings.ToUpper(st)), " "); st != "" {
			out = append(out, st)
		}
	}
	return out
}

// breaks lists what the statements do that an older binary cannot live with.
func breaks(statements []string) []string {
	var found []string
	for _, st := range statements {
		for _, rule := range breaksOlderBinary {
			if rule.re.MatchString(st) {
				found = append(found, rule.what+": "+st)
			}
		}
		for _, clause := range addNotNullColumn.FindAllString(st, -1) {
			if !strings.Contains(clause, " DEFAULT ") {
				found = append(found, "adds a NOT NULL column without a default: "+st)
			}
		}
		for _, m := range dropConstraint.FindAllStringSubmatch(st, -1) {
			if !strings.Contains(st, "ADD CONSTRAINT "+m[1]+" ") {
				found = append(found, "drops a constraint it does not replace: "+st)
			}
		}
	}
	return found
}

var _ = Describe("Migrations only add", func() {
	It("finds the changes an older binary cannot live with", func() {
		Expect(breaks(upStatements("-- +goose Up\nALTER TABLE t DROP COLUMN c;\n-- +goose Down\nSELECT 1;"))).To(HaveLen(1))
		Expect(breaks(upStatements("ALTER TABLE t RENAME COLUMN a TO b"))).To(HaveLen(1))
		Expect(breaks(upStatements("ALTER TABLE t ALTER COLUMN a TYPE bigint"))).To(HaveLen(1))
		Expect(breaks(upStatements("ALTER TABLE t ALTER COLUMN a SET NOT NULL"))).To(HaveLen(1))
		Expect(breaks(upStatements("DROP INDEX i"))).To(HaveLen(1))
		Expect(breaks(upStatements("ALTER TABLE t ADD COLUMN a text NOT NULL"))).To(HaveLen(1))
		Expect(breaks(upStatements("ALTER TABLE t DROP CONSTRAINT c"))).To(HaveLen(1))

		Expect(breaks(upStatements("ALTER TABLE t ADD COLUMN a text NOT NULL DEFAULT '', ADD COLUMN b int NULL"))).To(BeEmpty())
		Expect(breaks(upStatements("ALTER TABLE t DROP CONSTRAINT c, ADD CONSTRAINT c CHECK (k IN ('a', 'b'))"))).To(BeEmpty())
		Expect(breaks(upStatements("-- drop nothing\nCREATE INDEX i ON t (a);\n-- +goose Down\nDROP INDEX i;"))).To(BeEmpty())
	})

	It("holds for every migration but those that landed before the rule, and the drops of what the release before stopped using", func() {
		files, err := filepath.Glob("migrations/*.sql")
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		for _, file := range files {
			text, err := os.ReadFile(file)
			Expect(err).NotTo(HaveOccurred())
			allowed := append(landedBeforeTheRule[filepath.Base(file)], droppedAfterDisuse[filepath.Base(file)]...)
			Expect(breaks(upStatements(string(text)))).To(Equal(allowed),
				"%s: migrations only add, so that the previous release keeps working on the new schema during a rolling deploy; see store/migrations/README.md", file)
		}
	})

	It("lets a binary serve a schema that a newer release migrated further", func(ctx SpecContext) {
		name := fmt.Sprintf("omnibroker_store_newer_%d_%s", GinkgoParallelProcess(), uuid.NewString()[:8])
		u := createDatabase(ctx, name)
		DeferCleanup(func(ctx SpecContext) { dropDatabase(ctx, name) })
		s, err := store.Open(ctx, u, keys)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		Expect(s.Migrate(ctx)).To(Succeed())

		By("a newer release adds a column and records its migration")
		Expect(s.DB().ExecContext(ctx, `ALTER TABLE operations ADD COLUMN priority int NOT NULL DEFAULT 0`)).Error().NotTo(HaveOccurred())
		Expect(s.DB().ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)`)).Error().NotTo(HaveOccurred())

		Expect(s.Migrate(ctx)).To(Succeed(), "nothing to apply, and the newer version refused nothing")
		inst := newInstance()
		op := newOperation(store.OpProvision, inst.ID, "")
		Expect(s.CreateInstance(ctx, inst, op)).To(Succeed())
		claimed, err := s.Claim(ctx, "older", time.Minute)
		Expect(err).NotTo(HaveOccurred())
		Expect(claimed.ID).To(Equal(op.ID))
		Expect(s.Succeed(ctx, claimed, nil)).To(Succeed())
	}, SpecTimeout(30*time.Second))
})
