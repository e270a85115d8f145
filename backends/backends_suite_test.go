package backends_test

import (
	"testing"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestBackends(t *testing.T) { testkit.RunSuite(t, "Backends Suite") }
