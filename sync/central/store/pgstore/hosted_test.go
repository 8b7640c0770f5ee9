package pgstore

import (
	"testing"

	"github.com/openkyc/kyc/sync/central/storetest"
)

func TestHostedStates(t *testing.T) { storetest.RunHostedStates(t, openStore) }

func BenchmarkHostedCapture(b *testing.B) {
	s := openFresh(b)
	defer s.Close()
	storetest.BenchmarkHostedCapture(b, s)
}
