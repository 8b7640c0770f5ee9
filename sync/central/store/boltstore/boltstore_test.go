package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) central.Store {
		s, err := Open(filepath.Join(t.TempDir(), "central.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
