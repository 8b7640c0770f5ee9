package hostedflow_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"

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
