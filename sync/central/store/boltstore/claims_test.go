package boltstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestClaimFarFuture: a claim expiring after 2262, past what UnixNano
// holds, is kept, not pruned at once by the next claim (year 2554 wraps
// around to 1970 in unix ns), and one dated before 1970 is pruned.
func TestClaimFarFuture(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	h := func(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
	for _, c := range []struct {
		name    string
		expires time.Time
		want    error // for another device's claim after pruning
	}{
		{"year 2554", time.Unix(18446744074, 0), central.ErrReplay},
		{"year 9999", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), central.ErrReplay},
		{"year 1900", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), nil},
	} {
		if err := s.ClaimAttestation(ctx, "d1", h(c.name), "k1", c.expires); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := s.ClaimAttestation(ctx, "d1", h(c.name+" prune"), "k1", time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := s.ClaimAttestation(ctx, "d2", h(c.name), "k2", time.Now().Add(time.Hour)); !errors.Is(err, c.want) {
			t.Errorf("%s: another device's claim = %v, want %v", c.name, err, c.want)
		}
	}
}

// TestTimeKeyUnchanged: timeKey writes the bytes of unix ns for the times
// files written before the clamp hold, so their keys read the same.
func TestTimeKeyUnchanged(t *testing.T) {
	for _, at := range []time.Time{time.Unix(0, 1), time.Date(2026, 12, 4, 18, 0, 0, 123, time.UTC), time.Unix(0, 1<<63-1)} {
		if got, want := timeKey(at), binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())); !bytes.Equal(got, want) {
			t.Errorf("timeKey(%v) = %x, want %x", at, got, want)
		}
	}
}
