package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// review stores a review of one submission directly in central's store,
// as the console's decision does.
func review(t *testing.T, store central.Store, deviceID, submissionID string, rv central.Review) {
	t.Helper()
	ref := central.SubmissionRef{DeviceID: deviceID, Key: protocol.SubmissionKey(submissionID)}
	_, err := store.UpdateReview(context.Background(), ref, func(central.Case) (central.Review, central.AuditEvent, error) {
		return rv, central.AuditEvent{ID: "test-" + submissionID, At: time.Now(), Actor: rv.DecidedBy, Action: "review." + string(rv.State),
			Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReviewsReachTheDevice: a reviewer's decisions in central's store
// reach the device's vault at its next pass, on the submissions they
// concern; a proposal waiting for four eyes arrives without an outcome,
// another device's decisions never arrive, the reviewer's name and note
// never leave central, and each change arrives once.
func TestReviewsReachTheDevice(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	v := r.openVault(t, vault.Options{})
	subs := capture(t, v, r.id, 0, 3, 2000)
	up := r.uploader(t, agent.Config{})
	a := agent.New(up, v, agent.Options{})
	if p, err := a.RunOnce(ctx); err != nil || p.Synced != 3 || p.Reviews != 0 || p.Err != nil {
		t.Fatalf("first pass %+v, %v", p, err)
	}

	// Another device, with a decided submission of its own.
	otherID, otherEnr := r.central.Enroll(t)
	otherUp, err := agent.NewUploader(agent.Config{Identity: otherID, Enrollment: otherEnr, RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	other := synctest.Submission(t, otherID, 100, 0)
	if err := otherUp.Upload(ctx, other); err != nil {
		t.Fatal(err)
	}

	decided := time.Now().UTC().Truncate(time.Second)
	review(t, r.store, otherID.DeviceID(), other.ID, central.Review{State: central.ReviewDecided, Outcome: central.OutcomeApprove, DecidedBy: "bob", DecidedAt: decided})
	review(t, r.store, r.id.DeviceID(), subs[0].ID, central.Review{State: central.ReviewDecided, Outcome: central.OutcomeReject,
		Reason: "document_forged", Note: "the hologram is printed on", DecidedBy: "alice", DecidedAt: decided})
	review(t, r.store, r.id.DeviceID(), subs[1].ID, central.Review{State: central.ReviewSecond, Outcome: central.OutcomeReject,
		Reason: "sanctions_hit", Note: "needs a second look", DecidedBy: "alice", DecidedAt: decided})

	// What travels: this device's changes only, without names or notes.
	page, err := up.FetchReviews(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(page)
	for _, secret := range []string{"alice", "bob", "hologram", "second look", other.ID} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the device's review answer carries %q: %s", secret, raw)
		}
	}
	if len(page.Reviews) != 2 || page.More {
		t.Fatalf("page %s; want this device's 2 changes", raw)
	}

	p, err := a.RunOnce(ctx)
	if err != nil || p.Reviews != 2 || p.Err != nil {
		t.Fatalf("pass after the reviews %+v, %v; want 2 reviews applied", p, err)
	}
	e, err := v.OutboxStatus(ctx, subs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if rv := e.Review; rv == nil || rv.State != "decided" || rv.Outcome != "reject" || rv.Reason != "document_forged" || !rv.DecidedAt.Equal(decided) {
		t.Errorf("decided submission: %+v", e.Review)
	}
	e, _ = v.OutboxStatus(ctx, subs[1].ID)
	if rv := e.Review; rv == nil || rv.State != "second_review" || rv.Outcome != "" || rv.Reason != "" {
		t.Errorf("a proposal waiting for four eyes: %+v; want its state without an outcome", e.Review)
	}
	if e, _ = v.OutboxStatus(ctx, subs[2].ID); e.Review != nil {
		t.Errorf("an unreviewed submission: %+v", e.Review)
	}
	cursor, err := v.ReviewCursor(ctx)
	if err != nil || cursor == 0 {
		t.Fatalf("cursor %d, %v", cursor, err)
	}

	// Nothing new: nothing applied. The second reviewer confirms: the
	// decision arrives at the next pass.
	if p, err := a.RunOnce(ctx); err != nil || p.Reviews != 0 {
		t.Fatalf("pass without changes %+v, %v", p, err)
	}
	review(t, r.store, r.id.DeviceID(), subs[1].ID, central.Review{State: central.ReviewDecided, Outcome: central.OutcomeReject,
		Reason: "sanctions_hit", DecidedBy: "alice", SecondBy: "carol", DecidedAt: decided})
	if p, err := a.RunOnce(ctx); err != nil || p.Reviews != 1 {
		t.Fatalf("pass after the second reviewer %+v, %v", p, err)
	}
	if e, _ = v.OutboxStatus(ctx, subs[1].ID); e.Review == nil || e.Review.State != "decided" || e.Review.Outcome != "reject" || e.Review.Seq <= cursor {
		t.Errorf("after four eyes: %+v", e.Review)
	}

	// The cursor survives a restart: a new agent on the reopened vault
	// fetches nothing it already applied.
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v2, err := vault.Open(ctx, filepath.Join(r.dir, "vault.db"), vault.KeyFile(r.keyFile()), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if n, err := agent.SyncReviews(ctx, up, v2); err != nil || n != 0 {
		t.Fatalf("after a restart: %d applied, %v", n, err)
	}
}

// TestReviewSeqJump: central's answer carries a change numbered far past
// the others (a bug, a damaged row). The device must not take it nor move
// its cursor to it, must say so, and must still receive the reviews
// central makes afterwards. Before, the cursor jumped to that number and
// every later review, numbered below it, was never fetched again.
func TestReviewSeqJump(t *testing.T) {
	ctx := context.Background()
	var subs []vault.Submission
	bogus := int64(1) << 50
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.URL.Path != protocol.PathReviews {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var page protocol.ReviewUpdates
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Errorf("central's review answer: %v", err)
			}
			page.Reviews = append(page.Reviews, protocol.ReviewUpdate{SubmissionID: subs[2].ID, State: "decided", Outcome: "approve", Seq: bogus})
			json.NewEncoder(w).Encode(page)
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	v := r.openVault(t, vault.Options{})
	subs = capture(t, v, r.id, 0, 3, 2000)
	a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{})
	if p, err := a.RunOnce(ctx); err != nil || p.Synced != 3 {
		t.Fatalf("first pass %+v, %v", p, err)
	}
	review(t, r.store, r.id.DeviceID(), subs[0].ID, central.Review{State: central.ReviewDecided, Outcome: central.OutcomeReject, DecidedAt: time.Now()})
	p, err := a.RunOnce(ctx)
	if err != nil || p.Reviews != 1 || p.Err == nil || !strings.Contains(p.LastError, "not taken") {
		t.Fatalf("pass with a change numbered %d: %+v, %v; want the real review applied and the jump reported", bogus, p, err)
	}
	if c, err := v.ReviewCursor(ctx); err != nil || c >= bogus {
		t.Fatalf("cursor %d, %v; want it short of the jump", c, err)
	}
	if e, _ := v.OutboxStatus(ctx, subs[2].ID); e.Review != nil {
		t.Errorf("the change numbered past the jump was applied: %+v", e.Review)
	}
	// A review made afterwards still arrives.
	review(t, r.store, r.id.DeviceID(), subs[1].ID, central.Review{State: central.ReviewDecided, Outcome: central.OutcomeApprove, DecidedAt: time.Now()})
	if p, err := a.RunOnce(ctx); err != nil || p.Reviews != 1 {
		t.Fatalf("pass after a later review %+v, %v; want it applied", p, err)
	}
	if e, _ := v.OutboxStatus(ctx, subs[1].ID); e.Review == nil || e.Review.Outcome != "approve" {
		t.Errorf("the later review: %+v", e.Review)
	}
}

// TestReviewWithBlankState: a review change whose state is blank (a
// broken central) is passed over like any change the vault cannot hold.
// Before, the vault refused the whole page and the agent took that for a
// vault failure: the pass failed and Run stopped, the outbox with it, at
// every start.
func TestReviewWithBlankState(t *testing.T) {
	ctx := context.Background()
	var subs []vault.Submission
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.URL.Path != protocol.PathReviews || len(subs) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			json.NewEncoder(w).Encode(protocol.ReviewUpdates{Reviews: []protocol.ReviewUpdate{{SubmissionID: subs[0].ID, State: " ", Seq: 1}}})
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	v := r.openVault(t, vault.Options{})
	subs = capture(t, v, r.id, 0, 1, 2000)
	a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{})
	p, err := a.RunOnce(ctx)
	if err != nil || p.Synced != 1 {
		t.Fatalf("pass with a blank review state: %+v, %v; want it passed over", p, err)
	}
	if c, err := v.ReviewCursor(ctx); err != nil || c != 1 {
		t.Errorf("cursor %d, %v; want past the blank change", c, err)
	}
}
