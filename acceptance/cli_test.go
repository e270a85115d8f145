package acceptance_test

// The command line as an operator meets it: help, each command's settings, the version, and
// a wrong command line.

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// commandNames are the sub-commands `omnibroker help` lists, a line each.
var commandNames = []string{"serve", "migrate", "reseal", "orphans", "operations", "operations show ID",
	"operations retry ID", "operations cancel ID", "nodes", "nodes drain NODE", "nodes undrain NODE",
	"instances", "instances show ID", "instances purge ID", "catalog check FILE", "version", "help [COMMAND]"}

// expectCommandList fails unless out lists every sub-command, each on a line of its own with
// a summary.
func expectCommandList(out string) {
	GinkgoHelper()
	for _, name := range commandNames {
		Expect(out).To(MatchRegexp(`(?m)^  %s  +\S.*$`, regexp.QuoteMeta(name)), "the line of %s", name)
	}
}

var _ = Describe("The command line", func() {
	DescribeTable("lists every sub-command on stdout and exits 0",
		func(args ...string) {
			s := runBinary(nil, args...)
			Expect(s.ExitCode()).To(Equal(0))
			expectCommandList(string(s.Out.Contents()))
			Expect(s.Err.Contents()).To(BeEmpty())
		},
		Entry("--help", "--help"),
		Entry("-h", "-h"),
		Entry("help", "help"),
	)

	DescribeTable("exits 2 with the list of commands on stderr",
		func(args ...string) {
			s := runBinary(nil, args...)
			Expect(s.ExitCode()).To(Equal(2))
			expectCommandList(string(s.Err.Contents()))
			Expect(s.Out.Contents()).To(BeEmpty())
		},
		Entry("no command"),
		Entry("an unknown command", "frobnicate"),
		Entry("help of an unknown command", "help", "frobnicate"),
		Entry("a catalog command that is not there", "catalog", "lint"),
	)

	It("says a command's usage and exits 2 when it is given a wrong argument or flag", func() {
		for _, args := range [][]string{{"serve", "now"}, {"migrate", "--dry-run"}, {"catalog", "check"}} {
			s := runBinary(nil, args...)
			Expect(s.ExitCode()).To(Equal(2), "%v", args)
			Expect(string(s.Err.Contents())).To(ContainSubstring("Usage: omnibroker "+strings.Join(args[:len(args)-1], " ")), "%v", args)
		}
	})

	It("lists, for serve --help and help serve, its flags and every environment variable it reads with its default, the catalog's nodes too", func() {
		for _, args := range [][]string{{"serve", "--help"}, {"help", "serve"}} {
			s := runBinary(map[string]string{"OMNIBROKER_CONFIG": catalogPath}, args...)
			Expect(s.ExitCode()).To(Equal(0))
			out := string(s.Out.Contents())
			Expect(out).To(ContainSubstring("Usage: omnibroker serve"))
			Expect(out).To(MatchRegexp(`(?m)^  -h, --help +print this help$`))
			for _, row := range [][2]string{
				{"DATABASE_URL", "(required)"},
				{"OMNIBROKER_CONFIG", "config/catalog.yml"},
				{"OMNIBROKER_LISTEN", ":8080"},
				{"OMNIBROKER_WORKERS", "8"},
				{"OMNIBROKER_RESTORE_INTERVAL", "1m"},
				{"OMNIBROKER_LOG_LEVEL", "info"},
				{"OMNIBROKER_USERNAME", "(required)"},
				{"OMNIBROKER_ENCRYPTION_KEY", "(required)"},
				{"OMNIBROKER_OLD_ENCRYPTION_KEYS", "(none)"},
				// The nodes of the suite's catalog.
				{"OMNIBROKER_POSTGRES_URL", "(required)"},
				{"OMNIBROKER_RABBITMQ_URL", "(required)"},
			} {
				Expect(out).To(MatchRegexp(`(?m)^  %s +%s +\S`, row[0], regexp.QuoteMeta(row[1])), "the row of %s", row[0])
			}
		}
	})

	It("lists only what migrate and the catalog check read", func() {
		s := runBinary(nil, "migrate", "-h")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^  DATABASE_URL +\(required\) +\S`))
		// On Cloud Foundry the state database may be a bound service instead.
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^  VCAP_SERVICES +\(none\) +\S`))
		Expect(regexp.MustCompile(`OMNIBROKER_[A-Z_]+`).FindAllString(string(s.Out.Contents()), -1)).To(ConsistOf("OMNIBROKER_DATABASE_SERVICE"))
		s = runBinary(nil, "catalog", "check", "--help")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("Usage: omnibroker catalog check [FLAGS] FILE"))
		// It reads the state database when it is set, to check the file against live instances.
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^  DATABASE_URL +\(none\) +\S`))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^  --json +\S`))
	})

	It("prints the version, the commit and the Go version, stamped with -ldflags, or from Go's build info", func() {
		s := runBinary(nil, "version")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`^omnibroker \S+\ncommit \S+\ngo1\.\S+ \w+/\w+\n$`))

		stamped := filepath.Join(GinkgoT().TempDir(), "omnibroker")
		build := exec.Command("go", "build", "-o", stamped,
			"-ldflags", "-X main.version=9.8.7-test -X main.commit=0123456789abcdef", "github.com/omnibroker/omnibroker/cmd/omnibroker")
		build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
		Expect(build.Run()).To(Succeed())
		out, err := exec.Command(stamped, "version").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(MatchRegexp(`^omnibroker 9\.8\.7-test\ncommit 0123456789abcdef\ngo1\.\S+ \w+/\w+\n$`))
	})
})
