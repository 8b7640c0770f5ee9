package console

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestHostedCaseScope: a hosted flow's case is scoped to its pseudo-
// device's branch (central.HostedDevice): a reviewer of that branch sees
// it, also for a branch only a partner owns (no device there), a reviewer
// of another branch does not (the case answers 404, as one that does not
// exist), and a hosted case of no branch is for unscoped reviewers only.
func TestHostedCaseScope(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.store.CreatePartner(ctx, central.Partner{ID: "acme", Name: "Acme", ClientID: "acme-client", Branches: []string{"east"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	north := f.submit(central.HostedDevice("north"), "north:kiosk-1-1", payload(t, "payload_escalate.json", "kiosk-1", nil))
	east := f.submit(central.HostedDevice("east"), "acme:s-1-1", payload(t, "payload_escalate.json", "s-1", nil))
	legacy := f.submit(central.HostedDevice(""), "other:s-2-1", payload(t, "payload_escalate.json", "s-2", nil))
	f.addUser("eastrev", central.RoleReviewer, "east")

	for _, tc := range []struct {
		user       string
		sees, hide []central.SubmissionRef
	}{
		{"northrev", []central.SubmissionRef{north}, []central.SubmissionRef{east, legacy}},
		{"eastrev", []central.SubmissionRef{east}, []central.SubmissionRef{north, legacy}},
		{"rev1", []central.SubmissionRef{north, east, legacy}, nil},
	} {
		b := f.browser()
		b.signIn(tc.user)
		queue := b.get("/console/queue").body
		for _, ref := range tc.sees {
			if !strings.Contains(queue, caseHref(ref)) {
				t.Errorf("%s: the queue lacks the hosted case of %s", tc.user, ref.DeviceID)
			}
			if a := b.get(caseHref(ref)); a.status != http.StatusOK {
				t.Errorf("%s: the hosted case of %s: %d, want 200", tc.user, ref.DeviceID, a.status)
			}
		}
		for _, ref := range tc.hide {
			if strings.Contains(queue, caseHref(ref)) {
				t.Errorf("%s: the queue shows the hosted case of %s", tc.user, ref.DeviceID)
			}
			if a := b.get(caseHref(ref)); a.status != http.StatusNotFound {
				t.Errorf("%s: the hosted case of %s: %d, want 404", tc.user, ref.DeviceID, a.status)
			}
		}
	}
}
