package central_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openkyc/kyc/sync/central"
)

// heldStores are the stores the retention tests of held cases run on.
var heldStores = []struct {
	name string
	open func(t *testing.T) central.Store
}{
	{"bolt", func(t *testing.T) central.Store { return sealedBolt(t) }},
	{"postgres", func(t *testing.T) central.Store { return sealedPG(t) }},
}

// setReview stores rv as ref's review, audited as a test action.
func setReview(t *testing.T, s central.Store, ref central.SubmissionRef, rv central.Review) {
	t.Helper()
	if _, err := s.UpdateReview(context.Background(), ref, func(central.Case) (central.Review, central.AuditEvent, error) {
		return rv, central.AuditEvent{ID: fmt.Sprint("ev-", ref.Key, "-", rv.State), At: time.Now().UTC(), Actor: "user:alice", Action: "review.test",
			Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// auditOf returns the trail's events of action.
func auditOf(t *testing.T, s central.Store, action string) []central.AuditEvent {
	t.Helper()
	evs, err := s.Audit(context.Background(), central.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestSweepAuditsHeldOnce: a case retention holds back is in the trail
// once when it is held and once when it is let go, not at every sweep;
// the sweeps that change nothing leave no event, and the last sweep event
// still counts what is held (held_<kind>), as the gauge does.
func TestSweepAuditsHeldOnce(t *testing.T) {
	for _, st := range heldStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := st.open(t)
			old := time.Now().UTC().Add(-400 * 24 * time.Hour)
			sub := storedSubmission(t, store, "held", old)
			held := central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
			storedSubmission(t, store, "open", old.Add(time.Minute))
			setReview(t, store, held, central.Review{State: central.ReviewOverride, Assignee: "alice", Outcome: central.OutcomeReject})
			if err := store.PutRetention(ctx, central.RetentionPolicy{DecisionDays: 365}); err != nil {
				t.Fatal(err)
			}
			c := start(t, central.Config{Store: store, SweepByQueue: true})
			for range 3 {
				if res, err := c.Server.Sweep(ctx); err != nil || res.Held[central.ExpireDecision] != 1 {
					t.Fatalf("Sweep = %+v, %v; want 1 held back", res, err)
				}
			}
			sweeps := auditOf(t, store, central.AuditSweep)
			var counts map[string]int
			if len(sweeps) != 1 || json.Unmarshal(sweeps[0].After, &counts) != nil || sweeps[0].Count != 1 || counts["held_decision"] != 1 {
				t.Fatalf("sweep events after 3 sweeps: %+v; want the first only, 1 removed and 1 held back", sweeps)
			}
			subject := "case:" + held.DeviceID + "/" + held.Key
			evs := auditOf(t, store, central.AuditRetentionHeld)
			if len(evs) != 1 || evs[0].Subject != subject || string(evs[0].After) != `["decision"]` || evs[0].Before != nil {
				t.Fatalf("held events after 3 sweeps: %+v; want one, the case held", evs)
			}
			if got := heldGauge(t, c, "kyc_central_retention_held", "decision"); got != 1 {
				t.Errorf("kyc_central_retention_held{kind=decision} = %v, want 1", got)
			}

			// Confirmed: let go in the trail, then taken, once.
			setReview(t, store, held, central.Review{State: central.ReviewDecided, Outcome: central.OutcomeReject, DecidedBy: "alice", SecondBy: "bob"})
			for range 2 {
				if _, err := c.Server.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := store.Case(ctx, held); !errors.Is(err, central.ErrNotFound) {
				t.Errorf("the confirmed case after the sweep: %v", err)
			}
			evs = auditOf(t, store, central.AuditRetentionHeld)
			if len(evs) != 2 || evs[1].Subject != subject || string(evs[1].Before) != `["decision"]` || string(evs[1].After) != `[]` {
				t.Errorf("held events once confirmed: %+v; want it let go once", evs)
			}
			sweeps = auditOf(t, store, central.AuditSweep)
			counts = nil
			if len(sweeps) != 2 || json.Unmarshal(sweeps[1].After, &counts) != nil || sweeps[1].Count != 1 || counts["held_decision"] != 0 {
				t.Errorf("sweep events once confirmed: %+v; want one more, 1 removed, none held", sweeps)
			}
			if got := heldGauge(t, c, "kyc_central_retention_held", "decision"); got != 0 {
				t.Errorf("kyc_central_retention_held{kind=decision} = %v, want 0", got)
			}
		})
	}
}

// heldGauge reads the gauge name{kind=kind} from c's registry.
func heldGauge(t *testing.T, c *tc, name, kind string) float64 {
	t.Helper()
	mfs, err := c.Server.Registerer().(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{kind=%q}", name, kind)
	return 0
}

// TestSweepHoldsLiveClaim: a case a reviewer claimed within
// central.ClaimLease is held back and counted like one waiting for a
// second user; one claimed longer ago (a claim left behind) is taken.
func TestSweepHoldsLiveClaim(t *testing.T) {
	for _, st := range heldStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := st.open(t)
			now := time.Now().UTC()
			old := now.Add(-400 * 24 * time.Hour)
			refs := map[string]central.SubmissionRef{}
			for name, claimedAt := range map[string]time.Time{"live": now.Add(-time.Hour), "stale": now.Add(-central.ClaimLease - time.Hour)} {
				sub := storedSubmission(t, store, name, old)
				refs[name] = central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
				setReview(t, store, refs[name], central.Review{State: central.ReviewClaimed, Assignee: "alice", ClaimedAt: claimedAt})
			}
			if err := store.PutRetention(ctx, central.RetentionPolicy{ImagesDays: 30, DecisionDays: 365}); err != nil {
				t.Fatal(err)
			}
			c := start(t, central.Config{Store: store, SweepByQueue: true})
			res, err := c.Server.Sweep(ctx)
			if err != nil || res.Held[central.ExpireDecision] != 1 || res.Held[central.ExpireImages] != 1 || res.Counts[central.ExpireDecision] != 1 {
				t.Fatalf("Sweep = %+v, %v; want the live claim held back, the stale one taken", res, err)
			}
			if _, err := store.Case(ctx, refs["live"]); err != nil {
				t.Errorf("the live claim's case after the sweep: %v", err)
			}
			if _, err := store.Case(ctx, refs["stale"]); !errors.Is(err, central.ErrNotFound) {
				t.Errorf("the stale claim's case after the sweep: %v", err)
			}
			evs := auditOf(t, store, central.AuditRetentionHeld)
			if len(evs) != 1 || evs[0].Subject != "case:"+refs["live"].DeviceID+"/"+refs["live"].Key || string(evs[0].After) != `["images","decision"]` {
				t.Errorf("held events: %+v; want the live claim's", evs)
			}
		})
	}
}
