package storetest

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
)

// RunHostedStates runs the central.HostedStates conformance tests on a
// fresh store from open, plain and sealed; the sealed run also checks
// that the store under the seal holds no plaintext.
func RunHostedStates(t *testing.T, open func(t *testing.T) central.Store) {
	hosted := func(t *testing.T, s central.Store) central.HostedStates {
		t.Helper()
		h, ok := s.(central.HostedStates)
		if !ok {
			t.Fatalf("%T does not implement central.HostedStates", s)
		}
		return h
	}
	t.Run("Plain", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		testHostedStates(t, hosted(t, s))
	})
	t.Run("Heads", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		hks, ok := s.(central.HostedKeyStore)
		if !ok {
			t.Fatalf("%T does not implement central.HostedKeyStore", s)
		}
		testHostedHeads(t, hosted(t, s), hks)
	})
	t.Run("Sealed", func(t *testing.T) {
		raw := open(t)
		kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
		if err != nil {
			t.Fatal(err)
		}
		s := seal.New(raw, kr, kr)
		defer s.Close()
		testHostedStates(t, hosted(t, s))
		ctx := context.Background()
		now := time.Now()
		secret := []byte("a face and an ID document")
		if err := s.PutHostedState(ctx, "cap/x", secret, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		under, err := hosted(t, raw).HostedState(ctx, "cap/x", now)
		if err != nil || bytes.Contains(under, secret) {
			t.Errorf("under the seal: %q %v", under, err)
		}
		// A sealed value moved to another key does not open.
		if err := hosted(t, raw).PutHostedState(ctx, "cap/y", under, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.HostedState(ctx, "cap/y", now); !errors.Is(err, seal.ErrTampered) {
			t.Errorf("a value moved to another key: %v, want ErrTampered", err)
		}
	})
}

// testHostedHeads checks central.HostedKeyStore: heads listed in key
// order (expired values too), swapped only where the value still starts
// with what was listed, the rest and the expiry kept.
func testHostedHeads(t *testing.T, h central.HostedStates, hks central.HostedKeyStore) {
	ctx := context.Background()
	now := time.Now()
	if heads, err := hks.HostedStateHeads(ctx, "", 4, 10); err != nil || len(heads) != 0 {
		t.Fatalf("empty store: %v, %v", heads, err)
	}
	vals := map[string]string{"k1": "head1-rest1", "k2": "head2-rest2", "k3": "he", "k4": "head4-expired"}
	for k, v := range vals {
		exp := now.Add(time.Hour)
		if k == "k4" {
			exp = now.Add(-time.Minute)
		}
		if err := h.PutHostedState(ctx, k, []byte(v), exp); err != nil {
			t.Fatal(err)
		}
	}
	var got []central.HostedHead
	for after := ""; ; {
		page, err := hks.HostedStateHeads(ctx, after, 5, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Key
	}
	want := []central.HostedHead{{Key: "k1", Head: []byte("head1")}, {Key: "k2", Head: []byte("head2")}, {Key: "k3", Head: []byte("he")}, {Key: "k4", Head: []byte("head4")}}
	if len(got) != len(want) {
		t.Fatalf("heads %q, want %q", got, want)
	}
	for i := range want {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Head, want[i].Head) {
			t.Errorf("head %d: %s %q, want %s %q", i, got[i].Key, got[i].Head, want[i].Key, want[i].Head)
		}
	}
	if err := h.DeleteHostedState(ctx, "k3"); err != nil {
		t.Fatal(err)
	}
	n, err := hks.SwapHostedStateHeads(ctx, []central.HostedHeadSwap{
		{Key: "k1", Old: []byte("head1"), New: []byte("NEW-HEAD")}, // applied
		{Key: "k2", Old: []byte("head9"), New: []byte("lost")},     // replaced meanwhile
		{Key: "k3", Old: []byte("he"), New: []byte("back")},        // deleted meanwhile
	})
	if err != nil || n != 1 {
		t.Fatalf("swapped %d, %v; want 1", n, err)
	}
	for k, want := range map[string]string{"k1": "NEW-HEAD-rest1", "k2": "head2-rest2"} {
		if v, err := h.HostedState(ctx, k, now); err != nil || string(v) != want {
			t.Errorf("%s after the swap: %q, %v; want %q", k, v, err, want)
		}
	}
	if v, err := h.HostedState(ctx, "k3", now); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("k3, deleted before the swap: %q, %v; want ErrNotFound", v, err)
	}
	if v, err := h.HostedState(ctx, "k1", now.Add(2*time.Hour)); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("k1 swapped keeps its expiry: %q, %v", v, err)
	}
}

func testHostedStates(t *testing.T, h central.HostedStates) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := h.HostedState(ctx, "none", now); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("absent key: %v, want ErrNotFound", err)
	}
	big := bytes.Repeat([]byte{0xab}, 3<<20)
	if err := h.PutHostedState(ctx, "cap/a", big, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := h.HostedState(ctx, "cap/a", now); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	// Replaced.
	if err := h.PutHostedState(ctx, "cap/a", []byte("v2"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.HostedState(ctx, "cap/a", now); string(got) != "v2" {
		t.Errorf("after replace: %q", got)
	}
	// Expired values are not read, and not in the way of a create.
	if _, err := h.HostedState(ctx, "cap/a", now.Add(time.Minute)); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("expired: %v, want ErrNotFound", err)
	}
	if err := h.CreateHostedState(ctx, "code/AAAAAA", []byte("one"), now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := h.CreateHostedState(ctx, "code/AAAAAA", []byte("two"), now, now.Add(time.Minute)); !errors.Is(err, central.ErrConflict) {
		t.Errorf("create over a live value: %v, want ErrConflict", err)
	}
	later := now.Add(2 * time.Minute)
	if err := h.CreateHostedState(ctx, "code/AAAAAA", []byte("three"), later, later.Add(time.Minute)); err != nil {
		t.Errorf("create over an expired value: %v", err)
	}
	if got, _ := h.HostedState(ctx, "code/AAAAAA", later); string(got) != "three" {
		t.Errorf("created over the expired value: %q", got)
	}
	// Concurrent creates of one key: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan int, 8)
	for i := range 8 {
		wg.Go(func() {
			if err := h.CreateHostedState(ctx, "code/RACE00", []byte{byte(i)}, now, now.Add(time.Minute)); err == nil {
				wins <- i
			} else if !errors.Is(err, central.ErrConflict) {
				t.Errorf("concurrent create: %v", err)
			}
		})
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Errorf("%d concurrent creates won, want 1", n)
	}
	// Delete, then expiry in batches.
	if err := h.DeleteHostedState(ctx, "code/AAAAAA", "never-there"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.HostedState(ctx, "code/AAAAAA", later); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	for i := range 5 {
		if err := h.PutHostedState(ctx, "old/"+string(rune('a'+i)), []byte("x"), now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.PutHostedState(ctx, "live", []byte("x"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	total := 0
	for {
		n, err := h.ExpireHostedState(ctx, now.Add(5*time.Minute), 3)
		if err != nil {
			t.Fatal(err)
		}
		if n > 3 {
			t.Errorf("expired %d in a batch of 3", n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	// The 5 old ones, cap/a, code/RACE00 (both expired by then).
	if total != 7 {
		t.Errorf("expired %d values, want 7", total)
	}
	if _, err := h.HostedState(ctx, "live", now.Add(5*time.Minute)); err != nil {
		t.Errorf("a live value after expiry: %v", err)
	}
	// A capture stored while the clock read five years ahead, of a session
	// ended once it was put back, goes now; one of a session of a day
	// stays.
	if err := h.PutHostedState(ctx, "cap/ahead", []byte("x"), now.Add(5*365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := h.PutHostedState(ctx, "cap/day", []byte("x"), now.Add(central.FlowMaxTTL+10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, err := h.ExpireHostedState(ctx, now, 10); err != nil || n != 1 {
		t.Errorf("expiry after the clock was put back: %d, %v; want the value stored ahead expired", n, err)
	}
	if _, err := h.HostedState(ctx, "cap/day", now); err != nil {
		t.Errorf("a day's session's capture after that: %v", err)
	}
}

// BenchmarkHostedCapture measures what the hosted flow does with one
// capture through a sealed store over s: store it (PutHostedState, a data
// key wrapped per value) and read it back for the verification
// (HostedState), a 400 KB image (a phone's 1920-pixel JPEG). The keyring
// is a file's, as kyc-central's.
func BenchmarkHostedCapture(b *testing.B, raw central.Store) {
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(b.TempDir(), "central.keys"))
	if err != nil {
		b.Fatal(err)
	}
	s := seal.New(raw, kr, kr)
	ctx := context.Background()
	img := bytes.Repeat([]byte("0123456789abcdef"), 400<<10/16)
	exp := time.Now().Add(time.Hour)
	b.SetBytes(int64(len(img)))
	b.ResetTimer()
	for i := range b.N {
		key := "cap/bench/" + string(rune('a'+i%26))
		if err := s.PutHostedState(ctx, key, img, exp); err != nil {
			b.Fatal(err)
		}
		if _, err := s.HostedState(ctx, key, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
