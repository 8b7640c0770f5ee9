package console

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestHostedHistoryKeepsToThePartner: the hosted flow stores every
// partner's attempts under one pseudo-device (central.HostedDevice, per
// branch or "hosted") with the session id the partner chose, so two
// partners' sessions may share one. A case's attempt history lists its own
// session's other attempts (ids "<partner>:<session>-<attempt>"), never
// another partner's session of the same id, which would put one person's
// attempts, decisions and reasons beside another's case.
func TestHostedHistoryKeepsToThePartner(t *testing.T) {
	e := newEnvOn(t, boltStore, nil)
	e.addUser("rev1", central.RoleReviewer)
	dev := central.HostedDevice("")
	attempt := func(id string, n int) central.SubmissionRef {
		e.clk.Advance(time.Second)
		return e.submit(dev, id, payload(t, "payload_device.json", "order-7", func(m map[string]any) {
			asReview(40)(m)
			m["attempt"] = n
		}))
	}
	own1, own2 := attempt("ptn_a:order-7-1", 1), attempt("ptn_a:order-7-2", 2)
	other := attempt("ptn_b:order-7-1", 1)
	b := e.browser()
	b.signIn("rev1")
	a := b.get(caseHref(own1))
	if a.status != http.StatusOK {
		t.Fatalf("case view: %d", a.status)
	}
	// The history's section (the same person's cases elsewhere, found by
	// NIK, link to the other partner's case too: that is by design).
	_, history, _ := strings.Cut(a.body, `<section aria-labelledby="h-history">`)
	history, _, _ = strings.Cut(history, "</section>")
	if !strings.Contains(history, caseHref(own2)) {
		t.Errorf("the case's history lacks its session's other attempt: %s", history)
	}
	if strings.Contains(history, caseHref(other)) {
		t.Errorf("the case's history lists another partner's session of the same id: %s", history)
	}
}
