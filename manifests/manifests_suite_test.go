package manifests_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestManifests(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Manifests Suite")
}

// binary is omnibroker built from this checkout, which the specs ask what it reads and serves.
var binary string

var _ = BeforeSuite(func() {
	dir, err := os.MkdirTemp("", "omnibroker-manifests-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	binary = filepath.Join(dir, "omnibroker")
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	build := exec.Command(goCmd, "build", "-o", binary, "./cmd/omnibroker")
	build.Dir = ".."
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build ./cmd/omnibroker:\n%s", out)
})

// setting is one environment variable `omnibroker serve --help` lists.
type setting struct {
	name     string
	required bool
}

var helpRow = regexp.MustCompile(`(?m)^  ([A-Z][A-Z0-9_]*) +(\S+)`)

// servedSettings is every variable `omnibroker serve` reads with the catalog at catalogPath
// (its nodes' url_env too), as its --help lists them.
func servedSettings(catalogPath string) map[string]setting {
	GinkgoHelper()
	cmd := exec.Command(binary, "serve", "--help")
	cmd.Env = []string{"OMNIBROKER_CONFIG=" + catalogPath}
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred())
	Expect(string(out)).NotTo(ContainSubstring("the catalog does not load here"))
	found := map[string]setting{}
	for _, m := range helpRow.FindAllStringSubmatch(string(out), -1) {
		found[m[1]] = setting{name: m[1], required: m[2] == "(required)"}
	}
	Expect(found).To(HaveKey("DATABASE_URL"))
	return found
}
