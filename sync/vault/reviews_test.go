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
	// Central acknowledged a (reviews of b are held: TestReviewBeforeAcknowledgement).
	if err := v.MarkState(ctx, "a", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "a", StateSynced, ""); err != nil {
		t.Fatal(err)
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
	// The review stays with the entry.
	if err := v.DropImages(ctx, "a"); err != nil {
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

// TestReviewBeforeAcknowledgement: a review of a submission the device
// has not recorded as synced (queued, being sent, rejected) is held aside,
// neither shown nor audited, and becomes the submission's review when
// central acknowledges it; the cursor moves past it all the same. Before,
// it was applied at once: the device showed central's decision on a
// submission central had never acknowledged.
func TestReviewBeforeAcknowledgement(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	for _, id := range []string{"queued", "sending", "rejected"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.MarkState(ctx, "sending", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "rejected", StateRejected, "central rejected the submission"); err != nil {
		t.Fatal(err)
	}
	var updates []ReviewUpdate
	for i, id := range []string{"queued", "sending", "rejected"} {
		updates = append(updates,
			ReviewUpdate{SubmissionID: id, Review: Review{State: "decided", Outcome: "reject", Seq: int64(10 + 2*i)}},
			ReviewUpdate{SubmissionID: id, Review: Review{State: "claimed", Seq: int64(1 + i)}}) // older: never replaces the held one
	}
	n, err := v.ApplyReviews(ctx, updates, 20)
	if err != nil || n != 0 {
		t.Fatalf("ApplyReviews: %d, %v; want nothing applied", n, err)
	}
	for _, id := range []string{"queued", "sending", "rejected"} {
		e, err := v.OutboxStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Review != nil || e.HeldReview == nil || e.HeldReview.Outcome != "reject" {
			t.Errorf("%s: review %+v, held %+v; want the decision held, none shown", id, e.Review, e.HeldReview)
		}
	}
	if c, err := v.ReviewCursor(ctx); err != nil || c != 20 {
		t.Fatalf("cursor %d, %v; want 20", c, err)
	}
	if log, err := v.AuditLog(ctx); err != nil || len(log) != 0 {
		t.Fatalf("audit log %+v, %v; want no decision audited yet", log, err)
	}

	// Central acknowledges the one being sent: its review appears.
	if err := v.MarkState(ctx, "sending", StateSynced, ""); err != nil {
		t.Fatal(err)
	}
	e, err := v.OutboxStatus(ctx, "sending")
	if err != nil {
		t.Fatal(err)
	}
	if e.HeldReview != nil || e.Review == nil || e.Review.Outcome != "reject" || e.Review.Seq != 12 {
		t.Fatalf("after the acknowledgement: review %+v, held %+v", e.Review, e.HeldReview)
	}
	log, err := v.AuditLog(ctx)
	if err != nil || len(log) != 1 || log[0].Action != "submission.reviewed" || log[0].Subject != "sending" {
		t.Fatalf("audit log %+v, %v; want the decision audited", log, err)
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
