package hostedflow_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/central/webhook"
	"github.com/openkyc/kyc/sync/internal/pgtest"
)

// TestLinksMadeWhileTheClockRanAhead: a launch URL, the page it opened and
// a Smart QR phone link (and its short code) made while central's clock
// read five years ahead, then corrected, stayed valid for as long as the
// clock had been off: their expiry was reckoned by that clock. They are
// expired (the expired page, 410 session_expired, the used page) on bolt
// and on PostgreSQL; so is a phone link made an hour ahead in a session
// made before.
func TestLinksMadeWhileTheClockRanAhead(t *testing.T) {
	stores := map[string]func(t *testing.T) central.Store{
		"bolt": func(t *testing.T) central.Store { return centraltest.BoltStore(t) },
		"postgres": func(t *testing.T) central.Store {
			ctx := context.Background()
			dsn, err := pgtest.StartT(t).NewDatabase(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s, err := pgstore.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			key := make([]byte, partnerapi.SecretKeySize)
			rand.Read(key)
			e := newEnvOn(t, true, open(t), nil, key, &clock{})
			const ahead = 5 * 365 * 24 * time.Hour

			e.clk.Advance(ahead)
			p1, unopened := e.initiate(map[string]any{"smart_qr": true})
			p2, opened := e.initiate(map[string]any{"smart_qr": true})
			desk := e.browser()
			desk.open(opened.LaunchURL)
			var h hostedflow.HandoffLink
			json.Unmarshal(must(t, http.StatusOK, desk.post("/flow/api/handoff", "", nil)).body, &h)
			e.clk.Advance(-ahead)

			u, _ := url.Parse(unopened.LaunchURL)
			if a := e.browser().get(u.Path); a.status != http.StatusGone || !bytes.Contains(a.body, []byte("has expired")) {
				t.Errorf("a launch URL made with the clock ahead, after it was put back: %d %.200s; want 410, the expired page", a.status, a.body)
			}
			if st := desk.state(); st.Stage != "expired" || st.ErrorCode != "session_expired" {
				t.Errorf("the page of a session made with the clock ahead, after it was put back: %+v; want expired", st)
			}
			if a := desk.post("/flow/api/capture?step=document", "image/jpeg", []byte("x")); a.status != http.StatusGone || !bytes.Contains(a.body, []byte("session_expired")) {
				t.Errorf("a capture there: %d %.200s; want 410 session_expired", a.status, a.body)
			}
			hu, _ := url.Parse(h.URL)
			if a := e.browser().get(hu.Path); a.status != http.StatusGone {
				t.Errorf("its phone link: %d %.200s; want 410", a.status, a.body)
			}
			if a := e.browser().post("/flow/code", "application/x-www-form-urlencoded", []byte("code="+h.ShortCode)); a.status == http.StatusSeeOther {
				t.Errorf("its short code took a phone on: %d", a.status)
			}

			// The expiry pass ends them, each with its session.expired.
			em, err := webhook.NewEmitter(webhook.EmitterConfig{Store: e.store, Now: e.clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := em.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct{ pid, sid string }{{p1, unopened.SessionID}, {p2, opened.SessionID}} {
				f, err := e.store.Flow(context.Background(), s.pid, s.sid)
				evs, eerr := e.store.Events(context.Background(), s.pid, 0, 100)
				expired := slices.ContainsFunc(evs, func(ev central.WebhookEvent) bool {
					return ev.SessionID == s.sid && ev.Type == central.EventSessionExpired
				})
				if err != nil || eerr != nil || f.Status != central.FlowExpired || !expired {
					t.Errorf("session %s after the expiry pass: %s (%v, %v), session.expired sent %v; want EXPIRED and sent", s.sid, f.Status, err, eerr, expired)
				}
			}

			// A hand-off an hour ahead in a session of a day made before:
			// its link would live an hour and ten minutes, not ten.
			_, daylong := e.initiate(map[string]any{"smart_qr": true, "session_ttl": 86400})
			desk = e.browser()
			desk.open(daylong.LaunchURL)
			e.clk.Advance(time.Hour)
			json.Unmarshal(must(t, http.StatusOK, desk.post("/flow/api/handoff", "", nil)).body, &h)
			e.clk.Advance(-time.Hour)
			hu, _ = url.Parse(h.URL)
			if a := e.browser().get(hu.Path); a.status != http.StatusGone || !bytes.Contains(a.body, []byte("used")) {
				t.Errorf("a phone link made with the clock an hour ahead, after it was put back: %d %.200s; want 410, the used page", a.status, a.body)
			}
			// The session itself goes on: a new hand-off by the corrected
			// clock takes the phone.
			json.Unmarshal(must(t, http.StatusOK, desk.post("/flow/api/handoff", "", nil)).body, &h)
			e.browser().open(h.URL)
		})
	}
}
