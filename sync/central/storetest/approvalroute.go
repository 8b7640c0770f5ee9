package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// testRouteApproval: RouteApproval routes a stored approval to review once,
// with its audit event, in the queue the console filters; anything else it
// leaves alone.
func testRouteApproval(t *testing.T, s central.Store) {
	ctx := context.Background()
	approved := summarised("d1", "approved", t0, &central.Summary{Decision: "approve", Score: 97, Reasons: []string{"OK"}})
	rejected := summarised("d1", "rejected", t0.Add(time.Second), &central.Summary{Decision: "reject", Score: 45})
	bare := summarised("d1", "bare", t0.Add(2*time.Second), nil)
	begin(t, s, approved, rejected, bare)
	ev := func(id string) central.AuditEvent {
		return central.AuditEvent{ID: id, At: t0.Add(time.Hour), Actor: "central", Action: central.AuditDecisionDistrusted, Count: 1,
			Subject: "case:d1/" + id, After: []byte(`{"reason":"` + central.ReasonCentralRecheckContradicts + `"}`)}
	}
	for i, c := range []struct {
		sub  central.Submission
		want bool
	}{{approved, true}, {approved, false}, {rejected, false}, {bare, false}} {
		got, err := s.RouteApproval(ctx, ref(c.sub), central.ReasonCentralRecheckContradicts, ev(c.sub.Key))
		if err != nil || got != c.want {
			t.Errorf("%d: RouteApproval(%s) = %v, %v; want %v", i, c.sub.ID, got, err, c.want)
		}
	}
	if _, err := s.RouteApproval(ctx, central.SubmissionRef{DeviceID: "d1", Key: "absent"}, central.ReasonCentralRecheckContradicts, ev("absent")); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("RouteApproval(absent) = %v, want ErrNotFound", err)
	}
	c, err := s.Case(ctx, ref(approved))
	if err != nil || c.Summary.Decision != "review" || c.Summary.DeviceDecision != "approve" || c.Summary.Score != 97 ||
		!slices.Equal(c.Summary.Reasons, []string{central.ReasonCentralRecheckContradicts, "OK"}) || c.Review.Seq != 0 {
		t.Errorf("Case(routed) = %+v, %v", c, err)
	}
	if c, err := s.Case(ctx, ref(rejected)); err != nil || c.Summary.Decision != "reject" || c.Summary.DeviceDecision != "" {
		t.Errorf("Case(rejected) = %+v, %v", c.Summary, err)
	}
	q, n, err := s.Queue(ctx, central.QueueFilter{Decisions: []string{"review"}, Reason: central.ReasonCentralRecheckContradicts})
	if err != nil || n != 1 || len(q) != 1 || q[0].ID != "approved" {
		t.Errorf("Queue(review, reason) = %d %+v, %v", n, q, err)
	}
	if q, n, err := s.Queue(ctx, central.QueueFilter{Decisions: []string{"approve"}}); err != nil || n != 0 || len(q) != 0 {
		t.Errorf("Queue(approve) = %d %+v, %v", n, q, err)
	}
	evs, err := s.Audit(ctx, central.AuditFilter{Action: central.AuditDecisionDistrusted})
	if err != nil || len(evs) != 1 || evs[0].Subject != "case:d1/"+approved.Key {
		t.Errorf("Audit = %+v, %v; want the one routing", evs, err)
	}
}
