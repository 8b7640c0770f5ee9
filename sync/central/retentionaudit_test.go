package central_test

import (
	"encoding/json"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestRetentionUpdateAudited: each change of the retention policy is in
// the trail with the policy before and after. A shortened audit_days
// deletes the trail's own past at the next sweep: the event that allowed
// it must say from what to what.
func TestRetentionUpdateAudited(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	for _, body := range []string{`{"audit_days":3650,"images_days":30}`, `{"audit_days":1}`} {
		if resp, e := c.admin(t, "PUT", "/admin/v1/retention", []byte(body), nil); resp.StatusCode != 200 {
			t.Fatalf("PUT retention %s: %d %+v", body, resp.StatusCode, e)
		}
	}
	var evs []central.AuditEvent
	c.admin(t, "GET", "/admin/v1/audit", nil, &evs)
	var got []central.AuditEvent
	for _, ev := range evs {
		if ev.Action == central.AuditRetentionUpdate {
			got = append(got, ev)
		}
	}
	if len(got) != 2 {
		t.Fatalf("retention updates in the trail: %+v", evs)
	}
	policy := func(raw json.RawMessage) central.RetentionPolicy {
		t.Helper()
		var p central.RetentionPolicy
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("policy %q: %v", raw, err)
		}
		return p
	}
	for i, want := range []struct{ before, after central.RetentionPolicy }{
		{central.RetentionPolicy{}, central.RetentionPolicy{AuditDays: 3650, ImagesDays: 30}},
		{central.RetentionPolicy{AuditDays: 3650, ImagesDays: 30}, central.RetentionPolicy{AuditDays: 1}},
	} {
		ev := got[i]
		if ev.Subject != "retention" || ev.Actor == "" || policy(ev.Before) != want.before || policy(ev.After) != want.after {
			t.Errorf("update %d: subject %q actor %q before %s after %s; want %+v then %+v", i, ev.Subject, ev.Actor, ev.Before, ev.After, want.before, want.after)
		}
	}
}
