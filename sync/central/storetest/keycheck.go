package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
)

// testKeyCheckSwap: the key check record is swapped only from the record
// stored (nil: none), and of instances writing the first one at once
// exactly one succeeds.
func testKeyCheckSwap(t *testing.T, s central.Store) {
	ctx := context.Background()
	if rec, err := s.KeyCheck(ctx); err != nil || rec != nil {
		t.Fatalf("KeyCheck of a new store = %q, %v; want none", rec, err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ok, err := s.SwapKeyCheck(ctx, nil, fmt.Appendf(nil, "rec-%d", i))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d first records stored at once; want 1", wins.Load())
	}
	first, err := s.KeyCheck(ctx)
	if err != nil || !bytes.HasPrefix(first, []byte("rec-")) {
		t.Fatalf("KeyCheck = %q, %v", first, err)
	}
	steps := []struct {
		old, rec string
		nilOld   bool
		want     bool
	}{
		{nilOld: true, rec: "again", want: false},
		{old: "stale", rec: "b", want: false},
		{old: string(first), rec: "b", want: true},
		{old: string(first), rec: "c", want: false},
		{old: "b", rec: "c", want: true},
	}
	for _, st := range steps {
		old := []byte(st.old)
		if st.nilOld {
			old = nil
		}
		if ok, err := s.SwapKeyCheck(ctx, old, []byte(st.rec)); err != nil || ok != st.want {
			t.Errorf("SwapKeyCheck(%q, %q) = %v, %v; want %v", old, st.rec, ok, err, st.want)
		}
	}
	if rec, err := s.KeyCheck(ctx); err != nil || string(rec) != "c" {
		t.Errorf("KeyCheck = %q, %v; want c", rec, err)
	}
}

// otherKeyring is a keyring of another central.
func otherKeyring(t *testing.T) *seal.FileKeyring {
	t.Helper()
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "other.keys"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// copyKeyring copies the keyring file at path as it is now, with edit
// applied to its JSON, and opens the copy.
func copyKeyring(t *testing.T, path string, edit func(map[string]any)) *seal.FileKeyring {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	cp := filepath.Join(t.TempDir(), "copy.keys")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	kr, err := seal.LoadOrCreateKeyring(cp)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// testForeignKeysWithoutSubmissions: a store holding no submission but
// other sealed data (a partner's session, its user reference sealed) is
// refused beside another central's keyring, and beside a keyring whose
// KEKs are this one's but whose index key is not (the references and
// blind index would not open); its own keyring passes, again and again.
func testForeignKeysWithoutSubmissions(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Fatalf("CheckKeys of a new store beside its keyring: %v", err)
	}
	createSession(t, e.s)
	if usage, err := e.raw.KeyUsage(ctx); err != nil || len(usage) != 0 {
		t.Fatalf("KeyUsage = %v, %v; want no submission", usage, err)
	}
	other := otherKeyring(t)
	if _, err := seal.New(e.raw, other, other).Flow(ctx, "pa", "s1"); err == nil {
		t.Fatal("another keyring opened the session's user reference")
	}
	otherIndex := copyKeyring(t, e.keyring, func(m map[string]any) { m["index_key"] = bytes.Repeat([]byte{7}, 32) })
	for name, kr := range map[string]*seal.FileKeyring{"another central's keyring": other, "another index key": otherIndex} {
		if err := seal.CheckKeys(ctx, e.raw, kr); !errors.Is(err, seal.ErrForeignKeys) {
			t.Errorf("CheckKeys beside %s = %v; want ErrForeignKeys", name, err)
		}
	}
	for range 2 {
		if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
			t.Errorf("CheckKeys beside its own keyring: %v", err)
		}
	}
}

// testOldStoreSessionsOnly: a store sealed by a release before the key
// check holding no submission, only a partner's session (its user
// reference sealed under the index key), is refused beside another
// keyring, writing no record; beside its own it passes.
func testOldStoreSessionsOnly(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	createSession(t, e.s)
	if err := seal.CheckKeys(ctx, e.raw, otherKeyring(t)); !errors.Is(err, seal.ErrForeignKeys) {
		t.Errorf("CheckKeys of the old store beside another keyring = %v; want ErrForeignKeys", err)
	}
	if rec, err := e.raw.KeyCheck(ctx); err != nil || rec != nil {
		t.Fatalf("a refused check wrote a key check: %q, %v", rec, err)
	}
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Errorf("CheckKeys of the old store beside its keyring: %v", err)
	}
}

// countingKeys counts the passes over every submission's key.
type countingKeys struct {
	central.KeyStore
	usage atomic.Int32
}

func (c *countingKeys) KeyUsage(ctx context.Context) (map[string]int, error) {
	c.usage.Add(1)
	return c.KeyStore.KeyUsage(ctx)
}

// testKeyCheckForOldStore: a store sealed by a release before the key
// check (submissions, no record) is judged by its submissions once, gets
// a record, and is judged by the record from then on, without a pass
// over the submissions; a foreign keyring is refused either way.
func testKeyCheckForOldStore(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	sub, imgs := sealedSubmission("d1", "old1", nikA, nameA)
	e.uploadSealed(t, sub, imgs)
	if rec, err := e.raw.KeyCheck(ctx); err != nil || rec != nil {
		t.Fatalf("KeyCheck before any check = %q, %v; want none", rec, err)
	}
	if err := seal.CheckKeys(ctx, e.raw, otherKeyring(t)); !errors.Is(err, seal.ErrForeignKeys) {
		t.Errorf("CheckKeys of the old store beside another keyring = %v; want ErrForeignKeys", err)
	}
	if rec, err := e.raw.KeyCheck(ctx); err != nil || rec != nil {
		t.Fatalf("a refused check wrote a key check: %q, %v", rec, err)
	}
	counted := &countingKeys{KeyStore: e.raw}
	if err := seal.CheckKeys(ctx, counted, e.kr); err != nil || counted.usage.Load() != 1 {
		t.Fatalf("CheckKeys of the old store = %v after %d passes; want it to pass after 1", err, counted.usage.Load())
	}
	if rec, err := e.raw.KeyCheck(ctx); err != nil || rec == nil {
		t.Fatalf("KeyCheck after the first check = %q, %v; want one written", rec, err)
	}
	counted.usage.Store(0)
	if err := seal.CheckKeys(ctx, counted, e.kr); err != nil || counted.usage.Load() != 0 {
		t.Errorf("CheckKeys with a key check = %v after %d passes over the submissions; want 0", err, counted.usage.Load())
	}
	if err := seal.CheckKeys(ctx, counted, otherKeyring(t)); !errors.Is(err, seal.ErrForeignKeys) {
		t.Errorf("CheckKeys with a key check beside another keyring = %v; want ErrForeignKeys", err)
	}
}

// testKeyCheckListsKEKs: data wrapped by a KEK made current after the key
// check was written is noted in it, so a keyring lacking that KEK (the
// file as it was before a rotation began, put back) is refused although
// the record itself opens under it; a rotation moves the record to the
// new KEK, after which the keyring from before it is refused and the
// rotated one passes.
func testKeyCheckListsKEKs(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Fatal(err)
	}
	before := copyKeyring(t, e.keyring, nil)
	if _, err := e.kr.AddKey(time.Now()); err != nil {
		t.Fatal(err)
	}
	sub, imgs := sealedSubmission("d1", "new1", nikA, nameA)
	e.uploadSealed(t, sub, imgs)
	if err := seal.CheckKeys(ctx, e.raw, before); !errors.Is(err, seal.ErrForeignKeys) {
		t.Errorf("CheckKeys beside the keyring lacking the KEK new data is wrapped by = %v; want ErrForeignKeys", err)
	}
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Errorf("CheckKeys beside the keyring holding both: %v", err)
	}
	if _, err := seal.Rotate(ctx, e.raw, e.kr, seal.RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Errorf("CheckKeys after a rotation retired the old KEKs: %v", err)
	}
	if err := seal.CheckKeys(ctx, e.raw, before); !errors.Is(err, seal.ErrForeignKeys) {
		t.Errorf("CheckKeys after a rotation beside the keyring from before it = %v; want ErrForeignKeys", err)
	}
}

// cancelAfterRewrap cancels a rotation's context once its first
// rewrapping pass is stored: the rotation stops in its grace, as one
// killed there does.
type cancelAfterRewrap struct {
	central.KeyStore
	cancel context.CancelFunc
}

func (c cancelAfterRewrap) Rewrap(ctx context.Context, rs []central.Rewrapping) (int, error) {
	n, err := c.KeyStore.Rewrap(ctx, rs)
	c.cancel()
	return n, err
}

// oldRelease rotates kr at now as a release before the key check did: a
// new KEK, every data key rewrapped, the old KEKs retired, the record
// left wrapped by a retired one.
func oldRelease(t *testing.T, ks central.KeyStore, kr *seal.FileKeyring, now time.Time) {
	t.Helper()
	if _, err := kr.AddKey(now); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.Rewrap(context.Background(), ks, kr); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Retire(); err != nil {
		t.Fatal(err)
	}
}

// testKeyCheckStale: a key check record naming a KEK its central's
// keyring no longer holds, while every submission opens under the
// keyring, does not lock central out: it is judged by the data once and
// replaced. It happens after a rotation by a release before the record
// (it retires the KEK wrapping the record) and to a copy taken in a
// rotation's grace (every data key rewrapped, the record still listing
// the old KEK) beside the rotated keyring. Another central's keyring, and
// this one's from before the rotation, are still refused.
func testKeyCheckStale(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	sub, imgs := sealedSubmission("d1", "stale1", nikA, nameA)
	e.uploadSealed(t, sub, imgs)
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Fatal(err)
	}
	before := copyKeyring(t, e.keyring, nil)
	// Each rotation an hour after the last (KEK ids carry their time).
	at := time.Now()
	later := func() time.Time { at = at.Add(time.Hour); return at }

	oldRelease(t, e.raw, e.kr, later())
	if _, err := seal.Rotate(ctx, e.raw, e.kr, seal.RotateOptions{Now: later}); err != nil {
		t.Errorf("Rotate after an older release's rotation: %v", err)
	}
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Errorf("CheckKeys after an older release's rotation and this one's: %v", err)
	}

	oldRelease(t, e.raw, e.kr, later())
	for name, kr := range map[string]*seal.FileKeyring{"another central's keyring": otherKeyring(t), "the keyring before the rotations": before} {
		if err := seal.CheckKeys(ctx, e.raw, kr); !errors.Is(err, seal.ErrForeignKeys) {
			t.Errorf("CheckKeys beside %s = %v; want ErrForeignKeys", name, err)
		}
	}
	counted := &countingKeys{KeyStore: e.raw}
	if err := seal.CheckKeys(ctx, counted, e.kr); err != nil || counted.usage.Load() != 1 {
		t.Errorf("CheckKeys after an older release's rotation = %v after %d passes over the submissions; want it to pass after 1", err, counted.usage.Load())
	}
	counted.usage.Store(0)
	if err := seal.CheckKeys(ctx, counted, e.kr); err != nil || counted.usage.Load() != 0 {
		t.Errorf("CheckKeys once the record is replaced = %v after %d passes over the submissions; want 0", err, counted.usage.Load())
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err := seal.Rotate(rctx, cancelAfterRewrap{KeyStore: e.raw, cancel: cancel}, e.kr, seal.RotateOptions{Grace: time.Hour, Now: later})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Rotate stopped in its grace = %v; want context.Canceled", err)
	}
	if _, err := e.kr.Retire(); err != nil {
		t.Fatal(err)
	}
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Errorf("CheckKeys of a copy taken in a rotation's grace beside the rotated keyring: %v", err)
	}
	if _, err := e.s.Upload(ctx, "d1", sub.Key); err != nil {
		t.Errorf("reading the submission back: %v", err)
	}
}

// testKeyCheckOldReleaseOldKeyring: after a release before the record
// rotated the submissions onto a new KEK (leaving the record wrapped by
// the old one, which it retired), the keyring as it was before that
// rotation opens the record but no submission: refused.
func testKeyCheckOldReleaseOldKeyring(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	sub, imgs := sealedSubmission("d1", "downgrade1", nikA, nameA)
	e.uploadSealed(t, sub, imgs)
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Fatal(err)
	}
	before := copyKeyring(t, e.keyring, nil)
	oldRelease(t, e.raw, e.kr, time.Now().Add(time.Hour))
	if err := seal.CheckKeys(ctx, e.raw, before); !errors.Is(err, seal.ErrForeignKeys) {
		t.Errorf("CheckKeys beside the keyring from before an older release's rotation = %v; want ErrForeignKeys", err)
	}
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Errorf("CheckKeys beside the rotated keyring: %v", err)
	}
}

// testKeyCheckRepair: a malformed key check record stops CheckKeys
// (ErrBadKeyCheck) until RepairKeyCheck rebuilds it from the data, which
// another central's keyring cannot do; a later release's record is left
// as it is; a sound record is only checked.
func testKeyCheckRepair(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	sub, imgs := sealedSubmission("d1", "repair1", nikA, nameA)
	e.uploadSealed(t, sub, imgs)
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Fatal(err)
	}
	if repaired, err := seal.RepairKeyCheck(ctx, e.raw, e.kr); err != nil || repaired {
		t.Errorf("RepairKeyCheck of a sound record = %v, %v; want nothing to repair", repaired, err)
	}
	swap := func(rec string) {
		t.Helper()
		old, err := e.raw.KeyCheck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := e.raw.SwapKeyCheck(ctx, old, []byte(rec)); err != nil || !ok {
			t.Fatalf("SwapKeyCheck = %v, %v", ok, err)
		}
	}
	for _, bad := range []string{`{"format":"openkyc-central-key-check-v1","kek_id":`, `{"format":"openkyc-central-key-check-v1"}`, `[]`} {
		swap(bad)
		if err := seal.CheckKeys(ctx, e.raw, e.kr); !errors.Is(err, seal.ErrBadKeyCheck) {
			t.Errorf("CheckKeys of record %s = %v; want ErrBadKeyCheck", bad, err)
		}
		if _, err := seal.RepairKeyCheck(ctx, e.raw, otherKeyring(t)); !errors.Is(err, seal.ErrForeignKeys) {
			t.Errorf("RepairKeyCheck of record %s beside another central's keyring = %v; want ErrForeignKeys", bad, err)
		}
		if rec, _ := e.raw.KeyCheck(ctx); string(rec) != bad {
			t.Errorf("a refused repair changed the record to %q", rec)
		}
		if repaired, err := seal.RepairKeyCheck(ctx, e.raw, e.kr); err != nil || !repaired {
			t.Errorf("RepairKeyCheck of record %s = %v, %v; want it repaired", bad, repaired, err)
		}
		if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
			t.Errorf("CheckKeys after the repair: %v", err)
		}
		if err := seal.CheckKeys(ctx, e.raw, otherKeyring(t)); !errors.Is(err, seal.ErrForeignKeys) {
			t.Errorf("CheckKeys of the repaired record beside another central's keyring = %v; want ErrForeignKeys", err)
		}
	}
	newer := `{"format":"openkyc-central-key-check-v2","kek_id":"k"}`
	swap(newer)
	if err := seal.CheckKeys(ctx, e.raw, e.kr); !errors.Is(err, seal.ErrNewerKeyCheck) {
		t.Errorf("CheckKeys of a later release's record = %v; want ErrNewerKeyCheck", err)
	}
	if _, err := seal.RepairKeyCheck(ctx, e.raw, e.kr); !errors.Is(err, seal.ErrNewerKeyCheck) {
		t.Errorf("RepairKeyCheck of a later release's record = %v; want ErrNewerKeyCheck", err)
	}
	if rec, _ := e.raw.KeyCheck(ctx); string(rec) != newer {
		t.Errorf("a later release's record became %q", rec)
	}
	if _, err := e.s.Upload(ctx, "d1", sub.Key); err != nil {
		t.Errorf("reading the submission back: %v", err)
	}
}

// testKeyCheckOlderKeyring: the keyring put back as it was before a
// rotation (lacking the KEK made by it, which wraps the key check) is
// refused even when no submission is wrapped by that KEK: the store's
// record is this central's, but the missing KEK is newer than the
// keyring's current one, so it was not retired: the keyring is old.
func testKeyCheckOlderKeyring(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	createSession(t, e.s)
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Fatal(err)
	}
	before := copyKeyring(t, e.keyring, nil)
	later := func() time.Time { return time.Now().Add(time.Hour) }
	if _, err := seal.Rotate(ctx, e.raw, e.kr, seal.RotateOptions{Now: later}); err != nil {
		t.Fatal(err)
	}
	if err := seal.CheckKeys(ctx, e.raw, before); !errors.Is(err, seal.ErrForeignKeys) {
		t.Errorf("CheckKeys beside the keyring from before a rotation = %v; want ErrForeignKeys", err)
	}
	if err := seal.CheckKeys(ctx, e.raw, e.kr); err != nil {
		t.Errorf("CheckKeys beside the rotated keyring: %v", err)
	}
}

// createSession writes a partner's session into s, its user reference
// sealed under the index key: sealed data that is no submission.
func createSession(t *testing.T, s central.Store) {
	t.Helper()
	f := central.FlowSession{ID: "s1", PartnerID: "pa", UserID: "someone@example.com", UserIDType: "email", Status: central.FlowCreated,
		CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateFlow(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}
