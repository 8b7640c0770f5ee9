package central

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestScrubFlow(t *testing.T) {
	at := time.Date(2026, 12, 3, 23, 0, 0, 0, time.UTC)
	ref := SubmissionRef{DeviceID: "dev-1", Key: "k1"}
	for _, tc := range []struct {
		name, user, wantUser string
	}{
		{"partner's user", "siti.nurhaliza@example.com", ErasedUserID},
		{"kiosk's own session keeps the device", "dev-1", "dev-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := FlowSession{ID: "s-1", UserID: tc.user, UserIDType: "email", Status: FlowCompleted, Submissions: []SubmissionRef{ref},
				Hosted: &HostedFlow{Stage: "result", Decision: "approve", Message: "verified", PhoneHash: []byte("p"), Sums: map[string][]byte{"selfie": {1}}}}
			ScrubFlow(&f, at)
			ScrubFlow(&f, at.Add(time.Hour)) // again: the first erasure's time stays
			b, _ := json.Marshal(f)
			if f.UserID != tc.wantUser || !f.ErasedAt.Equal(at) || f.Status != FlowCompleted || f.Hosted.Stage != "result" ||
				strings.Contains(string(b), "approve") || strings.Contains(string(b), "verified") || f.Hosted.PhoneHash != nil || f.Hosted.Sums != nil {
				t.Errorf("scrubbed = %s", b)
			}
		})
	}
}

func TestErasedEventPayload(t *testing.T) {
	ev := WebhookEvent{ID: "evt_1", SessionID: "s-1", Type: EventDecisionChanged, CreatedAt: time.Date(2026, 12, 3, 23, 0, 0, 0, time.UTC),
		Payload: json.RawMessage(`{"type":"decision.changed","timestamp":"2026-12-03T22:59:00Z","data":{"session_id":"s-1","partner_user_id":"siti@example.com","status":"COMPLETED","attempts":2,"decision":"reject","review":{"outcome":"reject"}}}`)}
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"event", string(ev.Payload), `{"type":"decision.changed","timestamp":"2026-12-03T22:59:00Z","data":{"session_id":"s-1","status":"COMPLETED","attempts":2,"erased":true}}`},
		{"body of another shape", `[1]`, `{"type":"decision.changed","timestamp":"2026-12-03T23:00:00Z","data":{"session_id":"s-1","status":"","attempts":0,"erased":true}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ev
			e.Payload = json.RawMessage(tc.payload)
			got, err := ErasedEventPayload(e)
			if err != nil || string(got) != tc.want {
				t.Errorf("ErasedEventPayload = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}
