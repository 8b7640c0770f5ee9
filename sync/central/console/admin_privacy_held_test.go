package console_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestAdminPrivacyHeld: the retention page says what the last sweep held
// back, by kind (from its audit event, which stands until a sweep changes
// it), and each sweep's row counts what it held back.
func TestAdminPrivacyHeld(t *testing.T) {
	e := newAdminEnv(t)
	admin := e.user(t, "ada", central.RoleAdmin)
	ctx := context.Background()
	e.enrolDevice(t, "dev-1", "JKT", nil)
	old := time.Now().UTC().Add(-50 * 24 * time.Hour)
	held := e.submit(t, "dev-1", "sub-held", admPayload(t, "payload_escalate.json"), old, old)
	e.submit(t, "dev-1", "sub-old", admPayload(t, "payload_escalate.json"), old, old)
	if _, err := e.store.UpdateReview(ctx, held, func(central.Case) (central.Review, central.AuditEvent, error) {
		return central.Review{State: central.ReviewSecond, Assignee: "rev", Outcome: central.OutcomeReject, DecidedBy: "rev", DecidedAt: old},
			central.AuditEvent{ID: "decide-held", At: old, Actor: "user:rev", Action: "decide", Subject: "case:" + held.DeviceID + "/" + held.Key}, nil
	}); err != nil {
		t.Fatal(err)
	}

	_, body := admin.get(t, "/console/privacy")
	if got := regexp.MustCompile(`id="held-decision">([^<]*)<`).FindStringSubmatch(body); got == nil || got[1] != "" {
		t.Errorf("held back before any sweep: %q, want an empty cell", got)
	}
	if err := e.store.PutRetention(ctx, central.RetentionPolicy{DecisionDays: 30, AuditDays: 3650}); err != nil {
		t.Fatal(err)
	}
	// The second sweep changes nothing and leaves no event: the page
	// still shows what is held.
	for range 2 {
		if _, err := e.srv.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, body = admin.get(t, "/console/privacy")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`id="held-decision">1<`),
		regexp.MustCompile(`id="held-images">0<`),
		regexp.MustCompile(`id="retention-held">[^<]*held back`),
		regexp.MustCompile(`id="sweeps">(?s:.*)<td>0, 0, 1</td>`),
	} {
		if !want.MatchString(body) {
			t.Errorf("the privacy page does not match %s", want)
		}
	}
}
