package partnerapi

import (
	"net/url"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestLaunchURLOfOlderSessions: a session recorded before launch tokens
// were bound to its creation keeps the launch URL it was given (its QR
// codes still open it); a newer one gets the token bound to its creation.
func TestLaunchURLOfOlderSessions(t *testing.T) {
	k, err := deriveKeys(make([]byte, SecretKeySize))
	if err != nil {
		t.Fatal(err)
	}
	a := &API{keys: k, base: &url.URL{Scheme: "https", Host: "central.example"}}
	created := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	older, newer := k.launchToken("ptn_1", "s-1", time.Time{}), k.launchToken("ptn_1", "s-1", created)
	if older == newer {
		t.Fatal("the token does not depend on the creation")
	}
	for _, tc := range []struct{ name, stored string }{{"older", older}, {"newer", newer}} {
		t.Run(tc.name, func(t *testing.T) {
			f := central.FlowSession{PartnerID: "ptn_1", ID: "s-1", CreatedAt: created, LaunchHash: tokenHash(tc.stored)}
			if got, want := a.launchURL(f), "https://central.example/flow/"+tc.stored; got != want {
				t.Errorf("launch URL %s, want %s", got, want)
			}
		})
	}
}
