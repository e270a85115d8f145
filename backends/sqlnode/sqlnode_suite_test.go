package sqlnode_test

import (
	"testing"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestSQLNode(t *testing.T) { testkit.RunSuite(t, "SQL Node Suite") }
