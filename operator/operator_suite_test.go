package operator_test

import (
	"testing"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestOperator(t *testing.T) { testkit.RunSuite(t, "Operator Suite") }
