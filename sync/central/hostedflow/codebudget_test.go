package hostedflow_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// hostedStore is a raw store with the hosted flow's state.
type hostedStore interface {
	central.Store
	central.HostedStates
}

// gatedCodes holds every short code lookup at its gate.
type gatedCodes struct {
	hostedStore
	centraltest.Gate
}

func (g *gatedCodes) HostedState(ctx context.Context, key string, now time.Time) ([]byte, error) {
	if strings.HasPrefix(key, "code/") {
		g.Arrive()
	}
	return g.hostedStore.HostedState(ctx, key, now)
}

// TestCodeBudgetAtOnce: short codes posted all at once from one address
// get no more lookups than the address's burst (10); the rest are 429.
// Each lookup here waits until every request is in, so a budget read
// before the lookup and spent after it let all of them through.
func TestCodeBudgetAtOnce(t *testing.T) {
	const n = 30
	g := &gatedCodes{hostedStore: centraltest.BoltStore(t).(hostedStore)}
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	e := newEnvOn(t, false, g, nil, key, &clock{})
	codes := g.AtOnce(n, func() (string, bool) {
		a := e.browser().post("/flow/code", "application/x-www-form-urlencoded", []byte("code=ZZZZZZZZ"))
		return fmt.Sprint(a.status), a.status != http.StatusTooManyRequests
	})
	if codes["404"] != 10 || codes["429"] != n-10 {
		t.Errorf("%d wrong codes at once: %v, want 10 looked up (404) and the rest 429", n, codes)
	}
}

// TestActionBudget: a session's hand-off links (each a short code kept
// ten minutes) and language switches are budgeted together: ActionBurst,
// then 429 with Retry-After, and one more once the clock moved on. Without
// it one session's script wrote a code and the session as fast as it
// posted.
func TestActionBudget(t *testing.T) {
	e := newEnv(t, true)
	_, fc := e.initiate(map[string]any{"smart_qr": true})
	b := e.browser()
	b.open(fc.LaunchURL)
	for i := range hostedflow.ActionBurst {
		if i%2 == 0 {
			must(t, http.StatusOK, b.post("/flow/api/handoff", "", nil))
		} else {
			must(t, http.StatusOK, b.post("/flow/api/lang", "application/json", []byte(`{"lang":"id"}`)))
		}
	}
	for _, a := range []answer{b.post("/flow/api/handoff", "", nil), b.post("/flow/api/lang", "application/json", []byte(`{"lang":"en"}`))} {
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
			t.Errorf("past the burst: %d (Retry-After %q) %.200s, want 429 with Retry-After", a.status, a.header.Get("Retry-After"), a.body)
		}
	}
	e.clk.Advance(hostedflow.ActionInterval)
	must(t, http.StatusOK, b.post("/flow/api/handoff", "", nil))
}

// gatedCaptures holds every capture's store write at its gate.
type gatedCaptures struct {
	hostedStore
	centraltest.Gate
}

func (g *gatedCaptures) PutHostedState(ctx context.Context, key string, value []byte, expires time.Time) error {
	if strings.HasPrefix(key, "cap/") {
		g.Arrive()
	}
	return g.hostedStore.PutHostedState(ctx, key, value, expires)
}

// TestUploadBudgetAtOnce: captures posted all at once take no more of the
// session's upload budget than is left: with room for two and a half,
// two are kept and the rest are 413 upload_budget. Each capture's store
// write here waits until every request is in, so a budget read when a
// request starts and charged once its capture is kept let all of them
// through (up to CaptureBurst x 10 MB past it).
func TestUploadBudgetAtOnce(t *testing.T) {
	const n = hostedflow.CaptureBurst
	doc, _, _ := images(t)
	g := &gatedCaptures{hostedStore: centraltest.BoltStore(t).(hostedStore)}
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	e := newEnvOn(t, true, g, nil, key, &clock{})
	pid, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	size := int64(len(doc))
	if _, err := e.store.UpdateFlow(context.Background(), pid, fc.SessionID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		fs.Hosted.Uploaded = hostedflow.MaxUploadBytes - 2*size - size/2
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	codes := g.AtOnce(n, func() (string, bool) {
		a := b.post("/flow/api/capture?step=document", "image/jpeg", doc)
		var e struct{ Code string }
		json.Unmarshal(a.body, &e)
		return fmt.Sprint(a.status, e.Code), a.status == http.StatusOK
	})
	if codes["200"] != 2 || codes["413upload_budget"] != n-2 {
		t.Errorf("%d captures at once with room for 2.5: %v, want 2 kept and the rest 413 upload_budget", n, codes)
	}
	f, err := e.store.Flow(context.Background(), pid, fc.SessionID)
	if err != nil || f.Hosted.Uploaded > hostedflow.MaxUploadBytes {
		t.Errorf("bytes counted: %d of %d (%v)", f.Hosted.Uploaded, hostedflow.MaxUploadBytes, err)
	}
}
