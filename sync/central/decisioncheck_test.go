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
			var store central.Store = openBolt(t)
			if i == 4 { // one on PostgreSQL, sealed, as kyc-central runs
				store = sealedPG(t)
			}
			c := start(t, central.Config{Store: store})
			d := c.enrol(t)
			if tc.publish != "" {
				if resp, e := c.admin(t, http.MethodPut, "/admin/v1/config/risk", []byte(tc.publish), nil); resp.StatusCode != http.StatusOK {
					t.Fatalf("publishing the risk configuration: %d %+v", resp.StatusCode, e)
				}
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
			if resp, e := d.submitPayload(t, "s-1-1", payload, time.Now()); resp.StatusCode != http.StatusOK {
				t.Fatalf("submission: %d %+v", resp.StatusCode, e)
			}
			ctx := context.Background()
			sub, err := c.Cfg.Store.Upload(ctx, d.id.DeviceID(), protocol.SubmissionKey("s-1-1"))
			if err != nil {
				t.Fatal(err)
			}
			sum := sub.Summary
			if sum == nil || sum.Decision != tc.want {
				t.Fatalf("recorded summary %+v, want decision %s", sum, tc.want)
			}
			if sent := central.Summarize(sub.Payload); sent.Decision != tc.decision || sent.Score != tc.score {
				t.Errorf("the payload central keeps says %s at %g, not what the device sent", sent.Decision, sent.Score)
			}
			events, err := c.Cfg.Store.Audit(ctx, central.AuditFilter{Action: central.AuditDecisionDistrusted})
			if err != nil {
				t.Fatal(err)
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
