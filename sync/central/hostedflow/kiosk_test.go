package hostedflow_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/handoff"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/webhook"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
)

// kiosk enrols a new device of branch with the env's central and returns
// its hand-off client.
func (e *env) kiosk(branch string) *handoff.Client {
	t := e.t
	t.Helper()
	ctx := context.Background()
	tr, err := e.c.Server.CreateEnrollToken(ctx, "test", branch, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(e.c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	id := identity.Generate()
	enr, err := identity.EnrollWithCA(ctx, ca, e.base, tr.Token, id, "test")
	if err != nil {
		t.Fatal(err)
	}
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr, Now: e.clk.Now, RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	return handoff.New(up)
}

// partnerWithBranch creates a partner owning branch; its id.
func (e *env) partnerWithBranch(branch string) string {
	e.t.Helper()
	var c partnerapi.Created
	body, _ := json.Marshal(map[string]any{"name": "Bank " + branch, "branches": []string{branch}})
	a := must(e.t, http.StatusCreated, e.browser().do("POST", "/admin/v1/partners", "application/json", body, map[string]string{"Authorization": "Bearer " + e.admin}))
	json.Unmarshal(a.body, &c)
	return c.Partner.ID
}

// TestKioskHandoff: an enrolled kiosk without a camera opens a Smart QR
// hand-off through its signed device requests (internal/handoff); the
// customer's phone opens the QR's link and captures; the kiosk follows
// the session to central's result, which the partner owning the kiosk's
// branch receives as its webhook event. Another device cannot read the
// hand-off; a kiosk of a branch no partner owns gets a kiosk-only session,
// which it can cancel (the phone link then stops working).
func TestKioskHandoff(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	ctx := context.Background()
	pid := e.partnerWithBranch("jkt-01")
	k := e.kiosk("jkt-01")

	h, err := k.Start(ctx, handoff.Request{Lang: "id", PartnerUserID: "cust-9"})
	if err != nil {
		t.Fatal(err)
	}
	if h.PartnerID != pid || !strings.HasPrefix(h.URL, e.base+"/flow/h/") || len(h.ShortCode) != 8 ||
		!strings.HasPrefix(h.QRSVG, "<svg") || h.CodeURL != e.base+"/flow/code" || !h.LinkExpiresAt.After(e.clk.Now()) {
		t.Fatalf("hand-off %+v", h)
	}
	st, err := k.Status(ctx, h.ID)
	if err != nil || st.Stage != handoff.StageWaiting || st.Final || st.Attempt != 1 {
		t.Fatalf("before the phone: %+v %v", st, err)
	}
	// Another device does not see it.
	if _, err := e.kiosk("jkt-01").Status(ctx, h.ID); !errors.Is(err, handoff.ErrNotFound) {
		t.Errorf("another device's status: %v, want ErrNotFound", err)
	}
	// Unsigned: refused by central's device authentication.
	if a := e.browser().get(protocol.PathHandoffs + url.PathEscape(h.ID)); a.status != http.StatusUnauthorized {
		t.Errorf("unsigned status request: %d", a.status)
	}

	phone := e.browser()
	phone.open(h.URL)
	if st := phone.state(); st.Stage != "document" || st.Lang != "id" {
		t.Errorf("phone state %+v", st)
	}
	if st, _ := k.Status(ctx, h.ID); st.Stage != handoff.StagePhone {
		t.Errorf("after the phone opened the link: %+v", st)
	}
	phone.capture("document", doc)
	phone.capture("selfie", selfie)
	must(t, http.StatusOK, phone.post("/flow/api/submit", "", nil))

	var stages []string
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	final, err := k.Wait(wctx, h.ID, 50*time.Millisecond, func(s handoff.Status) { stages = append(stages, s.Stage) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kiosk saw %v; result %+v", stages, final)
	if !final.Final || final.Stage != handoff.StageResult || final.Status != "COMPLETED" || final.Decision != "approve" ||
		final.SubmissionID != pid+":"+h.SessionID+"-1" || final.Message == "" {
		t.Errorf("final %+v", final)
	}
	evs, err := e.store.Events(ctx, pid, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != central.EventSubmissionCompleted || evs[0].SessionID != h.SessionID {
		t.Errorf("partner events %+v %v", evs, err)
	}
	f, err := e.store.Flow(ctx, pid, h.SessionID)
	if err != nil || f.UserID != "cust-9" || f.Hosted.KioskDevice == "" {
		t.Errorf("session %+v %v", f, err)
	}
	// The case is of the kiosk's branch: its reviewers see it.
	if len(f.Submissions) != 1 || f.Submissions[0].DeviceID != central.HostedDevice("jkt-01") {
		t.Errorf("the session's submissions %+v, want one under the pseudo-device of jkt-01", f.Submissions)
	}
	if err := k.Cancel(ctx, h.ID); !errors.Is(err, handoff.ErrFinished) {
		t.Errorf("cancel after the result: %v, want ErrFinished", err)
	}

	// The type of the kiosk's own sessions is not a customer's.
	if _, err := k.Start(ctx, handoff.Request{PartnerUserID: "x", PartnerUserIDType: webhook.KioskUserIDType}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("a hand-off typed kiosk_device: %v, want refused", err)
	}

	// A branch nobody owns: a kiosk-only session, canceled.
	k2 := e.kiosk("bdg-07")
	h2, err := k2.Start(ctx, handoff.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if h2.PartnerID != "" {
		t.Errorf("kiosk-only hand-off has partner %q", h2.PartnerID)
	}
	if _, err := e.store.Flow(ctx, hostedflow.KioskPartner, h2.SessionID); err != nil {
		t.Errorf("kiosk session: %v", err)
	}
	if err := k2.Cancel(ctx, h2.ID); err != nil {
		t.Fatal(err)
	}
	if st, err := k2.Status(ctx, h2.ID); err != nil || st.Stage != handoff.StageCanceled || !st.Final || st.ErrorCode != "canceled" {
		t.Errorf("canceled: %+v %v", st, err)
	}
	u, _ := url.Parse(h2.URL)
	must(t, http.StatusGone, e.browser().get(u.Path))

	// Expiry: the session's time runs out before any phone; the one the
	// kiosk stopped following is expired by the webhook emitter, with no
	// event (no partner to tell).
	h3, err := k2.Start(ctx, handoff.Request{})
	if err != nil {
		t.Fatal(err)
	}
	h4, err := k2.Start(ctx, handoff.Request{})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(hostedflow.KioskSessionTTL + time.Minute)
	em, err := webhook.NewEmitter(webhook.EmitterConfig{Store: e.store, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := em.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.store.Flow(ctx, hostedflow.KioskPartner, h4.SessionID); f.Status != central.FlowExpired {
		t.Errorf("kiosk session the emitter passed: %s", f.Status)
	}
	if evs, err := e.store.Events(ctx, hostedflow.KioskPartner, 0, 10); err != nil || len(evs) != 0 {
		t.Errorf("events for kiosk sessions: %+v %v", evs, err)
	}
	if st, err := k2.Status(ctx, h3.ID); err != nil || st.Stage != handoff.StageExpired || !st.Final || st.Status != "ERROR" {
		t.Errorf("expired: %+v %v", st, err)
	}
	if f, _ := e.store.Flow(ctx, hostedflow.KioskPartner, h3.SessionID); f.Status != central.FlowExpired {
		t.Errorf("kiosk session after expiry: %s", f.Status)
	}
}

// TestKioskHandoffUnavailable: without the models, central says so (501,
// handoff.ErrUnavailable) instead of opening a session nobody can finish.
func TestKioskHandoffUnavailable(t *testing.T) {
	e := newEnv(t, false)
	if _, err := e.kiosk("jkt-01").Start(context.Background(), handoff.Request{}); !errors.Is(err, handoff.ErrUnavailable) {
		t.Errorf("start without models: %v, want ErrUnavailable", err)
	}
}

// submittingStore marks the session being verified (as a phone's submit
// does) just before the first update of a session once armed: the submit
// lands between the kiosk's cancel reading the session and writing it.
type submittingStore struct {
	hostedStore
	now   func() time.Time
	armed atomic.Bool
}

func (s *submittingStore) UpdateFlow(ctx context.Context, partnerID, id string, fn func(*central.FlowSession) ([]central.WebhookEvent, error)) (central.FlowSession, error) {
	if s.armed.CompareAndSwap(true, false) {
		if _, err := s.hostedStore.UpdateFlow(ctx, partnerID, id, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
			fs.Hosted.Stage, fs.Hosted.ProcessingAt = central.HostedStageProcessing, s.now()
			return nil, nil
		}); err != nil {
			return central.FlowSession{}, err
		}
	}
	return s.hostedStore.UpdateFlow(ctx, partnerID, id, fn)
}

// TestKioskCancel: a kiosk's cancel of a hand-off of a branch a partner
// owns ends the session for the partner too (session.ended, error_code
// canceled, as any session ending without a result), and a cancel that a
// phone's submit overtook is refused (409) rather than recorded over a
// verification whose result would then end the session a second time.
func TestKioskCancel(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	s := &submittingStore{hostedStore: centraltest.BoltStore(t).(hostedStore), now: clk.Now}
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	e := newEnvOn(t, true, s, nil, key, clk) // engines: central offers hand-offs only with them
	pid := e.partnerWithBranch("mlg-03")
	k := e.kiosk("mlg-03")

	h, err := k.Start(ctx, handoff.Request{PartnerUserID: "cust-3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Cancel(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	evs, err := e.store.Events(ctx, pid, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != central.EventSessionEnded || evs[0].SessionID != h.SessionID {
		t.Fatalf("partner events after the cancel: %+v %v, want one session.ended", evs, err)
	}
	var body struct {
		Data struct {
			Status    string `json:"status"`
			ErrorCode string `json:"error_code"`
		} `json:"data"`
	}
	if err := json.Unmarshal(evs[0].Payload, &body); err != nil || body.Data.Status != "ERROR" || body.Data.ErrorCode != "canceled" {
		t.Errorf("session.ended %s (%v), want status ERROR, error_code canceled", evs[0].Payload, err)
	}

	h2, err := k.Start(ctx, handoff.Request{PartnerUserID: "cust-4"})
	if err != nil {
		t.Fatal(err)
	}
	s.armed.Store(true)
	if err := k.Cancel(ctx, h2.ID); !errors.Is(err, handoff.ErrFinished) {
		t.Errorf("cancel overtaken by a submit: %v, want refused (409)", err)
	}
	if s.armed.Load() {
		t.Fatal("the submit did not land")
	}
	f, err := e.store.Flow(ctx, pid, h2.SessionID)
	if err != nil || f.Status == central.FlowError || !f.Hosted.FinishedAt.IsZero() {
		t.Errorf("session whose cancel a submit overtook: status %s finished %v (%v), want still being verified", f.Status, f.Hosted.FinishedAt, err)
	}
}
