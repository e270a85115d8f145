package fault_test

import (
	"testing"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestFault(t *testing.T) { testkit.RunSuite(t, "Fault Suite") }
