package acceptance_test

// A rolling deploy: the binary of the previous release, built from the source's git history,
// serves one state database beside this one.

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lib/pq"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// git runs git on the source this suite was built from. safe.directory, because a checkout
// owned by another user (as in CI) makes git refuse otherwise.
func git(args ...string) (string, error) {
	out, err := exec.Command("git", append([]string{"-c", "safe.directory=*"}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

// buildPreviousRelease builds omnibroker from the parent of the newest commit that added or
// changed a migration: the release whose schema this one migrates further, which a rolling
// deploy leaves running on the newer schema. A commit that changed no migration makes no
// release boundary: an older binary of the same schema proves nothing about a newer one. It
// skips the spec, saying why, when the source has no git history to build it from.
func buildPreviousRelease() (path, commit string) {
	GinkgoHelper()
	if _, err := exec.LookPath("git"); err != nil {
		Skip("git is not installed, so the previous release cannot be built from the history")
	}
	root, err := git("rev-parse", "--show-toplevel")
	if err != nil {
		Skip("the source is not a git checkout, so the previous release cannot be built from its history")
	}
	newest, err := git("-C", root, "log", "-1", "--format=%H", "HEAD", "--", "store/migrations/*.sql")
	Expect(err).NotTo(HaveOccurred())
	commit, err = git("-C", root, "rev-parse", "--verify", "--quiet", newest+"^")
	if newest == "" || err != nil {
		Skip("the history stops before the commit that added the newest migration (a shallow clone?), so the previous release cannot be built")
	}

	dir := GinkgoT().TempDir()
	extract := exec.Command("bash", "-c", `set -o pipefail; git -c safe.directory='*' -C "$1" archive "$2" | tar -x -C "$3"`, "extract", root, commit, dir)
	extract.Stdout, extract.Stderr = GinkgoWriter, GinkgoWriter
	Expect(extract.Run()).To(Succeed(), "the source of %s", commit)
	path = filepath.Join(dir, "omnibroker-previous")
	build := exec.Command("go", "build", "-o", path, "./cmd/omnibroker")
	build.Dir = dir
	build.Env = append(build.Environ(), "GOFLAGS=-buildvcs=false")
	build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
	Expect(build.Run()).To(Succeed(), "go build of %s", commit)
	return path, commit
}

// claimedKinds are the kinds b's workers said they claim when they started; nil for a
// binary from before replicas claimed by kind, which claims every kind.
func claimedKinds(b *broker) []string {
	GinkgoHelper()
	for line := range strings.Lines(string(b.session.Out.Contents())) {
		var entry struct {
			Message string `json:"message"`
			Data    struct {
				Kinds []string `json:"kinds"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && strings.HasSuffix(entry.Message, ".workers.started") {
			return entry.Data.Kinds
		}
	}
	Fail("the broker did not log that its workers started")
	return nil
}

var _ = Describe("Rolling upgrade", func() {
	It("runs the previous release beside this one on one state database, and no replica claims a kind it does not know", func(ctx SpecContext) {
		previous, commit := buildPreviousRelease()
		state := newStateDB()
		By("the previous release, " + commit[:12] + ", serves the state database on its own schema")
		older := startBinary(previous, state, nil, nil)
		By("this release starts beside it and migrates the schema further")
		newer := startBroker(state, nil)

		By("provisioning, binding, unbinding and deprovisioning through both, each step through the other")
		replicas := []*osbClient{older.client(), newer.client()}
		for i := range replicas {
			one, other := replicas[i], replicas[1-i]
			id, bindingID := newID(), newID()
			one.provisionReady(id, redisPlan, nil)
			other.bindReady(id, bindingID, redisPlan, newID())
			one.unbindGone(id, bindingID, redisPlan)
			other.deprovisionGone(id, redisPlan)
		}

		known := claimedKinds(newer)
		Expect(known).To(ContainElements("provision", "bind", "unbind", "deprovision"))
		if claimedKinds(older) == nil {
			By("the previous release is from before replicas claimed by kind, and would claim any: it stops here")
			older.stop()
		}

		By("the next release's migration adds a kind neither knows, and its replicas queue operations of it")
		db := state.open()
		quoted := make([]string, 0, len(known)+1)
		for _, k := range append(known, "next-release") {
			quoted = append(quoted, pq.QuoteLiteral(k))
		}
		Expect(db.ExecContext(ctx, `ALTER TABLE operations
			DROP CONSTRAINT operations_kind_check,
			ADD CONSTRAINT operations_kind_check CHECK (kind IN (`+strings.Join(quoted, ", ")+`))`)).Error().NotTo(HaveOccurred())
		queued, dead := newID(), newID()
		Expect(db.ExecContext(ctx, `INSERT INTO operations (id, kind, instance_id, state, max_attempts)
			VALUES ($1, 'next-release', $2, 'queued', 3)`, queued, newID())).Error().NotTo(HaveOccurred())
		// One on its last attempt, whose worker died: only a replica that knows the kind may
		// give up on it.
		Expect(db.ExecContext(ctx, `INSERT INTO operations (id, kind, instance_id, state, attempt, max_attempts,
				lease_owner, lease_expires_at, claimed_at)
			VALUES ($1, 'next-release', $2, 'running', 1, 1, 'next-release-replica', now() - interval '1 minute', now() - interval '2 minutes')`,
			dead, newID())).Error().NotTo(HaveOccurred())
		Expect(db.ExecContext(ctx, `SELECT pg_notify('omnibroker_operations', $1)`, queued)).Error().NotTo(HaveOccurred())

		By("this release works on past them, and leaves both as they are")
		id := newID()
		newer.client().provisionReady(id, redisPlan, nil)
		newer.client().deprovisionGone(id, redisPlan)
		operation := func(id string) []string {
			return queryStrings(db, `SELECT state || ' ' || attempt FROM operations WHERE id = $1`, id)
		}
		Consistently(func() [][]string { return [][]string{operation(queued), operation(dead)} }, 3*time.Second).
			Should(Equal([][]string{{"queued 0"}, {"running 1"}}))
		for _, b := range []*broker{older, newer} {
			Expect(logLines(b, "claimed", queued)).To(BeEmpty())
		}

		By("a replica of this release that starts once the next release has migrated further serves, is ready, and says so")
		Expect(db.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)`)).Error().NotTo(HaveOccurred())
		late := startBroker(state, nil)
		Expect(late.probe("/readyz").Status).To(Equal(http.StatusOK))
		Expect(logLines(late, "schema-newer-than-binary", `"schema-version":9999`)).To(HaveLen(1))
		lateID := newID()
		late.client().provisionReady(lateID, redisPlan, nil)
		late.client().deprovisionGone(lateID, redisPlan)
	}, SpecTimeout(8*time.Minute))
})
