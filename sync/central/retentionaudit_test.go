package central_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
)

// TestRetentionUpdateAudited: each change of the retention policy is in
// the trail with the policy before and after. A shortened audit_days
// deletes the trail's own past at the next sweep: the event that allowed
// it must say from what to what.
func TestRetentionUpdateAudited(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	for _, body := range []string{`{"audit_days":3650,"images_days":30,"decision_days":365}`, `{"audit_days":365,"decision_days":30}`} {
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
		{central.RetentionPolicy{}, central.RetentionPolicy{AuditDays: 3650, ImagesDays: 30, DecisionDays: 365}},
		{central.RetentionPolicy{AuditDays: 3650, ImagesDays: 30, DecisionDays: 365}, central.RetentionPolicy{AuditDays: 365, DecisionDays: 30}},
	} {
		ev := got[i]
		if ev.Subject != "retention" || ev.Actor == "" || policy(ev.Before) != want.before || policy(ev.After) != want.after {
			t.Errorf("update %d: subject %q actor %q before %s after %s; want %+v then %+v", i, ev.Subject, ev.Actor, ev.Before, ev.After, want.before, want.after)
		}
	}
}

// TestRetentionAuditFloor: audit_days other than 0 under MinAuditDays is
// 422 and changes nothing, so that the admin token cannot set a day and
// sweep away the record of its own use.
func TestRetentionAuditFloor(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"audit_days":1,"decision_days":1}`, 422},
		{`{"audit_days":364,"decision_days":30}`, 422},
		{`{"audit_days":365,"decision_days":30}`, 200},
		{`{"audit_days":0,"decision_days":1}`, 200},
	} {
		resp, e := c.admin(t, "PUT", "/admin/v1/retention", []byte(tc.body), nil)
		if resp.StatusCode != tc.status || (tc.status == 422 && e.Code != "audit_too_short") {
			t.Errorf("PUT retention %s: %d %+v, want %d", tc.body, resp.StatusCode, e, tc.status)
		}
	}
	if pol, err := c.Cfg.Store.Retention(context.Background()); err != nil || pol != (central.RetentionPolicy{DecisionDays: 1}) {
		t.Errorf("policy after the last update: %+v, %v; want decisions a day, the trail forever", pol, err)
	}
}

// TestRetentionAuditOutlivesDecisions: audit_days below decision_days (a
// decision kept forever counts as longer than any) is 422 and changes
// nothing: the trail saying who decided or overrode a case would go
// before the case. 0 keeps the trail forever, whatever decision_days.
func TestRetentionAuditOutlivesDecisions(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"audit_days":400,"decision_days":730}`, 422},
		{`{"audit_days":400}`, 422},
		{`{"audit_days":365,"decision_days":365}`, 200},
		{`{"audit_days":3650,"decision_days":365}`, 200},
		{`{"decision_days":365}`, 200},
		{`{}`, 200},
	} {
		resp, e := c.admin(t, "PUT", "/admin/v1/retention", []byte(tc.body), nil)
		if resp.StatusCode != tc.status || (tc.status == 422 && (e.Code != "audit_shorter" || !strings.Contains(e.Message, "at least decision_days"))) {
			t.Errorf("PUT retention %s: %d %+v, want %d", tc.body, resp.StatusCode, e, tc.status)
		}
	}
	pol, err := c.Cfg.Store.Retention(context.Background())
	if err != nil || pol != (central.RetentionPolicy{}) {
		t.Errorf("policy after the last update: %+v, %v; want keep everything", pol, err)
	}
	if err := c.Cfg.Store.PutRetention(context.Background(), central.RetentionPolicy{DecisionDays: 30}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.admin(t, "PUT", "/admin/v1/retention", []byte(`{"audit_days":399,"decision_days":400}`), nil); resp.StatusCode != 422 {
		t.Fatalf("a refused update: %d", resp.StatusCode)
	}
	if pol, _ := c.Cfg.Store.Retention(context.Background()); pol != (central.RetentionPolicy{DecisionDays: 30}) {
		t.Errorf("a refused update changed the policy: %+v", pol)
	}
}

// TestRetentionSweepKeepsAuditFloor: a policy an earlier release stored
// with audit_days under MinAuditDays sweeps the trail as if it said
// MinAuditDays: an event 60 days old stays, one past the floor goes.
func TestRetentionSweepKeepsAuditFloor(t *testing.T) {
	ctx := context.Background()
	clk := &centraltest.Clock{}
	store := openBolt(t)
	c := start(t, central.Config{Store: store, Now: clk.Now})
	if err := store.PutRetention(ctx, central.RetentionPolicy{AuditDays: 30, DecisionDays: 30}); err != nil {
		t.Fatal(err)
	}
	now := clk.Now().UTC().Truncate(time.Second)
	old, recent := now.AddDate(0, 0, -central.MinAuditDays-1), now.AddDate(0, 0, -60)
	for _, at := range []time.Time{old, recent} {
		if err := store.AppendAudit(ctx, central.AuditEvent{At: at, Actor: "admin", Action: central.AuditRetentionUpdate, Subject: "retention"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Server.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	var evs []central.AuditEvent
	c.admin(t, "GET", "/admin/v1/audit", nil, &evs)
	var kept []time.Time
	for _, ev := range evs {
		if ev.Action == central.AuditRetentionUpdate {
			kept = append(kept, ev.At.UTC())
		}
	}
	if len(kept) != 1 || !kept[0].Equal(recent) {
		t.Errorf("retention events kept by the sweep: %v; want only the one of %v (60 days old)", kept, recent)
	}
}
