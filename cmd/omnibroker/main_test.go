package main

import (
	"testing"

	"github.com/omnibroker/omnibroker/catalog"
)

// A kind the catalog accepts but the command cannot open would pass `catalog check` and then
// stop `serve`.
func TestEveryCatalogKindHasAnAdapter(t *testing.T) {
	for _, kind := range catalog.Kinds {
		if adapterKinds[kind] == nil {
			t.Errorf("catalog kind %q has no adapter in adapterKinds", kind)
		}
	}
	if len(adapterKinds) != len(catalog.Kinds) {
		t.Errorf("adapterKinds has %d kinds, catalog.Kinds %d", len(adapterKinds), len(catalog.Kinds))
	}
}
