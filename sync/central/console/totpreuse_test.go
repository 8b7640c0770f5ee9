package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
)

// TestTOTPReuseRecorded: a TOTP code sent again within its window after
// it signed someone in (seen over a shoulder, or by a page that asked for
// it) is refused, and recorded as a reuse (ASVS 2.8.5): an audit event
// totp_reused on the account and an error in the log. A code merely wrong
// is refused without that record.
func TestTOTPReuseRecorded(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", central.RoleReviewer)
	e.browser().signIn("alice")
	u, err := e.store.User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	used, err := auth.Code(e.secrets["alice"], time.Unix(u.LastTOTPStep*30, 0))
	if err != nil {
		t.Fatal(err)
	}
	reuses := func() int {
		t.Helper()
		n := 0
		for _, a := range e.auditActions("user:alice") {
			if a == AuditTOTPReused {
				n++
			}
		}
		return n
	}
	totp := func(code string) answer {
		t.Helper()
		b := e.browser()
		b.get("/console/signin")
		if a := b.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}}); a.status != http.StatusSeeOther {
			t.Fatalf("password step: %d", a.status)
		}
		b.get("/console/signin/totp")
		return b.post("/console/signin/totp", url.Values{"code": {code}})
	}
	wrong := "000000"
	if wrong == used {
		wrong = "111111"
	}
	if a := totp(wrong); a.status != http.StatusUnauthorized {
		t.Fatalf("a wrong code: %d, want 401", a.status)
	}
	if n := reuses(); n != 0 {
		t.Errorf("a wrong code recorded as reused (%d events)", n)
	}
	if a := totp(used); a.status != http.StatusUnauthorized {
		t.Fatalf("the used code again: %d, want 401", a.status)
	}
	if n := reuses(); n != 1 {
		t.Errorf("the used code sent again: %d %s events, want 1 (all: %v)", n, AuditTOTPReused, e.auditActions("user:alice"))
	}
	if !strings.Contains(e.log.String(), "TOTP code reused") {
		t.Errorf("the reuse is not in the log:\n%s", e.log.String())
	}
	if !slices.Contains(e.auditActions("user:alice"), AuditSignIn) {
		t.Error("the first sign-in is not in the trail")
	}
}
