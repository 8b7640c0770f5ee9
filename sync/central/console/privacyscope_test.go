package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestPrivacyScoped: an admin scoped to some branches reads on the privacy
// page (and in the audit view) the erasures of their branches' devices'
// submissions only: not another branch's, under way or done, nor a
// person's (which an admin of every branch asks for, and whose
// submissions may lie in any branch), nor another branch's erasure by its
// id. The admin of every branch reads them all.
func TestPrivacyScoped(t *testing.T) {
	e := newAdminEnv(t)
	root := e.user(t, "root", central.RoleAdmin)
	north := e.user(t, "northadm", central.RoleAdmin, "north")
	ctx := context.Background()
	e.enrolDevice(t, "dev-north", "north", nil)
	e.enrolDevice(t, "dev-south", "south", nil)
	now := time.Now().UTC()
	e.submit(t, "dev-north", "sub-n", admPayload(t, "payload_escalate.json"), now.Add(-time.Hour), now)
	e.submit(t, "dev-south", "sub-s", admPayload(t, "payload_escalate.json"), now.Add(-time.Hour), now)
	pending := e.submit(t, "dev-south", "sub-s2", admPayload(t, "payload_escalate.json"), now.Add(-time.Hour), now)
	e.submit(t, "dev-south", "sub-p", admPayload(t, "payload_device.json"), now.Add(-time.Hour), now)

	erase := func(u *admUser, form url.Values) string {
		t.Helper()
		form.Set("step", "confirm")
		form.Set("confirm", "ERASE")
		resp, _ := u.post(t, "/console/privacy/erase", form)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("erasure") == "" {
			t.Fatalf("erasing %v: %d %s", form, resp.StatusCode, resp.Header.Get("Location"))
		}
		return loc.Query().Get("erasure")
	}
	own := erase(north, url.Values{"by": {"submission"}, "device_id": {"dev-north"}, "submission_id": {"sub-n"}})
	south := erase(root, url.Values{"by": {"submission"}, "device_id": {"dev-south"}, "submission_id": {"sub-s"}})
	person := erase(root, url.Values{"by": {"person"}, "document_number": {"000000003"}})
	queued := central.Erasure{ID: "er-south-queued", Status: central.ErasureQueued, Actor: "user:root", RequestedAt: now, DeviceID: "dev-south", SubmissionKey: pending.Key}
	if err := e.store.AddErasure(ctx, queued, false); err != nil {
		t.Fatal(err)
	}

	others := map[string]string{"south's erasure": south, "a person's erasure": person, "south's erasure under way": queued.ID}
	_, body := north.get(t, "/console/privacy")
	if !strings.Contains(body, own) {
		t.Errorf("the north admin's page lacks their own erasure %s", own)
	}
	for what, id := range others {
		if strings.Contains(body, id) {
			t.Errorf("the north admin's privacy page shows %s (%s)", what, id)
		}
	}
	if strings.Contains(body, "user:root") {
		t.Error("the north admin's privacy page names the admin of every branch's erasures")
	}
	for what, id := range others {
		if _, body := north.get(t, "/console/privacy?erasure="+id); strings.Contains(body, `id="erasure-status"`) {
			t.Errorf("the north admin reads %s by its id", what)
		}
	}
	if _, body := north.get(t, "/console/privacy?erasure="+own); !strings.Contains(body, `id="erasure-status"`) {
		t.Error("the north admin does not read their own erasure by its id")
	}
	// The audit view lists no event ids: its erasure rows are counted,
	// and their subjects read.
	rows := func(u *admUser) (n int, subjects string) {
		t.Helper()
		_, body := u.get(t, "/console/audit?action="+central.AuditErasure)
		return strings.Count(body, "<td>"+central.AuditErasure+"</td>"), body
	}
	if n, body := rows(north); n != 1 || !strings.Contains(body, "device:dev-north") || strings.Contains(body, "device:dev-south") {
		t.Errorf("the north admin's audit view lists %d erasures, want their own one", n)
	}
	if n, body := rows(root); n != 3 || !strings.Contains(body, "device:dev-south") {
		t.Errorf("the admin of every branch's audit view lists %d erasures, want 3", n)
	}

	_, body = root.get(t, "/console/privacy")
	for _, id := range []string{own, south, person, queued.ID} {
		if !strings.Contains(body, id) {
			t.Errorf("the admin of every branch does not see erasure %s", id)
		}
	}
}
