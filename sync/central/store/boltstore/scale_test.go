package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/storetest"
)

// TestReopen: nonces and rate limits survive a restart.
func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T) (central.Store, func() (central.Store, error)) {
		path := filepath.Join(t.TempDir(), "central.db")
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return s, func() (central.Store, error) { return Open(path) }
	})
}

// BenchmarkNonce is what a device request's nonce costs now that it is
// written to the file, beside the one write every ingest request already
// made (a manifest without images), both with 16 requests at once (the
// load test's agents).
func BenchmarkNonce(b *testing.B) {
	for _, c := range []struct {
		name string
		op   func(s *Store, i int64) error
	}{
		{"nonce", func(s *Store, i int64) error {
			now := time.Now()
			return s.UseNonce(context.Background(), "d1", fmt.Sprint("n", i), now, now.Add(10*time.Minute))
		}},
		{"manifest", func(s *Store, i int64) error {
			now := time.Now()
			_, _, err := s.BeginSubmission(context.Background(), central.Submission{DeviceID: "d1", Key: fmt.Sprint("k", i), ID: fmt.Sprint("id", i),
				ManifestHash: []byte{1}, CreatedAt: now, ReceivedAt: now, Verdict: "ok", Payload: []byte(`{}`)})
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "central.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomic.Int64
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.op(s, n.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
