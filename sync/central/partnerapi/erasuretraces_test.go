package partnerapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestErasureReachesPartnerTraces: besides the session and its events,
// erasing the person leaves nothing of them in the session's Config (its
// URLs carried the partner's user id; their origins stay), in the
// receiver's answer kept with a delivery attempt (it echoed the event),
// nor in Initiate Flow's answer stored under its Idempotency-Key: the same
// request again is not replayed but runs again (and finds the session id
// taken).
func TestErasureReachesPartnerTraces(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p := e.partner("Acme")
		body := map[string]any{"partner_user_id": "siti-77", "partner_user_id_type": "customer_id", "partner_session_id": "s-1",
			"callback_url": "https://shop.example/kyc/cb?uid=siti-77", "redirect_url": "https://shop.example/users/siti-77/done"}
		key := map[string]string{"Idempotency-Key": "order-1"}
		e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: body, header: key}))
		ref, _ := e.submit("dev-1", "s-1", payload(t, "payload_escalate.json", "s-1"))
		_, err := e.store.UpdateFlow(ctx, p.Partner.ID, "s-1", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
			f.Submissions, f.Status = append(f.Submissions, ref), central.FlowCompleted
			return []central.WebhookEvent{{ID: "evt_1", Type: central.EventSubmissionCompleted, Payload: []byte(`{"data":{"partner_user_id":"siti-77"}}`), CreatedAt: e.clk.Now()}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		echo := central.DeliveryAttempt{EventID: "evt_1", At: e.clk.Now(), Status: 200, Excerpt: `{"ok":true,"partner_user_id":"siti-77"}`}
		if err := e.store.RecordAttempt(ctx, echo, true, e.clk.Now(), e.clk.Now()); err != nil {
			t.Fatal(err)
		}

		if a := e.adminPost("/admin/v1/erasures", `{"document_number":"L898902C3"}`); a.status != http.StatusAccepted {
			t.Fatalf("erasure = %d %s", a.status, a.body)
		}

		f, err := e.store.Flow(ctx, p.Partner.ID, "s-1")
		if err != nil || strings.Contains(string(f.Config), "siti") || !strings.Contains(string(f.Config), `"callback_url":"https://shop.example"`) {
			t.Errorf("erased session's config = %s, %v; want the URLs' origins only", f.Config, err)
		}
		as, err := e.store.Attempts(ctx, "evt_1")
		if err != nil || len(as) != 1 || as[0].Excerpt != "" || as[0].Status != 200 {
			t.Errorf("erased session's attempts = %+v, %v; want the status kept, the answer gone", as, err)
		}
		a := e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: body, header: key, invalid: true})
		if a.status != http.StatusConflict || a.header.Get("Idempotent-Replayed") != "" || strings.Contains(string(a.body), "siti") {
			t.Errorf("Initiate Flow again with its Idempotency-Key = %d %s (replayed %q); want it run again: 409, the session id taken",
				a.status, a.body, a.header.Get("Idempotent-Replayed"))
		}
	})
}
