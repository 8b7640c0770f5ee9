package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// unprintable reports the first rune of s a terminal would act on rather
// than show (a control character, a bidi override), or -1.
func unprintable(s string) rune {
	for _, r := range s {
		if unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return r
		}
	}
	return -1
}

// hostileText is what a hostile central puts in its words: ANSI escapes
// that clear the screen and retitle the terminal, a line that forges a
// status line, a bidi override, C1 controls.
const hostileText = "\x1b]0;owned\x07\x1b[2J\x1b[31mdatabase down\r\n12:00:00 online: 9 synced\u202e\u009b6n\x7f"

// TestCentralWordsAreDefused: whatever central says that reaches the
// operator's terminal or the vault (its error code and message, a
// review's state, outcome and reason) arrives without the control
// characters a terminal would act on, and bounded in length.
func TestCentralWordsAreDefused(t *testing.T) {
	ctx := context.Background()
	var subs []vault.Submission
	var failing atomic.Bool
	failing.Store(true)
	long := strings.Repeat("x", 1<<20)
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case failing.Load() && isUpload(r):
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(protocol.Error{Code: "bad\x1b[8m", Message: hostileText + long, RequestID: "req\x1b[1A"})
			case r.Method == http.MethodGet && r.URL.Path == protocol.PathReviews && len(subs) > 0:
				json.NewEncoder(w).Encode(protocol.ReviewUpdates{Reviews: []protocol.ReviewUpdate{{
					SubmissionID: subs[0].ID, State: "decided\x1b[2J", Outcome: "reject\u202e", Reason: hostileText + long, DecidedAt: time.Now(), Seq: 1}}})
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs = capture(t, v, r.id, 0, 1, 2000)
	a := agent.New(r.uploader(t, agent.Config{RetryMax: -1}), v, agent.Options{Now: clock.Now})
	p, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.LastError == "" || !strings.Contains(p.LastError, "database down") {
		t.Fatalf("pass against a central answering 400: %+v; want its words shown", p)
	}
	e, err := v.OutboxStatus(ctx, subs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]string{"the pass's error": p.LastError, "the error describing": agent.Describe(p.Err), "the outbox's reason": e.Reason} {
		if c := unprintable(s); c >= 0 {
			t.Errorf("%s carries %U from central: %q", what, c, s)
		}
		if len(s) > 8<<10 {
			t.Errorf("%s is %d bytes long: central's words are not bounded", what, len(s))
		}
	}
	rv := e.Review
	if rv == nil {
		rv = e.HeldReview // central sent it before the device recorded the submission synced
	}
	if rv == nil {
		t.Fatal("the review central sent was not recorded")
	}
	for what, s := range map[string]string{"state": rv.State, "outcome": rv.Outcome, "reason": rv.Reason} {
		if c := unprintable(s); c >= 0 {
			t.Errorf("the review's %s carries %U from central: %q", what, c, s)
		}
		if len(s) > 8<<10 {
			t.Errorf("the review's %s is %d bytes long: central's words are not bounded", what, len(s))
		}
	}
	if !strings.HasPrefix(rv.State, "decided") {
		t.Errorf("review state %q; want central's word kept, defused", rv.State)
	}
	failing.Store(false)
	clock.Advance(2 * time.Hour)
	drain(t, a, clock, 5)
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
}
