package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// listBytes is a deterministic watchlist of n bytes.
func listBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	rng.Read(b)
	return b
}

// failingReader gives n bytes of r, then an error.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func testWatchlistStream(t *testing.T, s central.Store) {
	ctx := context.Background()
	v1 := listBytes(1, 2<<20+12345) // over two of the stores' chunks, not a whole number of them
	w := PublishWatchlist(t, s, "pep", v1)
	sum := sha256.Sum256(v1)
	if w.Version != 1 || w.Size != int64(len(v1)) || !bytes.Equal(w.SHA256, sum[:]) {
		t.Fatalf("first version = %+v", w)
	}
	got, rc, err := s.OpenWatchlist(ctx, "pep")
	if err != nil || got.Version != 1 || got.Size != w.Size {
		t.Fatalf("OpenWatchlist = %+v, %v", got, err)
	}
	// A reader of version 1, part way through when version 2 appears,
	// still reads version 1 whole.
	head := make([]byte, 1000)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	v2 := listBytes(2, 1<<20+7)
	if w := PublishWatchlist(t, s, "pep", v2); w.Version != 2 {
		t.Fatalf("second version = %+v", w)
	}
	rest, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(append(head, rest...), v1) {
		t.Errorf("reading version 1 across the publication of 2: %d bytes, %v", len(head)+len(rest), err)
	}
	// An upload cut off part way publishes nothing.
	cut := func() io.Reader { return &failingReader{r: bytes.NewReader(listBytes(3, 3<<20)), n: 1<<20 + 10} }
	if _, err := s.CreateWatchlist(ctx, "cut", cut(), func(protocol.Watchlist) (central.AuditEvent, error) {
		return central.AuditEvent{ID: "cut", At: time.Now(), Actor: "user:ada", Action: central.AuditWatchlistPublish, Count: 1}, nil
	}); err == nil {
		t.Error("a first version whose upload failed part way was published")
	}
	p := central.WatchlistProposal{Name: "pep", Proposal: central.Proposal{ID: "cut", Base: 2, Proposer: "user:ada", At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}}
	if _, err := s.ProposeWatchlist(ctx, p, cut(), func(central.WatchlistProposal) (central.AuditEvent, error) {
		return central.AuditEvent{ID: "cut-proposal", At: time.Now(), Actor: "user:ada", Action: central.AuditWatchlistProposed, Count: 1}, nil
	}); err == nil {
		t.Error("a proposal whose upload failed part way was accepted")
	}
	if ps, err := s.WatchlistProposals(ctx); err != nil || len(ps) != 0 {
		t.Errorf("after a failed proposal WatchlistProposals = %+v, %v; want none", ps, err)
	}
	w, data, err := s.Watchlist(ctx, "pep")
	if err != nil || w.Version != 2 || !bytes.Equal(data, v2) {
		t.Errorf("after a failed upload Watchlist = version %d, %d bytes, %v; want version 2 intact", w.Version, len(data), err)
	}
	ws, err := s.Watchlists(ctx)
	if err != nil || len(ws) != 1 || ws[0].Version != 2 || ws[0].Size != int64(len(v2)) {
		t.Errorf("Watchlists = %+v, %v", ws, err)
	}
	if _, _, err := s.OpenWatchlist(ctx, "nope"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("OpenWatchlist(unknown) = %v, want ErrNotFound", err)
	}
}

func testAttestationClaims(t *testing.T, s central.Store) {
	ctx := context.Background()
	h := func(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
	exp := time.Now().Add(time.Hour)
	cases := []struct {
		name, dev, att, key string
		want                error
	}{
		{"first claim", "d1", "a1", "k1", nil},
		{"resend", "d1", "a1", "k1", nil},
		{"another submission", "d1", "a1", "k2", central.ErrReplay},
		{"another device", "d2", "a1", "k1", central.ErrReplay},
		{"another attestation", "d1", "a2", "k2", nil},
	}
	for _, c := range cases {
		if err := s.ClaimAttestation(ctx, c.dev, h(c.att), c.key, exp); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	wins := concurrentWins(8, func(i int) error {
		return s.ClaimAttestation(ctx, "d1", h("race"), fmt.Sprint("k", i), exp)
	})
	if wins != 1 {
		t.Errorf("%d submissions claimed one attestation, want 1", wins)
	}
}
