package console

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
)

// TestPollKeepsNoSessionAlive: the privacy page's script reads the page
// again every few seconds while an erasure is under way (one that keeps
// failing retries for a long time), marked as a poll; a poll is not the
// user's activity, so a browser left on that page still ends its session
// at the idle timeout (ASVS 3.3.2), and the script stops once it is sent
// to the sign-in page.
func TestPollKeepsNoSessionAlive(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", central.RoleAdmin)
	b := e.browser()
	b.signIn("root")
	poll := func() answer {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.base+"/console/privacy", nil)
		req.Header.Set(pollHeader, "1")
		return b.do(req)
	}
	start := e.clk.Now()
	for e.clk.Now().Sub(start) < auth.IdleTimeout-2*time.Minute {
		e.clk.Advance(2 * time.Minute)
		if a := poll(); a.status != http.StatusOK {
			t.Fatalf("a poll within the idle timeout: %d", a.status)
		}
	}
	e.clk.Advance(3 * time.Minute)
	if a := b.get("/console/privacy"); a.status != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/console/signin") {
		t.Errorf("after polls only, idle past the timeout: %d to %q, want the sign-in page", a.status, a.loc)
	}
	// The script marks its reads and stops on the sign-in page.
	js := b.get("/console/static/admin.js").body
	if !strings.Contains(js, `"`+pollHeader+`": "1"`) || !strings.Contains(js, "r.redirected") {
		t.Error("admin.js's poll is not marked as one, or does not stop at the sign-in page")
	}
}
