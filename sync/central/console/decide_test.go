package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestEngineDecidedNotClaimed: a case the engine approved or rejected is
// not in the queue, and it is not a reviewer's either: opened by its URL,
// it offers no claim, and a claim posted by hand is refused. Else one
// reviewer alone could turn the engine's reject of a high-risk capture
// into an approve (four eyes guard a reject only), which the device and
// the partner then receive as the decision.
func TestEngineDecidedNotClaimed(t *testing.T) {
	e := newEnv(t)
	e.addDevice("dev-north", "north")
	e.addUser("rev1", central.RoleReviewer)
	engine := func(decision string) func(map[string]any) {
		return func(m map[string]any) { m["report"].(map[string]any)["decision"] = decision }
	}
	b := e.browser()
	b.signIn("rev1")
	for _, decision := range []string{"reject", "approve"} {
		ref := e.submit("dev-north", "sess-"+decision, payload(t, "payload_device.json", "sess-"+decision, engine(decision)))
		page := b.get(caseHref(ref))
		if page.status != http.StatusOK {
			t.Fatalf("engine %s: case view %d", decision, page.status)
		}
		if strings.Contains(page.body, `id="claim"`) {
			t.Errorf("engine %s: the case view offers a claim", decision)
		}
		if a := b.act(ref, "claim", nil); a.status != http.StatusConflict {
			t.Errorf("engine %s: claim answered %d, want 409", decision, a.status)
		}
		b.act(ref, "decide", url.Values{"outcome": {"approve"}})
		if rv := e.reviewOf(ref); rv.State != "" && rv.State != central.ReviewOpen {
			t.Errorf("engine %s: the review became %+v", decision, rv)
		}
	}
}
