package seal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
)

// TestRotateKeepsHostedCaptures: a person capturing on their phone while
// `kyc-central keys rotate` runs (which retires the old key-encryption key)
// still has their captures and short code afterwards, on both stores.
func TestRotateKeepsHostedCaptures(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			raw := b.open(t).raw
			path := filepath.Join(t.TempDir(), "central.keys")
			kr, err := seal.LoadOrCreateKeyring(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := seal.CheckKeys(ctx, raw, kr); err != nil {
				t.Fatal(err)
			}
			s := seal.New(raw, kr, kr)
			now := time.Now()
			exp := now.Add(time.Hour)
			values := map[string][]byte{
				central.HostedSessionKey("pa", "s1", "document"): bytes.Repeat([]byte("an ID document "), 1000),
				central.HostedSessionKey("pa", "s1", "selfie"):   []byte("a face"),
				"code/ABC123": []byte("short code"),
			}
			for k, v := range values {
				if err := s.PutHostedState(ctx, k, v, exp); err != nil {
					t.Fatal(err)
				}
			}
			old, _, _ := kr.KeyIDs()
			res, err := seal.Rotate(ctx, raw, kr, seal.RotateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Retired) != 1 || res.Retired[0] != old[0] {
				t.Fatalf("retired %v, want %v", res.Retired, old)
			}
			// A central started after the rotation reads the keyring anew.
			kr2, err := seal.LoadOrCreateKeyring(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := seal.CheckKeys(ctx, raw, kr2); err != nil {
				t.Fatalf("after the rotation: %v", err)
			}
			s2 := seal.New(raw, kr2, kr2)
			for k, want := range values {
				got, err := s2.HostedState(ctx, k, now)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s after the rotation: %.20q, %v; want %.20q", k, got, err, want)
				}
			}
			// The flow goes on: its next capture is stored and read.
			k := central.HostedSessionKey("pa", "s1", "liveness")
			if err := s2.PutHostedState(ctx, k, []byte("next"), exp); err != nil {
				t.Fatal(err)
			}
			if got, err := s2.HostedState(ctx, k, now); err != nil || string(got) != "next" {
				t.Errorf("next capture: %q, %v", got, err)
			}
		})
	}
}

// racingStore runs race before each hosted swap of a rotation: what an
// instance serving a hosted flow writes between the rotation's listing
// and its swap.
type racingStore struct {
	central.Store
	hks  central.HostedKeyStore
	race func(call int)
	n    int
}

func (r *racingStore) HostedStateHeads(ctx context.Context, after string, n, limit int) ([]central.HostedHead, error) {
	return r.hks.HostedStateHeads(ctx, after, n, limit)
}

func (r *racingStore) SwapHostedStateHeads(ctx context.Context, swaps []central.HostedHeadSwap) (int, error) {
	r.n++
	r.race(r.n)
	return r.hks.SwapHostedStateHeads(ctx, swaps)
}

// rotationEnv is a sealed store with hosted values, its keyring, and a
// copy of that keyring from before any rotation: an instance that has not
// noticed the new key yet, still wrapping under the old one.
type rotationEnv struct {
	raw       central.Store
	kr, stale *seal.FileKeyring
	s, sStale *seal.Store
	now, exp  time.Time
}

func newRotationEnv(t *testing.T, open func(t *testing.T) backend) *rotationEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	e := &rotationEnv{raw: open(t).raw, now: time.Now()}
	e.exp = e.now.Add(time.Hour)
	var err error
	if e.kr, err = seal.LoadOrCreateKeyring(filepath.Join(dir, "central.keys")); err != nil {
		t.Fatal(err)
	}
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stale.keys"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if e.stale, err = seal.LoadOrCreateKeyring(filepath.Join(dir, "stale.keys")); err != nil {
		t.Fatal(err)
	}
	e.s, e.sStale = seal.New(e.raw, e.kr, e.kr), seal.New(e.raw, e.stale, e.stale)
	return e
}

func (e *rotationEnv) put(t *testing.T, s *seal.Store, key, value string) {
	t.Helper()
	if err := s.PutHostedState(context.Background(), key, []byte(value), e.exp); err != nil {
		t.Fatal(err)
	}
}

// TestRotateRacingHostedWrites: hosted values replaced or deleted while a
// rotation rewraps them are neither reverted nor brought back, and one
// written under the old key by an instance that has not noticed the new
// one is rewrapped by the second pass before the old key goes.
func TestRotateRacingHostedWrites(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			e := newRotationEnv(t, b.open)
			for _, k := range []string{"a", "b", "c", "d"} {
				e.put(t, e.s, k, k+"1")
			}
			old, _, _ := e.kr.KeyIDs()
			rs := &racingStore{Store: e.raw, hks: e.raw.(central.HostedKeyStore), race: func(call int) {
				if call != 1 {
					return
				}
				e.put(t, e.sStale, "a", "a2") // under the old key
				if err := e.s.DeleteHostedState(ctx, "b"); err != nil {
					t.Fatal(err)
				}
				e.put(t, e.s, "c", "c2") // under the new key
			}}
			res, err := seal.Rotate(ctx, rs, e.kr, seal.RotateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Retired, old) || res.RewrappedHosted != 2 {
				t.Errorf("retired %v (want %v), rewrapped %d hosted values (want d, then a)", res.Retired, old, res.RewrappedHosted)
			}
			for k, want := range map[string]string{"a": "a2", "c": "c2", "d": "d1"} {
				if got, err := e.s.HostedState(ctx, k, e.now); err != nil || string(got) != want {
					t.Errorf("%s: %q, %v; want %q", k, got, err, want)
				}
			}
			if got, err := e.s.HostedState(ctx, "b", e.now); !errors.Is(err, central.ErrNotFound) {
				t.Errorf("b deleted during the rotation: %q, %v; want ErrNotFound", got, err)
			}
		})
	}
}

// TestRotateKeepsKEKOfStaleHostedValues: a hosted value still wrapped by
// the old key after both passes (an instance kept wrapping under it) keeps
// that key in the keyring, and still opens.
func TestRotateKeepsKEKOfStaleHostedValues(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			e := newRotationEnv(t, b.open)
			e.put(t, e.s, "x", "x0")
			n := 0
			rs := &racingStore{Store: e.raw, hks: e.raw.(central.HostedKeyStore), race: func(int) {
				n++
				e.put(t, e.sStale, "x", fmt.Sprint("x", n))
			}}
			res, err := seal.Rotate(ctx, rs, e.kr, seal.RotateOptions{})
			if !errors.Is(err, seal.ErrStillWrapped) || len(res.Retired) != 0 {
				t.Fatalf("rotate: %v, retired %v; want ErrStillWrapped, nothing retired", err, res.Retired)
			}
			if ids, _, _ := e.kr.KeyIDs(); len(ids) != 2 {
				t.Errorf("keyring holds %v, want the old and the new key", ids)
			}
			if got, err := e.s.HostedState(ctx, "x", e.now); err != nil || string(got) != fmt.Sprint("x", n) {
				t.Errorf("x: %q, %v; want x%d", got, err, n)
			}
			usage, err := seal.HostedKeyUsage(ctx, e.raw)
			if err != nil || len(usage) != 1 || usage[res.KeyID] != 0 {
				t.Errorf("hosted key usage %v, %v; want one value under the old key", usage, err)
			}
		})
	}
}

// TestKeyCheckListsHostedKEKs: a store's first key check (no record yet)
// lists the KEK its hosted values are wrapped by, which a rotation must
// then keep until they are rewrapped.
func TestKeyCheckListsHostedKEKs(t *testing.T) {
	ctx := context.Background()
	raw := backends[0].open(t).raw
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := kr.KeyIDs()
	if err := seal.New(raw, kr, kr).PutHostedState(ctx, "x", []byte("x"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A KEK id carries its time to the second: the next one is later.
	if _, err := kr.AddKey(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := seal.CheckKeys(ctx, raw, kr); err != nil {
		t.Fatal(err)
	}
	rec, err := raw.KeyCheck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		KEKs []string `json:"keks"`
	}
	if err := json.Unmarshal(rec, &c); err != nil || !slices.Contains(c.KEKs, first[0]) {
		t.Errorf("key check lists %v (%v), want %s, which wraps a hosted value", c.KEKs, err, first[0])
	}
}
