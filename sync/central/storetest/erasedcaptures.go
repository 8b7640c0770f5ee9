package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// RunErasedCapturesAtRest stores, through seal.Store over the store open
// returns, two hosted sessions in progress, each holding a submission and
// the captures of its next attempt (central.HostedSessionKey), erases one
// session's submission (EraseFlows) and checks that dump (every byte the
// store holds: its file, or its tables' rows as text) holds nothing of
// that session's captures as stored (sealed), neither raw nor in hex
// (PostgreSQL's text of a bytea), while it still holds the other
// session's (so dump does see them). Erasure must not leave a face and an
// ID document in the store until the session expires.
func RunErasedCapturesAtRest(t *testing.T, open func(t *testing.T) central.Store, dump func(t *testing.T, raw central.Store) []byte) {
	ctx := context.Background()
	raw := open(t)
	t.Cleanup(func() {
		if err := raw.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	s := Sealed(func(*testing.T) central.Store { return raw })(t)
	hs, ok := s.(central.HostedStates)
	rawHS, rawOK := raw.(central.HostedStates)
	if !ok || !rawOK {
		t.Fatalf("%T does not keep hosted state", raw)
	}
	exp := t0.Add(time.Hour)
	// stored are the sealed values as the store holds them, by session.
	stored := map[string][][]byte{}
	for _, id := range []string{"s1", "s2"} {
		f := flow("pa", id, exp)
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
		_, err := s.UpdateFlow(ctx, "pa", id, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
			f.Status, f.Attempts = central.FlowInProgress, 1
			f.Submissions = []central.SubmissionRef{{DeviceID: central.HostedDevice(""), Key: "k-" + id}}
			f.Hosted = &central.HostedFlow{Stage: "capture", Captured: []string{"document", "selfie"}}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []string{"document", "selfie"} {
			capture := make([]byte, 40<<10) // a JPEG's worth: overflow pages in bbolt
			if _, err := rand.Read(capture); err != nil {
				t.Fatal(err)
			}
			key := central.HostedSessionKey("pa", id, step)
			if err := hs.PutHostedState(ctx, key, capture, exp); err != nil {
				t.Fatal(err)
			}
			v, err := rawHS.HostedState(ctx, key, t0)
			if err != nil {
				t.Fatal(err)
			}
			stored[id] = append(stored[id], v)
		}
	}
	// A session whose id starts with s1's keeps its captures too.
	if err := hs.PutHostedState(ctx, central.HostedSessionKey("pa", "s10", "document"), []byte("other"), exp); err != nil {
		t.Fatal(err)
	}

	holds := func(all, v []byte) bool {
		// The last 4 KiB of the sealed value: ciphertext and tag, which
		// only this value has.
		v = v[len(v)-4<<10:]
		return bytes.Contains(all, v) || bytes.Contains(all, []byte(hex.EncodeToString(v)))
	}
	before := dump(t, raw)
	for _, v := range stored["s1"] {
		if !holds(before, v) {
			t.Fatalf("the dump (%d bytes) does not hold s1's captures before the erasure: it shows nothing", len(before))
		}
	}

	flows, _, err := s.EraseFlows(ctx, central.SubmissionRef{DeviceID: central.HostedDevice(""), Key: "k-s1"}, t0.Add(time.Minute))
	if err != nil || flows != 1 {
		t.Fatalf("EraseFlows = %d sessions, %v; want 1", flows, err)
	}
	for _, step := range []string{"document", "selfie"} {
		if _, err := hs.HostedState(ctx, central.HostedSessionKey("pa", "s1", step), t0); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("the erased session's %s capture: %v, want ErrNotFound", step, err)
		}
		if _, err := hs.HostedState(ctx, central.HostedSessionKey("pa", "s2", step), t0); err != nil {
			t.Errorf("the other session's %s capture: %v", step, err)
		}
	}
	if v, err := hs.HostedState(ctx, central.HostedSessionKey("pa", "s10", "document"), t0); err != nil || string(v) != "other" {
		t.Errorf("session s10's capture after erasing s1: %q, %v", v, err)
	}
	after := dump(t, raw)
	for i, v := range stored["s1"] {
		if holds(after, v) {
			t.Errorf("the store still holds capture %d of the erased session", i)
		}
	}
	for _, v := range stored["s2"] {
		if !holds(after, v) {
			t.Errorf("the dump (%d bytes) lost the other session's captures", len(after))
		}
	}
}
