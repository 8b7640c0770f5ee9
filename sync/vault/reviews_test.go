package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestApplyReviews: central's review changes land on the outbox entries
// with the cursor, survive the outbox's own state changes and a reopen,
// never go back to an older change, and pass over what the vault no
// longer holds.
func TestApplyReviews(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	v := openTest(t, Options{Now: clock.Now})
	for _, id := range []string{"a", "b"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := v.ReviewCursor(ctx); err != nil || c != 0 {
		t.Fatalf("cursor of a new vault: %d, %v", c, err)
	}
	decided := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	n, err := v.ApplyReviews(ctx, []ReviewUpdate{
		{SubmissionID: "a", Review: Review{State: "claimed", Seq: 3}},
		{SubmissionID: "gone", Review: Review{State: "decided", Outcome: "approve", Seq: 4}},
		{SubmissionID: "a", Review: Review{State: "decided", Outcome: "reject", Reason: "document_forged", DecidedAt: decided, Seq: 5}},
	}, 5)
	if err != nil || n != 2 {
		t.Fatalf("ApplyReviews: %d, %v; want the two changes of a applied", n, err)
	}
	// The outbox moves on; the review stays with the entry.
	if err := v.MarkState(ctx, "a", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "a", StateSynced, ""); err != nil {
		t.Fatal(err)
	}
	path := v.Path()
	v.Close()
	v = openAt(t, path, Passphrase(testPassphrase), Options{Now: clock.Now})
	e, err := v.OutboxStatus(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if r := e.Review; r == nil || r.State != "decided" || r.Outcome != "reject" || r.Reason != "document_forged" || !r.DecidedAt.Equal(decided) || r.Seq != 5 || r.UpdatedAt.IsZero() {
		t.Fatalf("review of a: %+v", e.Review)
	}
	if e, _ := v.OutboxStatus(ctx, "b"); e.Review != nil {
		t.Errorf("b got a review: %+v", e.Review)
	}
	if c, err := v.ReviewCursor(ctx); err != nil || c != 5 {
		t.Fatalf("cursor %d, %v; want 5", c, err)
	}

	// A replayed older change changes nothing; the cursor never goes back.
	if n, err := v.ApplyReviews(ctx, []ReviewUpdate{{SubmissionID: "a", Review: Review{State: "claimed", Seq: 3}}}, 3); err != nil || n != 0 {
		t.Fatalf("replayed change: %d, %v", n, err)
	}
	if e, _ := v.OutboxStatus(ctx, "a"); e.Review == nil || e.Review.Outcome != "reject" {
		t.Errorf("an older change replaced the decision: %+v", e.Review)
	}
	if c, _ := v.ReviewCursor(ctx); c != 5 {
		t.Errorf("cursor went back to %d", c)
	}

	// The decision is in the audit trail, the reviewer's name is not: the
	// device never receives it.
	log, err := v.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found int
	for _, ev := range log {
		if ev.Action == "submission.reviewed" {
			found++
			if ev.Subject != "a" || !strings.Contains(ev.Detail, "reject") {
				t.Errorf("audit entry %+v", ev)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d submission.reviewed entries, want 1 (the decision, not the claim)", found)
	}

	for _, bad := range [][]ReviewUpdate{
		{{SubmissionID: "", Review: Review{State: "decided", Seq: 9}}},
		{{SubmissionID: "a", Review: Review{Seq: 9}}},
	} {
		if _, err := v.ApplyReviews(ctx, bad, 9); !errors.Is(err, ErrInvalid) {
			t.Errorf("ApplyReviews(%+v): %v, want ErrInvalid", bad, err)
		}
	}
	if c, _ := v.ReviewCursor(ctx); c != 5 {
		t.Errorf("a refused batch moved the cursor to %d", c)
	}
}

// TestApplyReviewsReadOnly: a read-only vault records nothing.
func TestApplyReviewsReadOnly(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	if err := v.PutSubmission(ctx, testSubmission("a", 10)); err != nil {
		t.Fatal(err)
	}
	path := v.Path()
	v.Close()
	ro := openAt(t, path, Passphrase(testPassphrase), Options{ReadOnly: true})
	if _, err := ro.ApplyReviews(ctx, []ReviewUpdate{{SubmissionID: "a", Review: Review{State: "decided", Seq: 1}}}, 1); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("ApplyReviews on a read-only vault: %v", err)
	}
}
