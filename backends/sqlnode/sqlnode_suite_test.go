package sqlnode_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSQLNode(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "SQL Node Suite")
}
