package central_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// decisionCase is one case of the decision checks' tables: a central on
// bbolt, or on PostgreSQL sealed as kyc-central runs (pg), and a device
// enrolled in it.
type decisionCase struct {
	c *tc
	d *dev
}

func newDecisionCase(t *testing.T, pg bool) decisionCase {
	t.Helper()
	var store central.Store = openBolt(t)
	if pg {
		store = sealedPG(t)
	}
	c := start(t, central.Config{Store: store, AdminTokenOwner: addTokenOwner(t, store)})
	return decisionCase{c: c, d: c.enrol(t)}
}

// submit sends payload as the device's submission s-1-1 and reads back
// what central recorded: the submission, and every audit event of a
// distrusted decision.
func (k decisionCase) submit(t *testing.T, payload map[string]any) (central.Submission, []central.AuditEvent) {
	t.Helper()
	if resp, e := k.d.submitPayload(t, "s-1-1", payload, time.Now()); resp.StatusCode != http.StatusOK {
		t.Fatalf("submission: %d %+v", resp.StatusCode, e)
	}
	ctx := context.Background()
	sub, err := k.c.Cfg.Store.Upload(ctx, k.d.id.DeviceID(), protocol.SubmissionKey("s-1-1"))
	if err != nil {
		t.Fatal(err)
	}
	events, err := k.c.Cfg.Store.Audit(ctx, central.AuditFilter{Action: central.AuditDecisionDistrusted})
	if err != nil {
		t.Fatal(err)
	}
	return sub, events
}

// TestDeviceDecisionCheckedAgainstBands: a device's decision that its own
// score and the bands of its risk configuration cannot give (an approval
// below the approve band, a decision the engine has not) is not trusted:
// central routes the case to review with a reason code naming the
// mismatch, keeps the device's decision beside it and its payload whole,
// and records an audit event. Decisions the bands can give stand.
func TestDeviceDecisionCheckedAgainstBands(t *testing.T) {
	cases := []struct {
		name     string
		publish  string // a risk document published first, if any
		status   *int64 // the version the device reports in use, if it reported one
		decision string
		score    float64
		want     string // the decision central records
		reason   string // the reason put first, when central distrusts it
	}{
		{"approve at 10 on the defaults", "", ver(0), "approve", 10, "review", central.ReasonDecisionContradictsBands},
		{"approve at 84.9 on the defaults", "", ver(0), "approve", 84.9, "review", central.ReasonDecisionContradictsBands},
		{"approve at 85 on the defaults", "", ver(0), "approve", 85, "approve", ""},
		{"approve over 100", "", ver(0), "approve", 101, "review", central.ReasonDecisionContradictsBands},
		{"approve at 88 under a published band of 90", `{"bands":{"approve_min":90,"review_min":50}}`, ver(1), "approve", 88, "review", central.ReasonDecisionContradictsBands},
		{"approve at 95 under a published band of 90", `{"bands":{"approve_min":90,"review_min":50}}`, ver(1), "approve", 95, "approve", ""},
		{"approve at 88 from a device on another version", `{"bands":{"approve_min":90,"review_min":50}}`, ver(0), "approve", 88, "review", central.ReasonRiskVersionUnknown},
		{"approve at 10 before any status", "", nil, "approve", 10, "review", central.ReasonRiskVersionUnknown},
		{"approve at 95 before any status", "", nil, "approve", 95, "approve", ""},
		{"a decision the engine never gives", "", ver(0), "approved", 99, "review", central.ReasonDecisionUnknown},
		{"reject at 10", "", ver(0), "reject", 10, "reject", ""},
		{"review at 99 (a hard rule capped it)", "", ver(0), "review", 99, "review", ""},
		{"escalate at 95", "", ver(0), "escalate", 95, "escalate", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := newDecisionCase(t, i == 4) // one on PostgreSQL
			c, d := k.c, k.d
			if tc.publish != "" {
				c.publishRisk(t, tc.publish)
			}
			if tc.status != nil {
				st, _ := json.Marshal(protocol.DeviceStatus{ConfigVersion: *tc.status})
				if resp, e := d.do(t, http.MethodPut, protocol.PathStatus, st, nil); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("status: %d %+v", resp.StatusCode, e)
				}
			}
			payload := map[string]any{"session_id": "s-1", "attempt": 1, "report": map[string]any{
				"decision": tc.decision, "score": tc.score, "next_action": "EXIT",
				"reasons": []map[string]any{{"code": "FACE_MATCH_LOW", "detail": "kept"}},
			}}
			sub, events := k.submit(t, payload)
			sum := sub.Summary
			if sum == nil || sum.Decision != tc.want {
				t.Fatalf("recorded summary %+v, want decision %s", sum, tc.want)
			}
			if sent := central.Summarize(sub.Payload); sent.Decision != tc.decision || sent.Score != tc.score {
				t.Errorf("the payload central keeps says %s at %g, not what the device sent", sent.Decision, sent.Score)
			}
			if tc.reason == "" {
				if sum.DeviceDecision != "" || len(sum.Reasons) != 1 || len(events) != 0 {
					t.Errorf("a decision the bands give was doubted: %+v, audit %+v", sum, events)
				}
				return
			}
			if sum.DeviceDecision != tc.decision || len(sum.Reasons) != 2 || sum.Reasons[0] != tc.reason || sum.Reasons[1] != "FACE_MATCH_LOW" {
				t.Errorf("distrusted summary %+v, want %s first and the device's decision %s kept", sum, tc.reason, tc.decision)
			}
			if !sum.NeedsReview() {
				t.Error("the case is not in the review queue")
			}
			if len(events) != 1 || events[0].Subject != "case:"+d.id.DeviceID()+"/"+protocol.SubmissionKey("s-1-1") || events[0].Actor != "central" {
				t.Fatalf("audit events %+v, want one on the case", events)
			}
			var doubt struct {
				Reason, Decision string
				Score            float64
			}
			if err := json.Unmarshal(events[0].After, &struct {
				Reason   *string  `json:"reason"`
				Decision *string  `json:"device_decision"`
				Score    *float64 `json:"score"`
			}{&doubt.Reason, &doubt.Decision, &doubt.Score}); err != nil || doubt.Reason != tc.reason || doubt.Decision != tc.decision || doubt.Score != tc.score {
				t.Errorf("audit event says %s (%+v, %v), want the mismatch named", events[0].After, doubt, err)
			}
		})
	}
}

func ver(v int64) *int64 { return &v }

// TestDeviceDecisionJudgedByItsRiskVersion: an approval is judged by the
// bands of the risk configuration its payload says it was made under,
// however many versions central published since (a rollout, a device
// offline for days), if central served that version to the device; a
// version whose bands central does not know, or never served that device
// (a device that lies, naming the defaults or an older, looser version),
// is held to the current bands. A payload that names no version (an older
// device) is judged as before, by the device's last status.
func TestDeviceDecisionJudgedByItsRiskVersion(t *testing.T) {
	const (
		v1 = `{"bands":{"approve_min":85,"review_min":50}}`
		v2 = `{"bands":{"approve_min":90,"review_min":50}}`
		// bad is a document no device can apply: central no longer
		// proposes one, but a store may hold one published before it
		// checked, or by a newer central whose engine knows more.
		bad = `{"bands":{"approve_min":20,"review_min":60}}`
	)
	cases := []struct {
		name    string
		publish []string
		skip    int    // versions published before the device first syncs its configuration (after each one from then on)
		status  int64  // the version the device reports in use now
		decided *int64 // the version the payload names, if it names one
		score   float64
		want    string // the decision central records
		reason  string // the reason put first, when central distrusts it
		applied int64  // the version whose bands the doubt names
	}{
		{"87 under v1 synced after v2", []string{v1, v2}, 0, 2, ver(1), 87, "approve", "", 0},
		{"80 under v1 synced after v2", []string{v1, v2}, 0, 2, ver(1), 80, "review", central.ReasonDecisionContradictsBands, 1},
		{"87 under v2", []string{v1, v2}, 0, 2, ver(2), 87, "review", central.ReasonDecisionContradictsBands, 2},
		{"87 under v2 before the device reports it", []string{v1, v2}, 0, 1, ver(2), 87, "review", central.ReasonDecisionContradictsBands, 2},
		{"92 under v2 reporting v1", []string{v1, v2}, 0, 1, ver(2), 92, "approve", "", 0},
		{"87 under the defaults", []string{v1, v2}, 0, 2, ver(0), 87, "approve", "", 0},
		{"87 under v7, ahead of central", []string{v1, v2}, 0, 2, ver(7), 87, "review", central.ReasonRiskVersionUnknown, 2},
		{"95 under v7, in the current band", []string{v1, v2}, 0, 2, ver(7), 95, "approve", "", 0},
		{"87 under v-1", []string{v1, v2}, 0, 2, ver(-1), 87, "review", central.ReasonRiskVersionUnknown, 2},
		{"87 under the defaults, never served them", []string{v1, v2}, 1, 2, ver(0), 87, "review", central.ReasonRiskVersionUnknown, 2},
		{"87 under v1, first served v2", []string{v1, v2}, 2, 2, ver(1), 87, "review", central.ReasonRiskVersionUnknown, 2},
		{"92 under v1, first served v2", []string{v1, v2}, 2, 2, ver(1), 92, "approve", "", 0},
		{"87 under a version no device can apply", []string{v1, bad, v2}, 0, 3, ver(2), 87, "review", central.ReasonRiskVersionUnknown, 3},
		{"87 naming none, reporting the current v2", []string{v1, v2}, 0, 2, nil, 87, "review", central.ReasonDecisionContradictsBands, 2},
		{"87 naming none, reporting v1", []string{v1, v2}, 0, 1, nil, 87, "review", central.ReasonRiskVersionUnknown, 2},
		{"92 naming none, reporting v1", []string{v1, v2}, 0, 1, nil, 92, "approve", "", 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := newDecisionCase(t, i == 0) // one on PostgreSQL
			c, d := k.c, k.d
			sync := func(published int) {
				if published >= tc.skip {
					d.config(t) // GET /v1/config: central serves the version published (as with each submission's challenge)
				}
			}
			sync(0)
			for n, doc := range tc.publish {
				if doc == bad {
					if _, err := c.Cfg.Store.PutRisk(context.Background(), json.RawMessage(doc)); err != nil {
						t.Fatal(err)
					}
				} else {
					c.publishRisk(t, doc)
				}
				sync(n + 1)
			}
			st, _ := json.Marshal(protocol.DeviceStatus{ConfigVersion: tc.status})
			if resp, e := d.do(t, http.MethodPut, protocol.PathStatus, st, nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("status: %d %+v", resp.StatusCode, e)
			}
			payload := map[string]any{"session_id": "s-1", "attempt": 1, "report": map[string]any{
				"decision": "approve", "score": tc.score, "next_action": "EXIT",
				"reasons": []map[string]any{{"code": "ALL_CHECKS_PASSED"}},
			}}
			if tc.decided != nil {
				payload["risk_version"] = *tc.decided
			}
			sub, events := k.submit(t, payload)
			if sum := sub.Summary; sum == nil || sum.Decision != tc.want || tc.reason != "" && sum.Reasons[0] != tc.reason {
				t.Fatalf("recorded summary %+v, want decision %s (reason %q)", sum, tc.want, tc.reason)
			}
			if tc.reason == "" {
				if len(events) != 0 {
					t.Errorf("an approval its bands give was doubted: %s", events[0].After)
				}
				return
			}
			if len(events) != 1 {
				t.Fatalf("%d audit events, want one", len(events))
			}
			var doubt struct {
				Reason        string `json:"reason"`
				DeviceVersion *int64 `json:"device_risk_version"`
				From          string `json:"device_risk_version_from"`
				Version       int64  `json:"risk_version"`
			}
			wantFrom, wantDevice := "decision", tc.decided
			if tc.decided == nil {
				wantFrom, wantDevice = "status", &tc.status
			}
			if err := json.Unmarshal(events[0].After, &doubt); err != nil || doubt.Reason != tc.reason || doubt.Version != tc.applied ||
				doubt.From != wantFrom || doubt.DeviceVersion == nil || *doubt.DeviceVersion != *wantDevice {
				t.Errorf("audit event says %s (%v), want %s, the device's version %d from its %s and the bands of version %d",
					events[0].After, err, tc.reason, *wantDevice, wantFrom, tc.applied)
			}
		})
	}
}

// TestApprovalUnderAConfigPutBack: an approval made under an older risk
// version than the device's status had already reported in use, more than
// RollbackGrace after that report (a vault restored from a copy: the device
// cannot tell), goes to review with ReasonConfigRolledBack; one made before
// the report (queued offline before the device installed the newer
// version), or within the grace, stands. When it was made is read from the
// challenge its attestation signs and from its time moved by the device's
// reported clock offset.
func TestApprovalUnderAConfigPutBack(t *testing.T) {
	const (
		v1 = `{"bands":{"approve_min":85,"review_min":50}}`
		v2 = `{"bands":{"approve_min":90,"review_min":50}}`
	)
	now := time.Now()
	cases := []struct {
		name     string
		decided  int64         // the version the approval names
		reported time.Duration // when central received the status reporting v2, from now; 0: by the device's PUT
		offset   time.Duration // the clock offset that status reports (central minus device)
		report   time.Duration // the attestation's time from now, by the device's clock
		want     string        // the decision central records
		from     string        // how the doubt knows when the approval was made
	}{
		{"under v1, v2 reported an hour before", 1, -time.Hour, 0, 0, "review", ""},
		{"under v2, v2 reported an hour before", 2, -time.Hour, 0, 0, "approve", ""},
		{"under v1, v2 reported just before", 1, 0, 0, 0, "approve", ""},
		{"under v1, v2 reported later", 1, 30 * time.Minute, 0, 0, "approve", ""},
		{"under v1, a clock 2 hours fast, v2 reported later", 1, 30 * time.Minute, -2 * time.Hour, 2 * time.Hour, "approve", ""},
		{"under v1, a clock 2 hours slow, v2 reported an hour before", 1, -time.Hour, 2 * time.Hour, -2 * time.Hour, "review", ""},
		{"under v1, a clock 3 days fast, offset past correction", 1, -time.Hour, -72 * time.Hour, 72 * time.Hour, "review", "challenge"},
		{"under v1, an attestation dated later than its challenge", 1, -time.Hour, 0, time.Minute, "review", "report"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := newDecisionCase(t, i == 0) // one on PostgreSQL
			c, d := k.c, k.d
			c.publishRisk(t, v1)
			d.config(t)
			c.publishRisk(t, v2)
			d.config(t)
			st := protocol.DeviceStatus{ConfigVersion: 2, ClockOffsetMS: tc.offset.Milliseconds()}
			if tc.reported == 0 {
				body, _ := json.Marshal(st)
				if resp, e := d.do(t, http.MethodPut, protocol.PathStatus, body, nil); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("status: %d %+v", resp.StatusCode, e)
				}
			} else if err := c.Cfg.Store.SetDeviceStatus(context.Background(), d.id.DeviceID(), st, now.Add(tc.reported)); err != nil {
				t.Fatal(err)
			}
			payload := map[string]any{"session_id": "s-1", "attempt": 1, "risk_version": tc.decided,
				"attestation": d.attestation(t, time.Now().Add(tc.report), d.config(t).Challenge),
				"report": map[string]any{"decision": "approve", "score": 95, "next_action": "EXIT",
					"reasons": []map[string]any{{"code": "ALL_CHECKS_PASSED"}}}}
			sub, events := k.submit(t, payload)
			if sum := sub.Summary; sum == nil || sum.Decision != tc.want {
				t.Fatalf("recorded summary %+v, want decision %s", sum, tc.want)
			}
			if tc.want == "approve" {
				if len(events) != 0 {
					t.Errorf("an approval made before the newer version was reported was doubted: %s", events[0].After)
				}
				return
			}
			if sub.Summary.Reasons[0] != central.ReasonConfigRolledBack || sub.Summary.DeviceDecision != "approve" {
				t.Errorf("distrusted summary %+v, want %s first and the device's approval kept", sub.Summary, central.ReasonConfigRolledBack)
			}
			var doubt struct {
				Reason   string `json:"reason"`
				Rollback struct {
					Reported struct {
						Version int64 `json:"version"`
					} `json:"reported"`
					From string `json:"decided_after_from"`
				} `json:"rollback"`
			}
			if len(events) != 1 {
				t.Fatalf("%d audit events, want one", len(events))
			}
			if err := json.Unmarshal(events[0].After, &doubt); err != nil || doubt.Reason != central.ReasonConfigRolledBack ||
				doubt.Rollback.Reported.Version != 2 || tc.from != "" && doubt.Rollback.From != tc.from {
				t.Errorf("audit event says %s (%v), want the rollback from v2 known by its %q", events[0].After, err, tc.from)
			}
		})
	}
}
