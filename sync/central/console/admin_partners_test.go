package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// partnerSecrets are what a partner was given or configured with, which
// the console must never show, and their stored forms.
type partnerSecrets struct {
	id      string
	secrets []string
}

// addPartner creates a partner through the partner API with every kind of
// secret: a pass key, a webhook secret, the push's client secret and
// encryption key, and the reference-image endpoint's token; and URLs with
// a credential of the partner's in their queries (shown and audited
// masked, partnerapi.MaskURL).
func (e *env) addPartner(name string, branches ...string) partnerSecrets {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.partners.CreatePartner(ctx, "test", partnerapi.NewPartner{Name: name, Branches: branches, WebhookURL: "https://hooks.example.com/kyc"})
	if err != nil {
		e.t.Fatal(err)
	}
	id := c.Partner.ID
	if _, err := e.partners.SetWebhookURL(ctx, "test", id, "https://hooks.example.com/kyc?token=hook-query-"+id); err != nil {
		e.t.Fatal(err)
	}
	push, err := e.partners.SetPush(ctx, "test", id, partnerapi.PushRequest{URL: "https://push.example.com/in?key=push-query-" + id,
		TokenURL: "https://push.example.com/token?tenant=token-query-" + id, ClientID: "push-client", ClientSecret: "push-client-secret-" + id})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.partners.SetReferenceImage(ctx, "test", id, partnerapi.ReferenceImageConfig{URL: "https://ref.example.com/img?sig=ref-query-" + id,
		Auth: "bearer", Secret: "reference-token-" + id}); err != nil {
		e.t.Fatal(err)
	}
	s := partnerSecrets{id: id, secrets: []string{c.PassKey, c.WebhookSecret, push.EncryptionKey, "push-client-secret-" + id, "reference-token-" + id,
		"hook-query-" + id, "push-query-" + id, "token-query-" + id, "ref-query-" + id}}
	p, err := e.store.Partner(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, k := range p.Keys {
		s.secrets = append(s.secrets, k.Hash)
	}
	for _, ws := range p.Webhook.Secrets {
		s.secrets = append(s.secrets, base64.StdEncoding.EncodeToString(ws.Sealed))
	}
	s.secrets = append(s.secrets, string(p.Config))
	return s
}

// TestPartnersPage: an admin sees each partner with its endpoints and
// webhook delivery and none of its secrets; disabling (confirmed) and
// enabling through the forms change the partner and are audited with the
// admin as the actor; reviewers, auditors, missing or foreign CSRF tokens,
// unconfirmed disables and scoped admins change nothing.
func TestPartnersPage(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", central.RoleAdmin)
	e.addUser("rev", central.RoleReviewer)
	e.addUser("aud", central.RoleAuditor)
	e.addUser("northadm", central.RoleAdmin, "north")
	bank := e.addPartner("Bank Satu", "north")
	other := e.addPartner("Fintech Dua")
	ctx := context.Background()
	t0 := e.clk.Now().UTC()
	evs := []central.WebhookEvent{
		{ID: "evt_1", PartnerID: bank.id, SessionID: "s1", Type: central.EventSubmissionCompleted, Payload: json.RawMessage(`{}`), CreatedAt: t0},
		{ID: "evt_2", PartnerID: bank.id, SessionID: "s2", Type: central.EventSubmissionCompleted, Payload: json.RawMessage(`{}`), CreatedAt: t0},
	}
	if err := e.store.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "evt_1", At: t0, Status: 503}, false, time.Time{}, t0); err != nil {
		t.Fatal(err)
	}

	root := e.browser()
	root.signIn("root")
	a := root.get("/console/partners")
	if a.status != http.StatusOK {
		t.Fatalf("partners page: %d %s", a.status, a.body)
	}
	for _, want := range []string{"Bank Satu", bank.id, "Fintech Dua", other.id, "1 owed", "1 given up", "last attempt failed (HTTP 503)",
		`action="/console/partners/` + bank.id + `/disable"`, `href="/console/partners"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("partners page lacks %q", want)
		}
	}
	for _, p := range []partnerSecrets{bank, other} {
		for _, s := range p.secrets {
			if s == "" {
				t.Fatalf("partner %s: an empty secret to look for", p.id)
			}
			if strings.Contains(a.body, s) {
				t.Errorf("the partners page shows a secret of %s: %q", p.id, s)
			}
		}
	}

	for _, name := range []string{"rev", "aud"} {
		b := e.browser()
		b.signIn(name)
		if name == "aud" {
			// The audit trail, as an auditor reads it, holds the
			// partners' endpoints masked.
			a := b.get("/console/audit")
			if a.status != http.StatusOK || !strings.Contains(a.body, "token="+partnerapi.URLMask) {
				t.Errorf("audit page: %d, without the masked webhook URL: %s", a.status, a.body)
			}
			for _, p := range []partnerSecrets{bank, other} {
				for _, s := range p.secrets[5:9] {
					if strings.Contains(a.body, s) {
						t.Errorf("the audit page shows a query credential of %s: %q", p.id, s)
					}
				}
			}
		}
		if a := b.get("/console/partners"); a.status != http.StatusForbidden {
			t.Errorf("%s's partners page: %d, want 403", name, a.status)
		}
		if a := b.post("/console/partners/"+bank.id+"/disable", url.Values{"confirm": {"yes"}}); a.status != http.StatusForbidden {
			t.Errorf("%s's disable: %d, want 403", name, a.status)
		}
		if strings.Contains(b.get("/console/queue").body, `href="/console/partners"`) {
			t.Errorf("%s's navigation links the partners page", name)
		}
	}
	north := e.browser()
	north.signIn("northadm")
	if a := north.get("/console/partners"); a.status != http.StatusOK || !strings.Contains(a.body, "Bank Satu") ||
		strings.Contains(a.body, "Fintech Dua") || strings.Contains(a.body, "/disable") {
		t.Errorf("a scoped admin's partners page: %d; want north's partner only, without forms", a.status)
	}
	if a := north.post("/console/partners/"+bank.id+"/disable", url.Values{"confirm": {"yes"}}); a.status != http.StatusForbidden {
		t.Errorf("a scoped admin's disable: %d, want 403", a.status)
	}

	root.get("/console/partners")
	for name, form := range map[string]url.Values{
		"no token":                {"confirm": {"yes"}, "csrf": {""}},
		"another session's token": {"confirm": {"yes"}, "csrf": {north.csrf}},
	} {
		if a := root.post("/console/partners/"+bank.id+"/disable", form); a.status != http.StatusForbidden {
			t.Errorf("disable with %s: %d, want 403", name, a.status)
		}
	}
	if a := root.post("/console/partners/"+bank.id+"/disable", nil); a.status != http.StatusSeeOther || !strings.Contains(a.loc, "partner_unconfirmed") {
		t.Errorf("unconfirmed disable: %d to %q", a.status, a.loc)
	}
	if p, err := e.store.Partner(ctx, bank.id); err != nil || p.Disabled {
		t.Fatalf("a refused disable changed the partner: disabled %v, %v", p.Disabled, err)
	}
	if acts := e.auditActions("partner:" + bank.id); strings.Contains(strings.Join(acts, ","), "partner_disable") {
		t.Fatalf("a refused disable was audited: %v", acts)
	}
	if a := root.post("/console/partners/nope/disable", url.Values{"confirm": {"yes"}}); a.status != http.StatusNotFound {
		t.Errorf("disable of an unknown partner: %d, want 404", a.status)
	}

	steps := []struct {
		path, action string
		form         url.Values
		disabled     bool
		button       string
	}{
		{"/disable", partnerapi.AuditPartnerDisable, url.Values{"confirm": {"yes"}}, true, "Enable Bank Satu again"},
		{"/enable", partnerapi.AuditPartnerEnable, nil, false, "Disable Bank Satu"},
	}
	for _, st := range steps {
		if a := root.post("/console/partners/"+bank.id+st.path, st.form); a.status != http.StatusSeeOther || a.loc != "/console/partners?msg=msg.adm.partner_"+st.path[1:]+"d" {
			t.Fatalf("%s: %d to %q", st.path, a.status, a.loc)
		}
		if p, err := e.store.Partner(ctx, bank.id); err != nil || p.Disabled != st.disabled {
			t.Fatalf("after %s: disabled %v, %v; want %v", st.path, p.Disabled, err, st.disabled)
		}
		got, err := e.store.Audit(ctx, central.AuditFilter{Subject: "partner:" + bank.id, Action: st.action})
		if err != nil || len(got) != 1 || got[0].Actor != "user:root" {
			t.Fatalf("%s audited as %+v, %v; want one %s by user:root", st.path, got, err, st.action)
		}
		if a := root.get("/console/partners"); !strings.Contains(a.body, st.button) {
			t.Errorf("after %s the page lacks the button %q", st.path, st.button)
		}
	}
	if p, err := e.store.Partner(ctx, other.id); err != nil || p.Disabled {
		t.Errorf("the other partner changed: disabled %v, %v", p.Disabled, err)
	}
}

// TestPartnersReadOnly: without the partner API (Config.Partners nil)
// the page lists partners without forms, and a change answers 503.
func TestPartnersReadOnly(t *testing.T) {
	e := newEnvConfig(t, boltStore, nil, func(c *Config) { c.Partners = nil })
	e.addUser("root", central.RoleAdmin)
	bank := e.addPartner("Bank Satu", "north")
	b := e.browser()
	b.signIn("root")
	a := b.get("/console/partners")
	if a.status != http.StatusOK || !strings.Contains(a.body, "Bank Satu") || !strings.Contains(a.body, "read-only") || strings.Contains(a.body, "/disable") {
		t.Errorf("read-only partners page: %d", a.status)
	}
	if a := b.post("/console/partners/"+bank.id+"/disable", url.Values{"confirm": {"yes"}}); a.status != http.StatusServiceUnavailable {
		t.Errorf("disable without the partner API: %d, want 503", a.status)
	}
	if p, err := e.store.Partner(context.Background(), bank.id); err != nil || p.Disabled {
		t.Errorf("the partner changed: disabled %v, %v", p.Disabled, err)
	}
}

// TestPartnersPageUnsigned: a partner with a webhook URL and no signing
// secret valid now (one made before every URL got one, or whose last
// secret retired) is flagged, since each of its deliveries fails; a
// partner with a secret, or with a retired one beside a live one, is not.
func TestPartnersPageUnsigned(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", central.RoleAdmin)
	signed := e.addPartner("Bank Satu")
	legacy := e.addPartner("Bank Lama")
	retired := e.addPartner("Bank Pensiun")
	ctx := context.Background()
	now := e.clk.Now()
	if _, err := e.store.UpdatePartner(ctx, legacy.id, func(p *central.Partner) error {
		p.Webhook.Secrets = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdatePartner(ctx, retired.id, func(p *central.Partner) error {
		p.Webhook.Secrets[0].NotAfter = now.Add(-time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn("root")
	a := b.get("/console/partners")
	if a.status != http.StatusOK {
		t.Fatalf("partners page: %d", a.status)
	}
	const flag = "no signing secret"
	if n := strings.Count(a.body, flag); n != 2 {
		t.Errorf("%d partners flagged unsigned, want 2 (Bank Lama, Bank Pensiun)", n)
	}
	for _, row := range strings.Split(a.body, "<tr")[1:] {
		if strings.Contains(row, signed.id) && strings.Contains(row, flag) {
			t.Errorf("the signed partner is flagged unsigned")
		}
	}
}
