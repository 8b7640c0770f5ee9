package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
)

// TestConsoleLeaksNoPersonalData is the console's part of central's sweep
// (central's TestNoPersonalDataLeaks): sign-ins with a password that is
// the sweep's marker (in the name field, as the wrong password, then the
// right one with a wrong TOTP code), a reviewer opening and deciding a
// case of a marked person with a note about them. Its log at debug level
// and the audit trail carry none of the person's data, the passwords, the
// codes or the TOTP secret (ASVS V7.1.1, V7.1.2); the pages and images
// that carry the person are kept out of caches and Referer headers
// (V8.2.1, V14.4).
func TestConsoleLeaksNoPersonalData(t *testing.T) {
	const (
		given, surname, docNo, dob = "QUILLAN ZEPHYRINE", "VORTMANNSKY", "XQ7Z4K2P9", "1961-07-23"
		note                       = "called Ms Vortmannsky, DOB matches"
		markerPassword             = "leak-marker-password-Zq81"
	)
	logs := &centraltest.LogBuffer{}
	e := newEnvConfig(t, boltStore, nil, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug,
			// Without times, a six-digit code found in the log is a leak,
			// not a timestamp's digits.
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
	})
	e.addUser("ana", central.RoleReviewer)
	e.addDevice("dev-leak", "JKT")
	pl := payload(t, "payload_device.json", "sess-leak", asReview(60))
	pl = []byte(strings.NewReplacer("TEST VOID", given, "SPECIMEN", surname, "000000003", docNo, "1958-08-17", dob).Replace(string(pl)))
	ref := e.submit("dev-leak", "sub-leak", pl)

	ana := e.browser()
	e.clk.nextStep()
	ana.signIn("ana")

	// Someone else's tries: the password in the name field, a wrong
	// password, the right one with a wrong code.
	e.clk.nextStep()
	m := e.browser()
	m.get("/console/signin")
	for _, form := range []url.Values{
		{"name": {markerPassword}, "password": {"x"}},
		{"name": {"ana"}, "password": {markerPassword}},
	} {
		if a := m.post("/console/signin", form); a.status != http.StatusUnauthorized {
			t.Fatalf("sign-in %v: %d", form, a.status)
		}
	}
	a := m.post("/console/signin", url.Values{"name": {"ana"}, "password": {testPassword}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("password step: %d %s", a.status, a.body)
	}
	m.get(a.loc)
	right, err := strconv.Atoi(e.clk.code(t, e.secrets["ana"]))
	if err != nil {
		t.Fatal(err)
	}
	wrongCode := fmt.Sprintf("%06d", (right+500_000)%1_000_000)
	if a := m.post("/console/signin/totp", url.Values{"code": {wrongCode}}); a.status == http.StatusSeeOther && a.loc == "/console/queue" {
		t.Fatalf("a wrong code signed in")
	}

	// The case, its image, a decision with a note.
	page := ana.get(caseHref(ref))
	if page.status != http.StatusOK || !strings.Contains(page.body, surname) {
		t.Fatalf("case page: %d; without the person the sweep checks nothing", page.status)
	}
	img := ana.get(caseHref(ref) + "/images/selfie")
	if img.status != http.StatusOK {
		t.Fatalf("case image: %d", img.status)
	}
	for name, a := range map[string]answer{"case page": page, "case image": img} {
		for h, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
			if got := a.header.Get(h); !strings.Contains(got, want) {
				t.Errorf("%s: %s %q, want %q", name, h, got, want)
			}
		}
	}
	ana.act(ref, "claim", nil)
	if a := ana.act(ref, "decide", url.Values{"outcome": {"reject"}, "reason": {"sanctions"}, "note": {note}}); a.status != http.StatusSeeOther {
		t.Fatalf("decide: %d %s", a.status, a.body)
	}
	if e.reviewOf(ref).Note != note {
		t.Fatalf("the note was not kept with the case; the sweep checks nothing")
	}

	evs, err := e.store.Audit(context.Background(), central.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		evs[i].At = time.Time{} // its digits are no code's
	}
	trail, _ := json.Marshal(evs)
	for where, text := range map[string][]byte{"the console's log": []byte(logs.String()), "the audit trail": trail} {
		for _, marker := range []string{given, surname, "QUILLAN", "ZEPHYRINE", docNo, dob, "19610723", "610723", note,
			markerPassword, testPassword, wrongCode, e.secrets["ana"]} {
			if i := bytes.Index(bytes.ToUpper(text), []byte(strings.ToUpper(marker))); i >= 0 {
				t.Errorf("%s carries %q: …%s…", where, marker, text[max(0, i-200):min(len(text), i+len(marker)+100)])
			}
		}
	}
}
