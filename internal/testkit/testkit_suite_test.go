package testkit_test

import (
	"testing"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestTestkit(t *testing.T) { testkit.RunSuite(t, "Testkit Suite") }
