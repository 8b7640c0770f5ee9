package webhook

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
)

// TestEventsMadeWhileTheClockRanAhead: an event made, or retried, while
// central's clock read five years ahead was not due, after the clock was
// put back, until it caught up, and its session's later events waited
// behind it. Each is delivered to the partner's receiver at once, in its
// session's order; a retry's ordinary wait still holds.
func TestEventsMadeWhileTheClockRanAhead(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		clk := newClock()
		const years = 5 * 365 * 24 * time.Hour
		// The first request (evt_retried's, with the clock ahead) fails, as
		// does the fifth (evt_waits').
		rc := partnerReceiver(t, st, func(n int, _ *http.Request) int {
			switch n {
			case 0:
				return http.StatusServiceUnavailable
			case 4:
				return http.StatusTooManyRequests
			}
			return http.StatusNoContent
		})
		w := newWorker(t, st, clk, nil)

		clk.Advance(years)
		if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s2", "evt_retried", clk.Now())}); err != nil {
			t.Fatal(err)
		}
		if n, err := w.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce with the clock ahead = %d, %v", n, err)
		}
		if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "evt_ahead", clk.Now())}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(-years)
		if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "evt_after", clk.Now())}); err != nil {
			t.Fatal(err)
		}

		for range 3 {
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		for _, g := range rc.requests() {
			ids = append(ids, g.ID)
		}
		// evt_ahead and evt_retried in either order, evt_after after evt_ahead.
		if len(ids) != 4 || ids[0] != "evt_retried" || !slices.Contains(ids[1:], "evt_retried") ||
			slices.Index(ids, "evt_ahead") < 0 || slices.Index(ids, "evt_after") < slices.Index(ids, "evt_ahead") {
			t.Errorf("after the clock was put back the receiver got %v; want evt_retried twice, evt_ahead, then evt_after", ids)
		}
		for _, id := range []string{"evt_retried", "evt_ahead", "evt_after"} {
			if ev := eventByID(t, st, "p1", id); ev.DeliveredAt.IsZero() {
				t.Errorf("%s not delivered: %+v", id, ev)
			}
		}

		// A retry's own wait, however long, is kept.
		if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s3", "evt_waits", clk.Now())}); err != nil {
			t.Fatal(err)
		}
		if n, err := w.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v", n, err)
		}
		if n, err := w.RunOnce(ctx); err != nil || n != 0 {
			t.Errorf("a retry waiting its 5 s was sent again at once (%d, %v)", n, err)
		}
	})
}

// TestQueuedEventMadeWhileTheClockRanAhead: on PostgreSQL, the delivery
// job of an event made while the clock read five years ahead was snoozed
// by River until then (as River, on the same clock, does): once the clock
// is put back the leader's sweep (pgstore's PullInDeliveries) makes it
// available, and the event, due (central.EventDue), reaches the receiver.
func TestQueuedEventMadeWhileTheClockRanAhead(t *testing.T) {
	ctx := context.Background()
	dsn := pgDSN(t)
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := newClock()
	const years = 5 * 365 * 24 * time.Hour
	rc := partnerReceiver(t, st, nil)

	clk.Advance(years)
	if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "evt_ahead", clk.Now())}); err != nil {
		t.Fatal(err)
	}
	// River snoozed its job by the clock that was ahead.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if tag, err := conn.Exec(ctx, `UPDATE river_job SET state = 'scheduled', scheduled_at = $1 WHERE kind = 'webhook_delivery'`,
		clk.Now().Add(5*time.Second)); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("scheduling the job ahead: %v, %v", tag, err)
	}
	clk.Advance(-years)

	startQueue(t, st, Config{Now: clk.Now, Timeout: queueTimeout, Jitter: func(max time.Duration) time.Duration { return max }})
	if n, err := st.PullInDeliveries(ctx, clk.Now()); err != nil || n != 1 {
		t.Fatalf("PullInDeliveries = %d, %v; want the job pulled in", n, err)
	}
	if g := rc.wait(t, 20*time.Second); g.ID != "evt_ahead" || g.Err != nil {
		t.Errorf("received %+v, want evt_ahead signed", g)
	}
}
