package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

// TestMigrationNumbersCompleted: a database of schema 5 has its complete
// submissions numbered in received order; later completions continue the
// log.
func TestMigrationNumbersCompleted(t *testing.T) {
	ctx := context.Background()
	dsn, conn := databaseAtSchema(t, 5)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		key      string
		received time.Time
		complete bool
	}{{"late", t0.Add(2 * time.Minute), true}, {"uploading", t0, false}, {"early", t0.Add(time.Minute), true}} {
		var completed *time.Time
		if r.complete {
			completed = &r.received
		}
		if _, err := conn.Exec(ctx, `INSERT INTO submissions (device_id, key, id, manifest_hash, created_at, received_at, completed_at, verdict, payload)
			VALUES ('d1', $1, $1, '\x00', $2, $2, $3, 'allow', '{}')`, r.key, r.received, completed); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO images (device_id, key, name, ord, size, sha256, content_key) VALUES ('d1', 'uploading', 'selfie', 0, 3, '\x00', '\x00')`); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AppendChunk(ctx, central.Chunk{DeviceID: "d1", Key: "uploading", Image: "selfie", Data: []byte("abc"), At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Completed(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, fmt.Sprint(c.ID, ":", c.CompletedSeq))
	}
	if strings.Join(got, ",") != "early:1,late:2,uploading:3" {
		t.Errorf("Completed = %v, want early:1,late:2,uploading:3", got)
	}
}

// TestIdempotentAcrossInstances: instances sharing the database run fn
// once for one key, whichever instance each call reaches.
func TestIdempotentAcrossInstances(t *testing.T) {
	ctx := context.Background()
	dsn, err := server.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stores []*Store
	for range 3 {
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	var runs atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	fn := func() (int, []byte, error) {
		if runs.Add(1) == 1 {
			close(entered)
			<-release
		}
		return 201, []byte("created"), nil
	}
	now := time.Now()
	var replays atomic.Int32
	call := func(s *Store) {
		st, body, replayed, err := s.Idempotent(ctx, "pa", "key", []byte("h"), now, fn)
		if err != nil || st != 201 || string(body) != "created" {
			t.Errorf("Idempotent = %d %q, %v", st, body, err)
		}
		if replayed {
			replays.Add(1)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { call(stores[0]) })
	<-entered
	for i := range 6 {
		wg.Go(func() { call(stores[i%3]) })
	}
	close(release)
	wg.Wait()
	if runs.Load() != 1 || replays.Load() != 6 {
		t.Errorf("fn ran %d times, %d replays; want 1 and 6", runs.Load(), replays.Load())
	}
}

// loadEvents stores delivered events and pending ones (perSession per
// session) with SQL, and analyses the table as autovacuum would.
func loadEvents(tb testing.TB, s *Store, delivered, sessions, perSession int, t0 time.Time) {
	tb.Helper()
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, `INSERT INTO webhook_events (seq, id, partner_id, session_id, type, payload, created_at, attempts, delivered_at)
		SELECT g, 'old-' || g, 'p' || (g % 10), 'old-' || g, 'submission.completed', '{}', $1::timestamptz + g * interval '1 ms', 1, $1::timestamptz + g * interval '1 ms'
		FROM generate_series(1, $2::int) g`, t0, delivered)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE webhook_counter SET seq = $1`, delivered); err != nil {
		tb.Fatal(err)
	}
	var evs []central.WebhookEvent
	for j := range perSession {
		for i := range sessions {
			evs = append(evs, central.WebhookEvent{ID: fmt.Sprint("new-", i, "-", j), PartnerID: fmt.Sprint("p", i%10), SessionID: fmt.Sprint("new-", i),
				Type: central.EventSubmissionCompleted, Payload: []byte(`{}`), CreatedAt: t0.Add(time.Hour + time.Duration(i+j)*time.Second)})
		}
	}
	if err := s.AppendEvents(ctx, evs); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE webhook_events`); err != nil {
		tb.Fatal(err)
	}
}

// TestDueEventsAtScale: with 100k delivered events and 3000 pending ones,
// DueEvents reads the pending index, never the delivered rows: the plan
// uses the partial indexes. How fast that is, BenchmarkScale measures.
func TestDueEventsAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k events")
	}
	s := openFresh(t)
	defer s.Close()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	loadEvents(t, s, 100_000, 1000, 3, t0)
	ctx := context.Background()
	now := t0.Add(2 * time.Hour)
	evs, err := s.DueEvents(ctx, now, 100)
	if err != nil || len(evs) != 100 {
		t.Fatalf("DueEvents = %d events, %v", len(evs), err)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if !strings.HasSuffix(e.ID, "-0") || seen[e.SessionID] {
			t.Errorf("due event %s is not its session's first", e.ID)
		}
		seen[e.SessionID] = true
	}
	plan := explainDue(t, s, "EXPLAIN", now)
	if strings.Contains(plan, "Seq Scan on webhook_events") || !strings.Contains(plan, "webhook_events_partner_due") || !strings.Contains(plan, "webhook_events_session_pending") {
		t.Errorf("DueEvents plan does not use the pending indexes:\n%s", plan)
	}
	t.Logf("DueEvents plan:\n%s", plan)
}

// explainDue explains (as explain says) DueEvents' query at now, limit 100.
func explainDue(t *testing.T, s *Store, explain string, now time.Time) string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), explain+" "+dueEventsSQL, now, 100, now.Add(central.EventMaxWait+central.EventClockSlack))
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestDueEventsUnanalysed: right after a burst of events, before
// autovacuum has analysed the table (here: never), DueEvents still reads
// a few pages per event it returns, with a disabled partner's older
// backlog before them. Pages read are counted by PostgreSQL (EXPLAIN's
// buffers), not timed. An anti-join planned on those statistics compared
// every due event with every pending one (1.7 million pages for 10k).
func TestDueEventsUnanalysed(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()
	if _, err := s.pool.Exec(ctx, `ALTER TABLE webhook_events SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{"held", "live"} {
		if err := s.CreatePartner(ctx, central.Partner{ID: p, Name: p, ClientID: "client-" + p, CreatedAt: t0, Disabled: p == "held"}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 6000
	evs := make([]central.WebhookEvent, n)
	for i := range evs {
		p := "live"
		if i < n/2 {
			p = "held"
		}
		evs[i] = central.WebhookEvent{ID: fmt.Sprint("evt_", i), PartnerID: p, SessionID: fmt.Sprint("ses-", i/3),
			Type: central.EventSubmissionCompleted, Payload: []byte(`{}`), CreatedAt: t0.Add(time.Duration(i) * time.Second)}
	}
	if err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(n * time.Second)
	due, err := s.DueEvents(ctx, now, 100)
	if err != nil || len(due) != 100 || due[0].ID != fmt.Sprint("evt_", n/2) || due[1].ID != fmt.Sprint("evt_", n/2+3) {
		t.Fatalf("DueEvents = %d events from %v, %v; want 100, the live partner's lane heads from evt_%d", len(due), due[:min(len(due), 2)], err, n/2)
	}
	plan := explainDue(t, s, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)", now)
	var hit int
	if _, err := fmt.Sscanf(plan[strings.Index(plan, "shared hit="):], "shared hit=%d", &hit); err != nil {
		t.Fatalf("no buffer count in the plan: %v\n%s", err, plan)
	}
	if hit > 5000 {
		t.Errorf("DueEvents read %d pages for 100 events:\n%s", hit, plan)
	}
}

func BenchmarkDueEvents(b *testing.B) {
	ctx := context.Background()
	s := openFresh(b)
	defer s.Close()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	loadEvents(b, s, 100_000, 1000, 3, t0)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.DueEvents(ctx, t0.Add(2*time.Hour), 100); err != nil {
			b.Fatal(err)
		}
	}
}
