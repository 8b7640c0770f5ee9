package hostedflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/openkyc/kyc/internal/handoff"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// setDisabled disables or enables a partner, as an admin does.
func (e *env) setDisabled(pid string, disabled bool) {
	e.t.Helper()
	if _, err := e.store.UpdatePartner(context.Background(), pid, func(p *central.Partner) error {
		p.Disabled = disabled
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// unavailable checks that a is the refusal of a session whose owner lost
// access: 410, as a page or as the API's error object, saying only that
// the link is no longer available.
func unavailable(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status != http.StatusGone {
		t.Errorf("%s: %d, want 410: %.300s", what, a.status, a.body)
		return
	}
	var body struct{ Code, Message string }
	if json.Unmarshal(a.body, &body) == nil {
		if body.Code != "link_unavailable" || body.Message != "this verification link is no longer available" {
			t.Errorf("%s: %s", what, a.body)
		}
	} else if !bytes.Contains(a.body, []byte(`data-state="link_unavailable"`)) || !bytes.Contains(a.body, []byte("no longer available")) {
		t.Errorf("%s: page %.500s", what, a.body)
	}
}

// TestDisabledPartnerSessions: a partner the operator disables stops its
// hosted sessions at their next step, not only its API: the landing page
// and Start of a link not yet opened, the page, the state and a capture
// of a session under way all answer 410 link_unavailable and change
// nothing; enabled again, the partner's sessions go on with what they
// held (the capture taken before), and the link not opened still works.
func TestDisabledPartnerSessions(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	ctx := context.Background()
	pid, fc := e.initiate(nil)
	// A second session of the partner, its link not opened yet.
	var fc2 partnerapi.FlowCreated
	json.Unmarshal(must(t, http.StatusCreated, e.browser().do("POST", "/api/v1/flows", "application/json", []byte(`{"partner_user_id":"cust-2"}`),
		map[string]string{"Authorization": "Bearer " + e.token})).body, &fc2)

	b := e.browser()
	b.open(fc.LaunchURL)
	b.capture("document", doc)
	before, err := e.store.Flow(ctx, pid, fc.SessionID)
	if err != nil {
		t.Fatal(err)
	}

	e.setDisabled(pid, true)
	u, _ := url.Parse(fc2.LaunchURL)
	other := e.browser()
	unavailable(t, "landing page", other.get(u.Path))
	unavailable(t, "Start", other.post(u.Path, "application/x-www-form-urlencoded", nil))
	unavailable(t, "the page", b.get("/flow/app"))
	unavailable(t, "state", b.get("/flow/api/state"))
	unavailable(t, "capture", b.post("/flow/api/capture?step=selfie", "image/jpeg", selfie))
	unavailable(t, "frame", b.post("/flow/api/frame?step=selfie", "image/jpeg", selfie))
	unavailable(t, "submit", b.post("/flow/api/submit", "", nil))
	after, err := e.store.Flow(ctx, pid, fc.SessionID)
	if err != nil || !after.UpdatedAt.Equal(before.UpdatedAt) || !slices.Equal(after.Hosted.Captured, before.Hosted.Captured) {
		t.Errorf("the refused steps changed the session: %+v -> %+v %v", before.Hosted, after.Hosted, err)
	}
	if f, err := e.store.Flow(ctx, pid, fc2.SessionID); err != nil || f.Hosted != nil || f.Status != central.FlowCreated {
		t.Errorf("the refused Start bound the session: %+v %v", f, err)
	}

	e.setDisabled(pid, false)
	if st := b.state(); st.Stage != "selfie" || !st.Captures.Document {
		t.Errorf("enabled again: state %+v, want the selfie step with the document kept", st)
	}
	b.capture("selfie", selfie)
	other.open(fc2.LaunchURL)
}

// TestDisabledWhileVerifying: a partner disabled while an attempt of its
// session is being verified gets no result and no webhook event for it;
// the session keeps its captures and is back at its submit, which works
// once the partner is enabled again.
func TestDisabledWhileVerifying(t *testing.T) {
	var disable atomic.Bool
	e := newEnv(t, true, func(c *hostedflow.Config) {
		store := c.Store
		_, selfie, _ := images(t)
		// The reference image is fetched during the verification: the
		// moment to disable the partner.
		c.ReferenceImage = func(ctx context.Context, fs central.FlowSession) ([]byte, error) {
			if disable.CompareAndSwap(true, false) {
				if _, err := store.UpdatePartner(ctx, fs.PartnerID, func(p *central.Partner) error {
					p.Disabled = true
					return nil
				}); err != nil {
					return nil, err
				}
			}
			return selfie, nil
		}
	})
	doc, selfie, _ := images(t)
	ctx := context.Background()
	pid, fc := e.initiateWith(map[string]any{"use_reference_image": true}, func(pid string) {
		body, _ := json.Marshal(map[string]any{"url": "http://127.0.0.1:9/ref", "auth": "bearer", "secret": "s3cret-reference"})
		must(t, http.StatusOK, e.browser().do("PUT", "/admin/v1/partners/"+pid+"/reference-image", "application/json", body,
			map[string]string{"Authorization": "Bearer " + e.admin}))
	})
	b := e.browser()
	b.open(fc.LaunchURL)
	b.capture("document", doc)
	b.capture("selfie", selfie)
	disable.Store(true)
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	e.waitReleased()

	f, err := e.store.Flow(ctx, pid, fc.SessionID)
	if err != nil || len(f.Submissions) != 0 || f.Status != central.FlowInProgress || !f.Hosted.ProcessingAt.IsZero() ||
		!slices.Contains(f.Hosted.Captured, "document") || !slices.Contains(f.Hosted.Captured, "selfie") {
		t.Fatalf("after a verification while disabled: %+v %+v %v", f, f.Hosted, err)
	}
	if evs, err := e.store.Events(ctx, pid, 0, 10); err != nil || len(evs) != 0 {
		t.Errorf("events written while disabled: %+v %v", evs, err)
	}
	unavailable(t, "state while disabled", b.get("/flow/api/state"))

	e.setDisabled(pid, false)
	if st := b.state(); st.Stage != "selfie" || !st.Captures.Document || !st.Captures.Selfie {
		t.Fatalf("enabled again: %+v", st)
	}
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	if st := b.waitResult(); st.Status != "COMPLETED" {
		t.Errorf("submitted again: %+v", st)
	}
	if evs, err := e.store.Events(ctx, pid, 0, 10); err != nil || len(evs) != 1 {
		t.Errorf("events after the result: %+v %v", evs, err)
	}
}

// TestKioskHandoffDisabledPartner: a kiosk of a branch whose partner is
// disabled gets no hand-off (403 partner_disabled, which the device's
// client names ErrPartnerDisabled for the operator), not a kiosk session
// run past the partner's checks and without its webhooks; enabled again,
// the partner owns the hand-offs as before.
func TestKioskHandoffDisabledPartner(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	pid := e.partnerWithBranch("mdn-01")
	k := e.kiosk("mdn-01")
	e.setDisabled(pid, true)
	_, err := k.Start(ctx, handoff.Request{})
	ce, ok := errors.AsType[*agent.CentralError](err)
	if !errors.Is(err, handoff.ErrPartnerDisabled) || !ok || ce.Status != http.StatusForbidden || ce.Code != "partner_disabled" {
		t.Fatalf("hand-off of a disabled partner's branch: %v, want 403 partner_disabled", err)
	}
	e.setDisabled(pid, false)
	h, err := k.Start(ctx, handoff.Request{})
	if err != nil || h.PartnerID != pid {
		t.Fatalf("hand-off once enabled: %+v %v, want the partner's", h, err)
	}
}

// TestRevokedKioskHandoff: a kiosk's hand-off stops with its owners: while
// the partner of the kiosk's branch is disabled, and for good once the
// kiosk is revoked, the phone's page, its steps, another hand-off's link
// and short code answer 410 link_unavailable.
func TestRevokedKioskHandoff(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	ctx := context.Background()
	pid := e.partnerWithBranch("sby-01")
	k := e.kiosk("sby-01")
	h, err := k.Start(ctx, handoff.Request{})
	if err != nil {
		t.Fatal(err)
	}
	h2, err := k.Start(ctx, handoff.Request{})
	if err != nil {
		t.Fatal(err)
	}
	phone := e.browser()
	phone.open(h.URL)
	phone.capture("document", doc)

	e.setDisabled(pid, true)
	unavailable(t, "state, partner disabled", phone.get("/flow/api/state"))
	e.setDisabled(pid, false)
	phone.capture("selfie", selfie)

	f, err := e.store.Flow(ctx, pid, h.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Server.RevokeDevice(ctx, "test", f.Hosted.KioskDevice); err != nil {
		t.Fatal(err)
	}
	unavailable(t, "the page", phone.get("/flow/app"))
	unavailable(t, "state", phone.get("/flow/api/state"))
	unavailable(t, "capture", phone.post("/flow/api/capture?step=document", "image/jpeg", doc))
	unavailable(t, "submit", phone.post("/flow/api/submit", "", nil))
	u, _ := url.Parse(h2.URL)
	other := e.browser()
	unavailable(t, "phone link", other.get(u.Path))
	unavailable(t, "phone link's Start", other.post(u.Path, "application/x-www-form-urlencoded", nil))
	unavailable(t, "short code", other.post("/flow/code", "application/x-www-form-urlencoded", []byte("code="+h2.ShortCode)))
	if f, err := e.store.Flow(ctx, pid, h2.SessionID); err != nil || len(f.Hosted.PhoneHash) != 0 {
		t.Errorf("a refused phone link bound the phone: %+v %v", f.Hosted, err)
	}
}
