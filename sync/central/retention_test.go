package central_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
)

// partnerData stores, for the retention of partner data: webhook events
// delivered 40 days ago and today, one owed for 40 days, and partner
// sessions that ended 40 days ago and end tomorrow.
func partnerData(t *testing.T, s central.Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	old := now.Add(-40 * 24 * time.Hour)
	ev := func(id string, at time.Time) central.WebhookEvent {
		return central.WebhookEvent{ID: id, PartnerID: "pa", SessionID: "s-" + id, Type: central.EventSubmissionCompleted,
			Payload: json.RawMessage(`{"id":"` + id + `"}`), CreatedAt: at}
	}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{ev("old", old), ev("owed", old.Add(time.Minute)), ev("new", now)}); err != nil {
		t.Fatal(err)
	}
	for id, at := range map[string]time.Time{"old": old, "new": now} {
		if err := s.RecordAttempt(ctx, central.DeliveryAttempt{EventID: id, At: at, Status: 200}, true, time.Time{}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// The owed event failed and waits for a receiver that came back: kept.
	if err := s.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "owed", At: old, Status: 503}, false, now.Add(time.Hour), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for id, expires := range map[string]time.Time{"f-old": old, "f-new": now.Add(24 * time.Hour)} {
		f := central.FlowSession{ID: id, PartnerID: "pa", UserID: "u", UserIDType: "email", Config: json.RawMessage(`{}`),
			Status: central.FlowCompleted, CreatedAt: old, UpdatedAt: old, ExpiresAt: expires}
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutRetention(ctx, central.RetentionPolicy{WebhooksDays: 30, FlowsDays: 30}); err != nil {
		t.Fatal(err)
	}
}

// checkPartnerSwept checks what the sweep left and what its audit event
// counted.
func checkPartnerSwept(t *testing.T, s central.Store) {
	t.Helper()
	ctx := context.Background()
	evs, err := s.Events(ctx, "", 0, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != "owed" || evs[1].ID != "new" {
		t.Errorf("events after the sweep = %+v, %v; want owed and new", evs, err)
	}
	if _, err := s.Flow(ctx, "pa", "f-old"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the ended session after the sweep: %v", err)
	}
	if _, err := s.Flow(ctx, "pa", "f-new"); err != nil {
		t.Errorf("the live session after the sweep: %v", err)
	}
	sweeps, err := s.Audit(ctx, central.AuditFilter{Action: central.AuditSweep})
	if err != nil || len(sweeps) != 1 || sweeps[0].Count != 2 {
		t.Fatalf("sweep audit = %+v, %v; want one sweep of 2", sweeps, err)
	}
	var counts map[central.DataKind]int
	if err := json.Unmarshal(sweeps[0].After, &counts); err != nil || counts[central.ExpireWebhooks] != 1 || counts[central.ExpireFlows] != 1 {
		t.Errorf("the sweep's counts = %s, %v", sweeps[0].After, err)
	}
}

// TestSweepPartnerData: the retention sweep also removes webhook events
// (delivered or dead, with their attempts; one still owed stays) and
// partner sessions past their periods: on bbolt the sweep Serve runs at
// start, on PostgreSQL the job queue's sweep job.
func TestSweepPartnerData(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		store := openBolt(t)
		partnerData(t, store, time.Now().UTC())
		start(t, central.Config{Store: store})
		waitFor(t, time.Minute, func() bool {
			evs, err := store.Audit(context.Background(), central.AuditFilter{Action: central.AuditSweep})
			return err == nil && len(evs) > 0
		})
		checkPartnerSwept(t, store)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, _ := startPostgres(t)
		ctx := context.Background()
		pg, err := pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		partnerData(t, pg, time.Now().UTC())
		c := start(t, central.Config{Store: pg, SweepByQueue: true, ErasureByQueue: true})
		workers := river.NewWorkers()
		river.AddWorker(workers, jobs.SweepWorker(func(ctx context.Context) error { _, err := c.Server.Sweep(ctx); return err }, 0))
		// The leader inserts a sweep when it starts (RunOnStart).
		events := startJobs(t, pg, jobs.Config{Workers: workers, SweepEvery: time.Hour, FetchPoll: 100 * time.Millisecond})
		// The events' delivery jobs fail here (no webhook worker): only the
		// sweep's outcome counts.
		timeout := time.After(2 * time.Minute)
		for done := false; !done; {
			select {
			case ev := <-events:
				if ev.Job.Kind != (jobs.Sweep{}).Kind() {
					continue
				}
				if ev.Kind != river.EventKindJobCompleted {
					t.Fatalf("the sweep job: %s", ev.Kind)
				}
				done = true
			case <-timeout:
				t.Fatal("no sweep job completed within 2 minutes")
			}
		}
		checkPartnerSwept(t, pg)
	})
}
