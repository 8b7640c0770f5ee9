package central_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestApprovalOnAWrongClock: a kiosk decides a document's expiry and its
// holder's age by its own clock, so one set back to 2019 approves a
// passport expired in 2022, offline. Central routes such an approval to
// review, the device's decision and payload kept, when the document
// expired before the challenge its attestation signs was issued (the
// capture was later, by central's clock), or the holder is under the
// minimum age at central's receipt (the capture was earlier). A document
// that expired between the challenge and the receipt (a kiosk offline for
// days) stands, as do approvals with no challenge to date them.
func TestApprovalOnAWrongClock(t *testing.T) {
	const day = 24 * time.Hour
	cases := []struct {
		name     string
		decision string
		expiry   func(t0 time.Time) string // the document's expiry date; nil: none read
		birth    func(t0 time.Time) string // the holder's birth date; nil: none read
		report   func(t0 time.Time) time.Time
		noNonce  bool          // the attestation signs no challenge
		later    time.Duration // central's receipt after the challenge
		reason   string        // "": the approval stands
	}{
		{name: "a kiosk set back to 2019 approves a passport expired in 2022", decision: "approve",
			expiry: fixed("2022-06-30"), report: func(time.Time) time.Time { return time.Date(2019, 6, 1, 10, 0, 0, 0, time.UTC) },
			later: 2 * day, reason: central.ReasonClockDocExpired},
		{name: "expired three days before the challenge", decision: "approve", expiry: rel(-3 * day), reason: central.ReasonClockDocExpired},
		{name: "expired after the challenge, before the receipt", decision: "approve", expiry: rel(3 * day), later: 10 * day},
		{name: "expired before the receipt, no challenge signed", decision: "approve", expiry: fixed("2022-06-30"), noNonce: true},
		{name: "a KTP valid for life", decision: "approve", expiry: fixed("lifetime")},
		{name: "a review of an expired document", decision: "review", expiry: fixed("2022-06-30")},
		{name: "a kiosk set forward approves a holder of 16", decision: "approve", expiry: rel(900 * day), birth: years(-16),
			report: func(t0 time.Time) time.Time { return t0.AddDate(3, 0, 0) }, reason: central.ReasonClockHolderUnderage},
		{name: "a holder of 30", decision: "approve", expiry: rel(900 * day), birth: years(-30), later: 5 * day},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var shift atomic.Int64 // how far central's clock is moved on
			now := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
			var store central.Store = openBolt(t)
			if i == 0 { // one on PostgreSQL, sealed, as kyc-central runs
				store = sealedPG(t)
			}
			c := start(t, central.Config{Store: store, AdminTokenOwner: addTokenOwner(t, store), Now: now})
			v := c.publishRisk(t, `{"bands":{"approve_min":85,"review_min":50},"min_age":18}`)
			d := c.enrol(t)
			challenge := d.config(t).Challenge
			t0 := now().UTC()
			if tc.noNonce {
				challenge = ""
			}
			at := t0
			if tc.report != nil {
				at = tc.report(t0)
			}
			shift.Add(int64(tc.later))
			fs := map[string]any{}
			if tc.expiry != nil {
				fs["expiry_date"] = map[string]any{"value": tc.expiry(t0), "source": "mrz", "confidence": 1}
			}
			if tc.birth != nil {
				fs["birth_date"] = map[string]any{"value": tc.birth(t0), "source": "mrz", "confidence": 1}
			}
			score := 95
			if tc.decision != "approve" {
				score = 60
			}
			payload := map[string]any{"session_id": "s-1", "attempt": 1, "risk_version": v,
				"attestation": d.attestation(t, at, challenge),
				"report": map[string]any{"decision": tc.decision, "score": score, "next_action": "EXIT",
					"reasons":  []map[string]any{{"code": "ALL_CHECKS_PASSED"}},
					"document": map[string]any{"type": "passport", "fields": fs}}}
			// The agent signs its requests by central's Date, whatever its
			// clock says.
			if resp, e := c.send(t, d.request(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey("s-1-1")), d.sealedPayload(t, "s-1-1", payload, at), now()), nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("submission: %d %+v", resp.StatusCode, e)
			}
			ctx := context.Background()
			sub, err := store.Upload(ctx, d.id.DeviceID(), protocol.SubmissionKey("s-1-1"))
			if err != nil {
				t.Fatal(err)
			}
			events, err := store.Audit(ctx, central.AuditFilter{Action: central.AuditDecisionDistrusted})
			if err != nil {
				t.Fatal(err)
			}
			if tc.reason == "" {
				if sum := sub.Summary; sum == nil || sum.Decision != tc.decision || sum.DeviceDecision != "" || len(events) != 0 {
					t.Fatalf("recorded summary %+v and %d doubts, want the device's %s to stand", sum, len(events), tc.decision)
				}
				return
			}
			if sum := sub.Summary; sum == nil || sum.Decision != "review" || sum.DeviceDecision != "approve" || sum.Reasons[0] != tc.reason {
				t.Fatalf("recorded summary %+v, want review with %s first and the device's approval kept", sum, tc.reason)
			}
			var kept map[string]any
			if err := json.Unmarshal(sub.Payload, &kept); err != nil || kept["report"] == nil {
				t.Errorf("the payload was not kept whole: %v", err)
			}
			if len(events) != 1 {
				t.Fatalf("%d audit events, want one", len(events))
			}
			var doubt struct {
				Reason string `json:"reason"`
				Detail string `json:"detail"`
				Clock  struct {
					ExpiryDate   string    `json:"expiry_date"`
					MadeAfter    time.Time `json:"made_after"`
					MinAge       int       `json:"min_age"`
					AgeAtReceipt *int      `json:"age_at_receipt"`
				} `json:"clock"`
			}
			if err := json.Unmarshal(events[0].After, &doubt); err != nil || doubt.Reason != tc.reason {
				t.Fatalf("audit event %s (%v), want %s", events[0].After, err, tc.reason)
			}
			switch tc.reason {
			case central.ReasonClockDocExpired:
				issued := doubt.Clock.MadeAfter.UTC().Format(time.RFC3339)
				if doubt.Clock.ExpiryDate != tc.expiry(t0) || doubt.Clock.MadeAfter.Sub(t0).Abs() > time.Minute ||
					!strings.Contains(doubt.Detail, tc.expiry(t0)) || !strings.Contains(doubt.Detail, issued) {
					t.Errorf("audit event %s, want the expiry %s and the challenge's time %s compared", events[0].After, tc.expiry(t0), t0.Format(time.RFC3339))
				}
			case central.ReasonClockHolderUnderage:
				if doubt.Clock.MinAge != 18 || doubt.Clock.AgeAtReceipt == nil || *doubt.Clock.AgeAtReceipt != 16 || strings.Contains(string(events[0].After), tc.birth(t0)) {
					t.Errorf("audit event %s, want the age 16 at receipt against 18, and no birth date", events[0].After)
				}
			}
		})
	}
}

func fixed(s string) func(time.Time) string { return func(time.Time) string { return s } }

func rel(d time.Duration) func(time.Time) string {
	return func(t0 time.Time) string { return t0.Add(d).Format(time.DateOnly) }
}

func years(n int) func(time.Time) string {
	return func(t0 time.Time) string { return t0.AddDate(n, 0, 0).Format(time.DateOnly) }
}
