package partnerapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// TestErasureScrubsPartnerSession is the privacy red team's case: a
// partner's session holds a submission; erasing the person by document
// number leaves the session (partner API read) and its webhook events, the
// one delivered and the one still owed, without personal data.
func TestErasureScrubsPartnerSession(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const user = "siti.nurhaliza@example.com"
		p := e.partner("Acme")
		fc := e.flow(p, map[string]any{"partner_user_id": user, "partner_user_id_type": "email", "partner_session_id": "s-1"})
		ref, _ := e.submit("dev-1", "s-1", payload(t, "payload_escalate.json", "s-1"))
		// The session completes with submission.completed and, after a
		// review, decision.changed, as the emitter and the hosted flow
		// write them.
		for i, typ := range []string{central.EventSubmissionCompleted, central.EventDecisionChanged} {
			_, err := e.store.UpdateFlow(ctx, p.Partner.ID, fc.SessionID, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
				if i == 0 {
					f.Submissions = append(f.Submissions, ref)
				}
				f.Status, f.NextAction, f.Attempts = central.FlowCompleted, "STATUS", 1
				d := webhook.FlowData(*f)
				score := 64.5
				d.Decision, d.Score, d.ReasonCodes = "escalate", &score, []string{"WATCHLIST_HIT"}
				if i == 1 {
					d.Decision, d.Review = "reject", &webhook.ReviewData{Outcome: "reject", Reason: "fraud_suspected", EngineDecision: "escalate"}
				}
				ev, err := webhook.NewEvent(typ, p.Partner.ID, fc.SessionID, d, e.clk.Now(), webhook.EventID(typ, "test", typ))
				return []central.WebhookEvent{ev}, err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		evs, err := e.store.Events(ctx, p.Partner.ID, 0, 10)
		if err != nil || len(evs) != 2 || !strings.Contains(string(evs[0].Payload), user) {
			t.Fatalf("events before = %+v, %v", evs, err)
		}
		if err := e.store.RecordAttempt(ctx, central.DeliveryAttempt{EventID: evs[0].ID, At: e.clk.Now(), Status: 200}, true, e.clk.Now(), e.clk.Now()); err != nil {
			t.Fatal(err)
		}

		var er central.Erasure
		a := e.adminPost("/admin/v1/erasures", `{"document_number":"L898902C3"}`)
		if a.status != http.StatusAccepted {
			t.Fatalf("erasure = %d %s", a.status, a.body)
		}
		a.json(t, &er)
		if er.Status != central.ErasureDone || er.Erased != 1 {
			t.Fatalf("erasure = %+v, want done, 1 erased", er)
		}

		a = e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/" + fc.SessionID, token: p.tok}))
		var v struct {
			UserID     string `json:"partner_user_id"`
			UserIDType string `json:"partner_user_id_type"`
			Status     string `json:"status"`
			Erased     bool   `json:"erased"`
		}
		a.json(t, &v)
		if v.UserID != central.ErasedUserID || v.UserIDType != "email" || v.Status != "COMPLETED" || !v.Erased || bytes.Contains(a.body, []byte("siti")) {
			t.Errorf("flow after erasure = %s; want partner_user_id erased, the status kept, erased true", a.body)
		}
		// The user's reference no longer opens the session's details.
		hdr := map[string]string{"x-partner-session-id": fc.SessionID, "x-partner-user-id": user, "x-partner-user-id-type": "email"}
		e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/submission-details", token: p.tok, header: hdr}))

		evs, err = e.store.Events(ctx, p.Partner.ID, 0, 10)
		if err != nil || len(evs) != 2 {
			t.Fatalf("events after = %d, %v", len(evs), err)
		}
		for _, ev := range evs {
			for _, personal := range []string{"siti", "escalate", "reject", "64.5", "WATCHLIST_HIT", "fraud_suspected"} {
				if strings.Contains(string(ev.Payload), personal) {
					t.Errorf("event %s (%s) still holds %q: %s", ev.ID, ev.Type, personal, ev.Payload)
				}
			}
			var b struct {
				Type string `json:"type"`
				Data struct {
					SessionID string `json:"session_id"`
					Erased    bool   `json:"erased"`
				} `json:"data"`
			}
			if err := json.Unmarshal(ev.Payload, &b); err != nil || b.Type != ev.Type || b.Data.SessionID != fc.SessionID || !b.Data.Erased {
				t.Errorf("event %s = %s, %v; want its type and session, erased", ev.ID, ev.Payload, err)
			}
		}
		if !evs[1].DeliveredAt.IsZero() || !evs[1].DeadAt.IsZero() {
			t.Errorf("the event still owed was dropped: %+v", evs[1])
		}
	})
}

// adminPost sends an admin request the partner API's document does not
// describe (central's own admin API).
func (e *env) adminPost(path, body string) answer {
	e.t.Helper()
	hr, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+e.admin)
	hr.Header.Set("Content-Type", "application/json")
	return e.roundTrip(&http.Client{Transport: e.transport}, hr)
}
