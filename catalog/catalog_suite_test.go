package catalog_test

import (
	"testing"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

func TestCatalog(t *testing.T) { testkit.RunSuite(t, "Catalog Suite") }
