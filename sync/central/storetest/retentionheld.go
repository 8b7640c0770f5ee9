package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// testExpireHeld: a submission whose review waits for a second user (an
// override proposed, a decision in second review) keeps its images,
// fields and decision past their periods, takes no place in Expire's
// limit and is counted by ExpireHeld; once its review is decided the next
// sweep takes it.
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

	for _, kind := range []central.DataKind{central.ExpireImages, central.ExpireFields, central.ExpireDecision} {
		if n, err := s.ExpireHeld(ctx, kind, cutoff); err != nil || n != 2 {
			t.Errorf("ExpireHeld(%s) = %d, %v; want the 2 pending", kind, n, err)
		}
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
		if n, err := s.ExpireHeld(ctx, kind, cutoff); err != nil || n != 2 {
			t.Errorf("ExpireHeld(%s) after Expire = %d, %v; want 2", kind, n, err)
		}
	}
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
	if n, err := s.ExpireHeld(ctx, central.ExpireWebhooks, cutoff); err != nil || n != 0 {
		t.Errorf("ExpireHeld(webhooks) = %d, %v; want 0", n, err)
	}

	// Confirmed: nothing holds it any more.
	setState(override, central.ReviewDecided)
	if n, err := s.ExpireHeld(ctx, central.ExpireDecision, cutoff); err != nil || n != 1 {
		t.Errorf("ExpireHeld(decision) once one is confirmed = %d, %v; want 1", n, err)
	}
	if n, err := s.Expire(ctx, central.ExpireDecision, cutoff, at, 10); err != nil || n != 1 {
		t.Errorf("Expire(decision) once one is confirmed = %d, %v; want 1", n, err)
	}
	if _, err := s.Case(ctx, ref(override)); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the confirmed case after the sweep = %v, want ErrNotFound", err)
	}
}
