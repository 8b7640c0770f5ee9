package partnerapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// webhookSet is the answer of PUT /admin/v1/partners/{id}/webhook.
type webhookSet struct {
	partnerapi.PartnerView
	WebhookSecret string `json:"webhook_secret"`
}

// TestWebhookURLMakesSecret: setting a webhook URL on a partner that has
// no signing secret (one created without a URL) makes one and shows it
// once in the answer, audited as a rotation is, and the worker's next
// delivery reaches the endpoint signed with it; before, the partner had
// an endpoint and no secret, and every delivery failed unsent ("the
// partner has no valid webhook secret") until it died. A partner with a
// secret keeps it, and removing the URL makes none.
func TestWebhookURLMakesSecret(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		got := make(chan *http.Request, 1)
		bodies := make(chan []byte, 1)
		rcv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got <- r
			bodies <- b
		}))
		t.Cleanup(rcv.Close)

		// Removing the URL of a partner without one makes no secret.
		c := e.addPartner("Acme")
		var ws webhookSet
		e.must(http.StatusOK, e.do(req{method: "PUT", path: "/admin/v1/partners/" + c.Partner.ID + "/webhook", admin: true,
			body: map[string]any{"url": ""}})).json(t, &ws)
		if ws.WebhookSecret != "" || len(ws.WebhookSecrets) != 0 {
			t.Fatalf("removing no URL: secret %q, %d secrets", ws.WebhookSecret, len(ws.WebhookSecrets))
		}

		a := e.must(http.StatusOK, e.do(req{method: "PUT", path: "/admin/v1/partners/" + c.Partner.ID + "/webhook", admin: true,
			body: map[string]any{"url": rcv.URL + "/hooks"}}))
		a.json(t, &ws)
		if !strings.HasPrefix(ws.WebhookSecret, partnerapi.WebhookSecretPrefix) || len(ws.WebhookSecrets) != 1 {
			t.Fatalf("setting the URL of a partner without a secret: secret %q, %d secrets; want one made and shown: %s",
				ws.WebhookSecret, len(ws.WebhookSecrets), a.body)
		}
		p, err := e.store.Partner(ctx, c.Partner.ID)
		if err != nil {
			t.Fatal(err)
		}
		if secs, err := partnerapi.WebhookSecrets(e.key, p, e.clk.Now()); err != nil || len(secs) != 1 || secs[0] != ws.WebhookSecret {
			t.Fatalf("stored secrets %d, %v: not the one shown", len(secs), err)
		}

		// The worker delivers the partner's event, signed with that secret.
		ev, err := webhook.NewEvent(central.EventSubmissionCompleted, c.Partner.ID, "ses_1", webhook.Data{SessionID: "ses_1"},
			e.clk.Now(), webhook.EventID(central.EventSubmissionCompleted, "test"))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
			t.Fatal(err)
		}
		w, err := webhook.NewWorker(webhook.Config{Store: e.store, Client: rcv.Client(), Now: e.clk.Now,
			Open: func(pid string, sealed []byte) ([]byte, error) {
				s, err := partnerapi.OpenWebhookSecret(e.key, pid, sealed)
				return []byte(s), err
			}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		atts, err := e.store.Attempts(ctx, ev.ID)
		if err != nil || len(atts) != 1 || atts[0].Status != http.StatusOK {
			t.Fatalf("attempts %+v, %v; want one answered 200", atts, err)
		}
		r, body := <-got, <-bodies
		if err := webhook.Verify(ws.WebhookSecret, r.Header, body); err != nil {
			t.Errorf("the delivery does not verify with the secret shown: %v", err)
		}

		// A partner with a secret keeps it, whatever URL is set.
		for _, u := range []string{"https://acme.example/other", rcv.URL + "/hooks", ""} {
			var again webhookSet
			a = e.must(http.StatusOK, e.do(req{method: "PUT", path: "/admin/v1/partners/" + c.Partner.ID + "/webhook", admin: true,
				body: map[string]any{"url": u}}))
			a.json(t, &again)
			if again.WebhookSecret != "" || strings.Contains(string(a.body), "whsec_") || len(again.WebhookSecrets) != 1 ||
				!again.WebhookSecrets[0].CreatedAt.Equal(ws.WebhookSecrets[0].CreatedAt) {
				t.Errorf("setting %q on a partner with a secret: %s; want the secret kept, none shown", u, a.body)
			}
		}
		p, err = e.store.Partner(ctx, c.Partner.ID)
		if err != nil {
			t.Fatal(err)
		}
		if secs, err := partnerapi.WebhookSecrets(e.key, p, e.clk.Now()); err != nil || len(secs) != 1 || secs[0] != ws.WebhookSecret {
			t.Errorf("the secret changed: %d secrets, %v", len(secs), err)
		}

		// Audited as a rotation: partner_webhook_secret, with the views
		// before and after (the secret itself nowhere).
		evs, err := e.store.Audit(ctx, central.AuditFilter{Subject: "partner:" + c.Partner.ID})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range evs {
			actions = append(actions, ev.Action)
			if strings.Contains(string(ev.Before)+string(ev.After), ws.WebhookSecret) {
				t.Errorf("the secret in the audit trail (%s)", ev.Action)
			}
			if ev.Action == partnerapi.AuditPartnerWebhookSecret &&
				(!strings.Contains(string(ev.Before), `"webhook_secrets":[]`) || !strings.Contains(string(ev.After), `"webhook_secrets":[{`)) {
				t.Errorf("the secret's audit record: before %s after %s", ev.Before, ev.After)
			}
		}
		want := "partner_create,partner_webhook,partner_webhook,partner_webhook_secret,partner_webhook,partner_webhook,partner_webhook"
		if strings.Join(actions, ",") != want {
			t.Errorf("audit actions %v, want %s", actions, want)
		}
	})
}

// TestMaskURL: a partner's URL as shown and audited keeps its scheme,
// host, path and parameter names, loses userinfo and fragment, and each
// query value is the mask; a URL with none of them is left as it is.
func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"https://partner.example/hook", "https://partner.example/hook"},
		{"https://partner.example:8443/a%20b/hook", "https://partner.example:8443/a%20b/hook"},
		{"https://partner.example/hook?token=s3cret", "https://partner.example/hook?token=REDACTED"},
		{"https://user:pass@partner.example/hook?token=s3cret&v=2&flag&empty=", "https://partner.example/hook?token=REDACTED&v=REDACTED&flag&empty=REDACTED"},
		{"https://partner.example/hook?sig=a%3Db%26c#frag", "https://partner.example/hook?sig=REDACTED"},
		{"https://partner.example/hook?", "https://partner.example/hook?"},
		{"%zz", partnerapi.URLMask},
	} {
		if got := partnerapi.MaskURL(tc.in); got != tc.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
