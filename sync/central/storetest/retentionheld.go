package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// testExpireHeld: a submission whose review waits for a second user (an
// override proposed, a decision in second review) keeps its images,
// fields and decision past their periods, takes no place in Expire's
// limit and is counted by HoldRetention, which audits it once, when it
// is held and when what is held of it changes, not at each call; once its
// review is decided the next sweep takes it.
func testExpireHeld(t *testing.T, s central.Store) {
	ctx := context.Background()
	at := t0.Add(400 * 24 * time.Hour)
	cutoff := at.Add(-365 * 24 * time.Hour)
	imgs := map[string][]byte{"selfie": image(5, 200)}
	setState := func(sub central.Submission, st central.ReviewState) {
		t.Helper()
		_, err := s.UpdateReview(ctx, ref(sub), func(c central.Case) (central.Review, central.AuditEvent, error) {
			rv := c.Review
			rv.State, rv.Outcome, rv.DecidedBy, rv.DecidedAt = st, central.OutcomeReject, "ana", t0
			return rv, central.AuditEvent{ID: fmt.Sprint("review-", c.ID, "-", st), At: t0, Actor: "user:ana", Action: "case.test",
				Subject: "case:" + c.Ref.DeviceID + "/" + c.Ref.Key}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The held are the oldest: a limit they took would leave the others.
	override, second := decided("d1", "override", t0, imgs), decided("d1", "second", t0.Add(time.Minute), imgs)
	final, open := decided("d1", "final", t0.Add(2*time.Minute), imgs), decided("d1", "open", t0.Add(3*time.Minute), imgs)
	for _, sub := range []central.Submission{override, second, final, open} {
		upload(t, s, sub, imgs)
	}
	setState(override, central.ReviewOverride)
	setState(second, central.ReviewSecond)
	setState(final, central.ReviewDecided)

	all := map[central.DataKind]time.Time{central.ExpireImages: cutoff, central.ExpireFields: cutoff, central.ExpireDecision: cutoff}
	hold := func(due map[central.DataKind]time.Time, wantHeld map[central.DataKind]int, wantChanged int) {
		t.Helper()
		held, changed, err := s.HoldRetention(ctx, due, at, func(ch central.HeldChange) central.AuditEvent {
			return central.AuditEvent{ID: fmt.Sprint("held-", ch.Ref.Key, "-", ch.After), At: at, Actor: "retention", Action: central.AuditRetentionHeld,
				Subject: "case:" + ch.Ref.DeviceID + "/" + ch.Ref.Key, Before: kindsJSON(ch.Before), After: kindsJSON(ch.After)}
		})
		if err != nil || fmt.Sprint(held) != fmt.Sprint(wantHeld) || changed != wantChanged {
			t.Errorf("HoldRetention = %v, %d changed, %v; want %v, %d changed", held, changed, err, wantHeld, wantChanged)
		}
	}
	heldEvents := func() string {
		t.Helper()
		evs, err := s.Audit(ctx, central.AuditFilter{Action: central.AuditRetentionHeld})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			out = append(out, fmt.Sprintf("%s:%s>%s", ev.Subject, ev.Before, ev.After))
		}
		return fmt.Sprint(out)
	}
	two := map[central.DataKind]int{central.ExpireImages: 2, central.ExpireFields: 2, central.ExpireDecision: 2}
	hold(all, two, 2)
	const heldAll = `["images","fields","decision"]`
	// batch is the events of one call, which come in their cases' order.
	batch := func(evs map[central.SubmissionRef]string) []string {
		var out []string
		for r, ev := range evs {
			out = append(out, "case:"+r.DeviceID+"/"+r.Key+":"+ev)
		}
		slices.Sort(out)
		return out
	}
	first := batch(map[central.SubmissionRef]string{ref(override): "[]>" + heldAll, ref(second): "[]>" + heldAll})
	wantEvents := fmt.Sprint(first)
	if got := heldEvents(); got != wantEvents {
		t.Errorf("the trail after the first HoldRetention: %s, want %s", got, wantEvents)
	}
	// Again, nothing changed: counted, not audited again.
	hold(all, two, 0)
	if got := heldEvents(); got != wantEvents {
		t.Errorf("the trail after HoldRetention again: %s, want %s", got, wantEvents)
	}

	for _, kind := range []central.DataKind{central.ExpireImages, central.ExpireFields, central.ExpireDecision} {
		var got []int
		for {
			n, err := s.Expire(ctx, kind, cutoff, at, 1)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
			if n < 1 {
				break
			}
		}
		if fmt.Sprint(got) != "[1 1 0]" {
			t.Errorf("Expire(%s) in batches of 1 = %v, want [1 1 0]: the 2 not pending, the held taking no place", kind, got)
		}
	}
	hold(all, two, 0)
	for _, sub := range []central.Submission{override, second} {
		got, err := s.Upload(ctx, sub.DeviceID, sub.Key)
		if err != nil || got.Payload == nil || !got.ImagesErasedAt.IsZero() || !got.FieldsErasedAt.IsZero() {
			t.Fatalf("%s, pending, after the sweep: %+v, %v; want it whole", sub.ID, got, err)
		}
		if c, err := s.Case(ctx, ref(sub)); err != nil || !c.Review.Pending() {
			t.Errorf("%s's case after the sweep: %+v, %v", sub.ID, c.Review, err)
		}
	}
	for _, sub := range []central.Submission{final, open} {
		if _, err := s.Upload(ctx, sub.DeviceID, sub.Key); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("%s, not pending, after the sweep = %v, want ErrNotFound", sub.ID, err)
		}
	}

	// Confirmed: nothing holds it any more, which the trail says once; a
	// policy that keeps images and fields changes what is held of the
	// other.
	setState(override, central.ReviewDecided)
	hold(map[central.DataKind]time.Time{central.ExpireDecision: cutoff}, map[central.DataKind]int{central.ExpireDecision: 1}, 2)
	hold(map[central.DataKind]time.Time{central.ExpireDecision: cutoff}, map[central.DataKind]int{central.ExpireDecision: 1}, 0)
	wantEvents = fmt.Sprint(append(first, batch(map[central.SubmissionRef]string{ref(override): heldAll + ">[]", ref(second): heldAll + `>["decision"]`})...))
	if got := heldEvents(); got != wantEvents {
		t.Errorf("the trail once one is confirmed: %s, want %s", got, wantEvents)
	}
	if n, err := s.Expire(ctx, central.ExpireDecision, cutoff, at, 10); err != nil || n != 1 {
		t.Errorf("Expire(decision) once one is confirmed = %d, %v; want 1", n, err)
	}
	if _, err := s.Case(ctx, ref(override)); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the confirmed case after the sweep = %v, want ErrNotFound", err)
	}
}

// kindsJSON is kinds as an audit event keeps them: none is [].
func kindsJSON(kinds []central.DataKind) json.RawMessage {
	b, _ := json.Marshal(append([]central.DataKind{}, kinds...))
	return b
}

// testExpireClaimed: a case a reviewer claimed less than
// central.ClaimLease ago is held back like a pending one; a claim older
// than that holds nothing, and the case is let go once its claim ends.
func testExpireClaimed(t *testing.T, s central.Store) {
	ctx := context.Background()
	at := t0.Add(400 * 24 * time.Hour)
	cutoff := at.Add(-365 * 24 * time.Hour)
	imgs := map[string][]byte{"selfie": image(5, 200)}
	live, stale := decided("d1", "live", t0, imgs), decided("d1", "stale", t0.Add(time.Minute), imgs)
	for sub, claimedAt := range map[*central.Submission]time.Time{&live: at.Add(-time.Hour), &stale: at.Add(-central.ClaimLease - time.Hour)} {
		upload(t, s, *sub, imgs)
		_, err := s.UpdateReview(ctx, ref(*sub), func(c central.Case) (central.Review, central.AuditEvent, error) {
			return central.Review{State: central.ReviewClaimed, Assignee: "ana", ClaimedAt: claimedAt},
				central.AuditEvent{ID: "claim-" + sub.ID, At: claimedAt, Actor: "user:ana", Action: "claim", Subject: "case:" + c.Ref.DeviceID + "/" + c.Ref.Key}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	due := map[central.DataKind]time.Time{central.ExpireImages: cutoff, central.ExpireFields: cutoff, central.ExpireDecision: cutoff}
	audit := func(ch central.HeldChange) central.AuditEvent {
		return central.AuditEvent{ID: fmt.Sprint("held-", ch.Ref.Key, "-", ch.After), At: at, Actor: "retention", Action: central.AuditRetentionHeld,
			Subject: "case:" + ch.Ref.DeviceID + "/" + ch.Ref.Key, After: kindsJSON(ch.After)}
	}
	one := map[central.DataKind]int{central.ExpireImages: 1, central.ExpireFields: 1, central.ExpireDecision: 1}
	if held, changed, err := s.HoldRetention(ctx, due, at, audit); err != nil || fmt.Sprint(held) != fmt.Sprint(one) || changed != 1 {
		t.Errorf("HoldRetention = %v, %d changed, %v; want the live claim held", held, changed, err)
	}
	for _, kind := range []central.DataKind{central.ExpireImages, central.ExpireFields, central.ExpireDecision} {
		if n, err := s.Expire(ctx, kind, cutoff, at, 10); err != nil || n != 1 {
			t.Errorf("Expire(%s) = %d, %v; want the stale claim's only", kind, n, err)
		}
	}
	if _, err := s.Case(ctx, ref(stale)); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the case of a stale claim after the sweep: %v", err)
	}
	if got, err := s.Upload(ctx, live.DeviceID, live.Key); err != nil || got.Payload == nil || !got.ImagesErasedAt.IsZero() {
		t.Fatalf("the case of a live claim after the sweep: %+v, %v; want it whole", got, err)
	}
	// Its claim ended: let go, then taken.
	later := at.Add(central.ClaimLease)
	if held, changed, err := s.HoldRetention(ctx, due, later, audit); err != nil || fmt.Sprint(held) != fmt.Sprint(map[central.DataKind]int{central.ExpireImages: 0, central.ExpireFields: 0, central.ExpireDecision: 0}) || changed != 1 {
		t.Errorf("HoldRetention once the claim ended = %v, %d changed, %v; want none held, 1 let go", held, changed, err)
	}
	if n, err := s.Expire(ctx, central.ExpireDecision, cutoff, later, 10); err != nil || n != 1 {
		t.Errorf("Expire(decision) once the claim ended = %d, %v; want 1", n, err)
	}
}
