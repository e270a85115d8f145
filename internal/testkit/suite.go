package testkit

import (
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// RunSuite runs the package's ginkgo specs as the suite named description, with gomega's
// failures reported to ginkgo: the one TestX every suite of the repository has.
func RunSuite(t *testing.T, description string) {
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(t, description)
}
