package hostedflow_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openkyc/kyc/internal/handoff"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/internal/pgtest"
)

// TestUnstorableRefs: a cookie or phone link is the sender's to write, so
// one naming a session by an id no store can hold (NUL, not UTF-8) is a
// session that does not exist, on PostgreSQL too (which refuses such text
// instead of finding nothing): 401 no_session and the "not valid" page,
// never a 500 anyone could cause.
func TestUnstorableRefs(t *testing.T) {
	e := newPGEnv(t)
	pid, _ := e.initiate(nil)
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	secret := strings.Repeat("A", 43)
	for _, tc := range []struct{ name, ref string }{
		{"NUL in the session", enc(pid) + "." + enc("ses\x00") + "." + secret},
		{"session not UTF-8", enc(pid) + "." + enc("ses\xff") + "." + secret},
		{"NUL in the partner", enc("\x00") + "." + enc("ses_1") + "." + secret},
		{"partner not UTF-8", enc("\xc3") + "." + enc("ses_1") + "." + secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			cookie := map[string]string{"Cookie": "__Host-kyc_flow=" + tc.ref}
			a := b.do("GET", "/flow/api/state", "", nil, cookie)
			var body struct{ Code string }
			json.Unmarshal(a.body, &body)
			if a.status != http.StatusUnauthorized || body.Code != "no_session" {
				t.Errorf("state with the cookie: %d %.200s, want 401 no_session", a.status, a.body)
			}
			if a := b.do("GET", "/flow/app", "", nil, cookie); a.status != http.StatusUnauthorized {
				t.Errorf("page with the cookie: %d %.200s, want 401", a.status, a.body)
			}
			for _, m := range []string{"GET", "POST"} {
				a := b.do(m, "/flow/h/"+tc.ref, "application/x-www-form-urlencoded", nil, nil)
				if a.status != http.StatusNotFound || !strings.Contains(string(a.body), `data-state="unknown"`) {
					t.Errorf("%s the phone link: %d %.200s, want 404 and the unknown link's page", m, a.status, a.body)
				}
			}
		})
	}
}

// TestKioskUnstorableIDs: a hand-off id in a device's path is the
// device's to write; one naming a partner or a session by text no store
// can hold (NUL, not UTF-8) is a hand-off that does not exist, on
// PostgreSQL too: 404 handoff_unknown to its status and its cancel,
// never a 500.
func TestKioskUnstorableIDs(t *testing.T) {
	ctx := context.Background()
	e := newPGEnv(t)
	k := e.kiosk("jkt-01")
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct{ name, id string }{
		{"NUL in the session", enc(hostedflow.KioskPartner) + ".kiosk-\x00"},
		{"session not UTF-8", enc(hostedflow.KioskPartner) + ".kiosk-\xff"},
		{"NUL in the partner", enc("a\x00") + ".kiosk-1"},
		{"partner not UTF-8", enc("\xc3") + ".kiosk-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Status(ctx, tc.id); !errors.Is(err, handoff.ErrNotFound) {
				t.Errorf("status: %v, want handoff.ErrNotFound", err)
			}
			if err := k.Cancel(ctx, tc.id); !errors.Is(err, handoff.ErrNotFound) {
				t.Errorf("cancel: %v, want handoff.ErrNotFound", err)
			}
		})
	}
}

// newPGEnv is newEnv, without engines, on a PostgreSQL store of its own.
func newPGEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dsn, err := pgtest.StartT(t).NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	kr, key := instanceSecrets(t)
	return newEnvOn(t, false, raw, kr, key, &clock{})
}
