package hostedflow_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// TestLiveSessionsShared: one partner's sessions hold at most half of an
// instance's live sessions, so a partner that opens many (its customers,
// or a script of its own reading each session's state now and then)
// leaves room for the others': past its share its next session is 503
// busy, while another partner's is served.
func TestLiveSessionsShared(t *testing.T) {
	const maxLive = 4
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	e := newEnvOn(t, false, centraltest.BoltStore(t), nil, key, &clock{}, func(c *hostedflow.Config) { c.MaxLive = maxLive })
	state := func(b *browser) answer {
		t.Helper()
		return b.do("GET", "/flow/api/state", "", nil, nil)
	}
	// more initiates another session of the last partner initiate made.
	more := func() partnerapi.FlowCreated {
		t.Helper()
		var fc partnerapi.FlowCreated
		a := must(t, http.StatusCreated, e.browser().do("POST", "/api/v1/flows", "application/json", []byte(`{"partner_user_id":"cust-2"}`),
			map[string]string{"Authorization": "Bearer " + e.token}))
		if err := json.Unmarshal(a.body, &fc); err != nil {
			t.Fatal(err)
		}
		return fc
	}
	// bound starts a session's launch URL in a browser of its own.
	bound := func(fc partnerapi.FlowCreated) *browser {
		t.Helper()
		b := e.browser()
		if _, a := b.start(fc.LaunchURL, nil); a.status != http.StatusSeeOther {
			t.Fatalf("Start: %d %.200s", a.status, a.body)
		}
		return b
	}
	_, first := e.initiate(nil)
	must(t, http.StatusOK, state(bound(first)))
	for i := 1; i < maxLive; i++ {
		fc := more()
		a := state(bound(fc))
		switch {
		case i < maxLive/2 && a.status != http.StatusOK:
			t.Fatalf("the partner's session %d of %d: %d %.200s", i+1, maxLive, a.status, a.body)
		case i >= maxLive/2 && a.status != http.StatusServiceUnavailable:
			t.Errorf("the partner's session %d, past its share of %d: %d %.200s, want 503", i+1, maxLive/2, a.status, a.body)
		}
	}
	_, other := e.initiate(nil)
	if a := state(bound(other)); a.status != http.StatusOK {
		t.Errorf("another partner's session: %d %.200s, want 200", a.status, a.body)
	}
}

// TestVerificationsShared: one partner's verifications take at most half
// of an instance's slots (at least one), so another partner's person is
// verified while the first partner's queue waits. Every session uses the
// reference image, fetched inside the slot; partner A's are held there
// until B's has run.
func TestVerificationsShared(t *testing.T) {
	doc, selfie, _ := images(t)
	gate := make(chan struct{})
	entered := make(chan string, 3)
	var held atomic.Value // partner A's id
	held.Store("")
	e := newEnv(t, true, func(c *hostedflow.Config) {
		c.MaxConcurrent = 2
		c.ReferenceImage = func(ctx context.Context, fs central.FlowSession) ([]byte, error) {
			entered <- fs.ID
			if fs.PartnerID == held.Load() {
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return selfie, nil
		}
	})
	setup := func(pid string) {
		body, _ := json.Marshal(map[string]any{"url": "https://ref.example/ref", "auth": "bearer", "secret": "s3cret-reference"})
		must(t, http.StatusOK, e.browser().do("PUT", "/admin/v1/partners/"+pid+"/reference-image", "application/json", body,
			map[string]string{"Authorization": "Bearer " + e.admin}))
	}
	submit := func(fc partnerapi.FlowCreated) *browser {
		t.Helper()
		b := e.browser()
		b.open(fc.LaunchURL)
		b.capture("document", doc)
		b.capture("selfie", selfie)
		must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
		return b
	}
	pid, a1 := e.initiateWith(map[string]any{"use_reference_image": true}, setup)
	held.Store(pid)
	var a2 partnerapi.FlowCreated
	json.Unmarshal(must(t, http.StatusCreated, e.browser().do("POST", "/api/v1/flows", "application/json",
		[]byte(`{"partner_user_id":"cust-2","use_reference_image":true}`), map[string]string{"Authorization": "Bearer " + e.token})).body, &a2)
	_, b1 := e.initiateWith(map[string]any{"use_reference_image": true}, setup)

	waiting := []*browser{submit(a1)}
	if id := <-entered; id != a1.SessionID {
		t.Fatalf("first verification in: %s, want A's first %s", id, a1.SessionID)
	}
	waiting = append(waiting, submit(a2))
	b := submit(b1)
	if id := <-entered; id != b1.SessionID {
		t.Errorf("second verification in: %s, want B's %s while A's first holds A's share", id, b1.SessionID)
	} else if st := b.waitResult(); st.Stage != "result" {
		t.Errorf("B's session: %+v", st)
	}
	close(gate)
	for _, w := range waiting {
		w.waitResult()
	}
}
