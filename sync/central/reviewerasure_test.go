package central_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestErasureRefusesPendingDecision: the admin API's erasure of a case
// whose decision waits for a second user (an override proposed, a
// decision in second review) is 409 four_eyes_pending, by the submission
// or by the person, dry run included, and erases nothing; a case claimed
// or decided is erased as any other.
func TestErasureRefusesPendingDecision(t *testing.T) {
	ctx := context.Background()
	store := sealedBolt(t)
	c := start(t, central.Config{Store: store})
	now := time.Now().UTC()
	for _, tc := range []struct {
		state  central.ReviewState
		status int
		code   string
	}{
		{central.ReviewOverride, http.StatusConflict, "four_eyes_pending"},
		{central.ReviewSecond, http.StatusConflict, "four_eyes_pending"},
		{central.ReviewClaimed, http.StatusAccepted, ""},
		{central.ReviewDecided, http.StatusAccepted, ""},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			id := "sub-" + string(tc.state)
			sub := storedSubmission(t, store, id, now)
			ref := central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
			if _, err := store.UpdateReview(ctx, ref, func(central.Case) (central.Review, central.AuditEvent, error) {
				return central.Review{State: tc.state, Assignee: "alice", Outcome: central.OutcomeReject, DecidedBy: "alice", DecidedAt: now},
					central.AuditEvent{ID: "ev-" + id, At: now, Actor: "user:alice", Action: "review.test", Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
			}); err != nil {
				t.Fatal(err)
			}
			requests := []string{`{"device_id":"dev-1","submission_id":"` + id + `","dry_run":true}`, `{"nik":"3174096112900001"}`, `{"device_id":"dev-1","submission_id":"` + id + `"}`}
			if tc.status != http.StatusConflict {
				requests = requests[2:]
			}
			for _, body := range requests {
				if resp, e := c.admin(t, "POST", "/admin/v1/erasures", []byte(body), nil); resp.StatusCode != tc.status || e.Code != tc.code {
					t.Errorf("%s: %d %q, want %d %q", body, resp.StatusCode, e.Code, tc.status, tc.code)
				}
			}
			_, err := store.Upload(ctx, sub.DeviceID, sub.Key)
			if erased := errors.Is(err, central.ErrNotFound); erased != (tc.status == http.StatusAccepted) {
				t.Errorf("erased %v (%v), want %v", erased, err, tc.status == http.StatusAccepted)
			}
		})
	}
}

// TestErasureRunRefusesPendingDecision: a decision proposed after an
// erasure was accepted, before its run reached the case, fails the run
// (the record says why, naming no submission) and the case stays; once the
// decision is settled, the erasure asked again erases it.
func TestErasureRunRefusesPendingDecision(t *testing.T) {
	ctx := context.Background()
	store := sealedBolt(t)
	sub := personSubmission(t, store, "sub-pending", erasureNIK)
	ref := central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
	setState := func(st central.ReviewState) {
		t.Helper()
		now := time.Now().UTC()
		if _, err := store.UpdateReview(ctx, ref, func(central.Case) (central.Review, central.AuditEvent, error) {
			return central.Review{State: st, Assignee: "alice", Outcome: central.OutcomeReject, DecidedBy: "alice", DecidedAt: now},
				central.AuditEvent{ID: "ev-" + string(st), At: now, Actor: "user:alice", Action: "review.test", Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setState(central.ReviewOverride)
	// Accepted before the proposal: the record is in, its run to come.
	e := central.Erasure{ID: "er-raced", Status: central.ErasureQueued, Actor: "admin:ops", RequestedAt: time.Now().UTC(),
		DeviceID: sub.DeviceID, SubmissionKey: sub.Key}
	if err := store.AddErasure(ctx, e, false); err != nil {
		t.Fatal(err)
	}
	c := start(t, central.Config{Store: store})
	if err := c.Server.RunErasure(ctx, e.ID, true); err == nil {
		t.Fatal("the run erased a case whose decision waits for a second reviewer")
	}
	var got central.Erasure
	if resp, _ := c.admin(t, "GET", "/admin/v1/erasures/"+e.ID, nil, &got); resp.StatusCode != http.StatusOK || got.Status != central.ErasureFailed ||
		!strings.Contains(got.Error, "waits for a second reviewer") || strings.Contains(got.Error, "sub-pending") || got.Erased != 0 {
		t.Errorf("the record of the refused run: %d %+v", resp.StatusCode, got)
	}
	if _, err := store.Case(ctx, ref); err != nil {
		t.Fatalf("the case after the refused run: %v", err)
	}
	setState(central.ReviewDecided)
	if resp, e := c.admin(t, "POST", "/admin/v1/erasures", []byte(`{"nik":"`+erasureNIK+`"}`), &got); resp.StatusCode != http.StatusAccepted || got.Erased != 1 {
		t.Errorf("the erasure asked again: %d %q %+v", resp.StatusCode, e.Code, got)
	}
}

// TestSweepHoldsPendingDecision: the retention sweep keeps a case past
// its period while its decision waits for a second user (an override
// proposed, a decision in second review), says how many it held back (its
// result and its audit event), and takes the others, a claimed case
// among them (a claim with no time, which ClaimLease has long ended).
func TestSweepHoldsPendingDecision(t *testing.T) {
	ctx := context.Background()
	store := sealedBolt(t)
	old := time.Now().UTC().Add(-400 * 24 * time.Hour)
	refs := map[central.ReviewState]central.SubmissionRef{}
	for _, st := range []central.ReviewState{central.ReviewOverride, central.ReviewSecond, central.ReviewClaimed, central.ReviewOpen} {
		id := "sub-" + string(st)
		sub := storedSubmission(t, store, id, old)
		ref := central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
		refs[st] = ref
		if st == central.ReviewOpen {
			continue
		}
		if _, err := store.UpdateReview(ctx, ref, func(central.Case) (central.Review, central.AuditEvent, error) {
			return central.Review{State: st, Assignee: "alice", Outcome: central.OutcomeReject, DecidedBy: "alice", DecidedAt: old},
				central.AuditEvent{ID: "ev-" + id, At: old, Actor: "user:alice", Action: "review.test", Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.PutRetention(ctx, central.RetentionPolicy{DecisionDays: 365}); err != nil {
		t.Fatal(err)
	}
	c := start(t, central.Config{Store: store})
	// The sweep Serve runs at start.
	var sweeps []central.AuditEvent
	waitFor(t, time.Minute, func() bool {
		var err error
		sweeps, err = store.Audit(ctx, central.AuditFilter{Action: central.AuditSweep})
		return err == nil && len(sweeps) > 0
	})
	var counts map[string]int
	if err := json.Unmarshal(sweeps[0].After, &counts); err != nil || sweeps[0].Count != 2 || counts["decision"] != 2 || counts["held_decision"] != 2 {
		t.Errorf("the sweep's audit event: count %d, %s (%v); want 2 removed, 2 held back", sweeps[0].Count, sweeps[0].After, err)
	}
	for st, ref := range refs {
		_, err := store.Case(ctx, ref)
		if kept := err == nil; kept != (st == central.ReviewOverride || st == central.ReviewSecond) {
			t.Errorf("%s case after the sweep: %v", st, err)
		}
	}
	res, err := c.Server.Sweep(ctx)
	if err != nil || res.Counts[central.ExpireDecision] != 0 || res.Held[central.ExpireDecision] != 2 {
		t.Errorf("a sweep again = %+v, %v; want nothing removed, 2 held back", res, err)
	}
}
