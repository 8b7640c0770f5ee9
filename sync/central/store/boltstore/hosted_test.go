package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/sync/central/storetest"
)

func TestHostedStates(t *testing.T) { storetest.RunHostedStates(t, open) }

func BenchmarkHostedCapture(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "central.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkHostedCapture(b, s)
}
