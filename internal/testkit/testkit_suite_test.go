package testkit_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestTestkit(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Testkit Suite")
}
