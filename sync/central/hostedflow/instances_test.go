package hostedflow_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/internal/pgtest"
)

// TestTwoInstances runs sessions across two central instances on one
// PostgreSQL (each its own pgstore pool, HTTP server and hosted flow; the
// store, its keyring and the partner API's key shared, as instances
// behind a load balancer share them): the browser opens the launch link
// and takes its guidance frames and the document on the first, the
// selfie and the submit go to the second, which verifies the captures
// the first stored; the first answers the result. The Smart QR's short
// code issued by one instance is typed on the other, and a frame after
// the switch is guided by the second instance's own guide.
func TestTwoInstances(t *testing.T) {
	ctx := context.Background()
	dsn, err := pgtest.StartT(t).NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	open := func() central.Store {
		s, err := pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	kr, key := instanceSecrets(t)
	clk := &clock{}
	one := newEnvOn(t, true, open(), kr, key, clk)
	two := newEnvOn(t, true, open(), kr, key, clk)
	doc, selfie, _ := images(t)

	pid, fc := one.initiate(map[string]any{"smart_qr": true})
	b := one.browser()
	b.open(fc.LaunchURL)
	var fa hostedflow.FrameAnswer
	json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/frame?step=document", "image/jpeg", doc)).body, &fa)
	if len(fa.Overlay.Messages) == 0 {
		t.Errorf("first instance's guidance: %+v", fa.Overlay)
	}
	if st := b.capture("document", doc); !st.Captures.Document || st.Stage != "selfie" {
		t.Fatalf("after the document on the first instance: %+v", st)
	}

	// The same browser (its cookie) on the second instance.
	b.switchTo(two)
	if st := b.state(); st.Stage != "selfie" || !st.Captures.Document {
		t.Fatalf("the second instance's view: %+v", st)
	}
	json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/frame?step=selfie", "image/jpeg", selfie)).body, &fa)
	if fa.Overlay.Face == nil || len(fa.Overlay.Messages) == 0 {
		t.Errorf("the second instance's selfie guidance: %+v", fa.Overlay)
	}
	b.capture("selfie", selfie)
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	b.switchTo(one)
	st := b.waitResult()
	if st.Stage != "result" || st.Status != "COMPLETED" {
		t.Fatalf("result read on the first instance: %+v", st)
	}
	f, err := one.store.Flow(ctx, pid, fc.SessionID)
	if err != nil || len(f.Submissions) != 1 || len(f.Hosted.Captured) != 0 {
		t.Fatalf("session after the result: %+v %v", f, err)
	}
	c, err := two.store.Case(ctx, f.Submissions[0])
	if err != nil || c.Summary.Decision != "approve" {
		t.Errorf("the attempt: %+v %v", c.Summary, err)
	}
	// Its captures are gone from the shared state.
	hs := one.store.(central.HostedStates)
	if n, err := hs.ExpireHostedState(ctx, clk.Now().AddDate(1, 0, 0), 100); err != nil || n != 0 {
		t.Errorf("hosted state left after the result: %d values (%v)", n, err)
	}

	// Smart QR across instances: the code from the first, typed on the
	// second.
	_, fc2 := one.initiate(map[string]any{"smart_qr": true})
	desk := one.browser()
	desk.open(fc2.LaunchURL)
	var h hostedflow.HandoffLink
	json.Unmarshal(must(t, http.StatusOK, desk.post("/flow/api/handoff", "", nil)).body, &h)
	phone := two.browser()
	must(t, http.StatusSeeOther, phone.post("/flow/code", "application/x-www-form-urlencoded", []byte("code="+h.ShortCode)))
	if st := phone.state(); st.Stage != "document" {
		t.Errorf("phone on the second instance: %+v", st)
	}
	if st := desk.state(); st.Stage != "handoff" || st.Handoff.Device != "phone" {
		t.Errorf("desk on the first instance: %+v", st)
	}
	if !strings.HasPrefix(h.URL, one.base) {
		t.Errorf("phone link %q", h.URL)
	}
}

// switchTo sends the browser's next requests to e's instance, with its
// cookies (a load balancer moving it).
func (b *browser) switchTo(e *env) {
	b.e = e
	b.c = &http.Client{Transport: e.tls, Jar: b.c.Jar, CheckRedirect: b.c.CheckRedirect}
}

// TestProcessingOrphaned: an instance that died verifying leaves the
// session "processing" in the store; past the processing timeout the
// session is the person's again, with their captures, and a submit on
// another instance verifies them.
func TestProcessingOrphaned(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	pid, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	b.capture("document", doc)
	b.capture("selfie", selfie)
	// What the dead instance left: processing, started now.
	_, err := e.store.UpdateFlow(context.Background(), pid, fc.SessionID, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		f.Hosted.Stage, f.Hosted.ProcessingAt = "processing", e.clk.Now()
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := b.state(); st.Stage != "processing" {
		t.Fatalf("while processing: %+v", st)
	}
	if a := b.post("/flow/api/submit", "", nil); a.status != http.StatusOK {
		t.Errorf("submit while processing: %d %s", a.status, a.body)
	}
	e.clk.Advance(4 * time.Minute)
	if st := b.state(); st.Stage != "selfie" || !st.Captures.Document || !st.Captures.Selfie {
		t.Fatalf("after the processing timeout: %+v", st)
	}
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	if st := b.waitResult(); st.Stage != "result" || st.Status != "COMPLETED" {
		t.Errorf("result %+v", st)
	}
}
