package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// A year of traffic: BenchmarkScale times the calls reviewers, admins and
// central's own workers make routinely, over a store holding a year's
// submissions with audit rows and webhook events in proportion, at two
// sizes, so the ratio of the two times shows which calls grow with the
// store (a ratio near 10 is O(n)).

// ScaleSizes are the sizes BenchmarkScale fills a store to; -short keeps
// the first.
var ScaleSizes = []int{10_000, 100_000}

// Seeder fills a store through a backend's own fast path (one transaction
// or COPY per batch) with what its public calls would store.
type Seeder struct {
	// Subs stores complete submissions, with their Seal's index tokens.
	Subs Bulk
	// Audit appends audit events to the chain, in order.
	Audit func(tb testing.TB, s central.Store, evs []central.AuditEvent)
	// Settle, if set, does what the backend does in the background once
	// the writes are done (PostgreSQL's autovacuum), before the timing.
	Settle func(tb testing.TB, s central.Store)
}

// year is the span a ScaleData store's traffic covers; scaleNow is the
// end of it, the clock of every timed call.
const year = 365 * 24 * time.Hour

var scaleNow = t0.Add(year)

// ScaleData is QueueData(n) spread over a year from t0, each submission
// sealed with a blind-index token of its person (two submissions each).
func ScaleData(n int) []central.Submission {
	subs := QueueData(n)
	for i := range subs {
		at := t0.Add(time.Duration(i) * (year / time.Duration(n)))
		subs[i].CreatedAt, subs[i].ReceivedAt, subs[i].CompletedAt = at.Add(-time.Minute), at, at
		subs[i].Seal = &central.Seal{KeyID: "kek1", Key: []byte("wrapped"), Tokens: [][]byte{personToken(i % (n / 2))}}
	}
	return subs
}

func personToken(p int) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "person-%d", p))
	return h[:]
}

// scaleAudit is one audit event per submission, in time order: reviewers'
// claims and decisions on cases, a rare export by an auditor.
func scaleAudit(subs []central.Submission) []central.AuditEvent {
	evs := make([]central.AuditEvent, len(subs))
	for i, sub := range subs {
		e := central.AuditEvent{ID: fmt.Sprint("audit-", i), At: sub.ReceivedAt.Add(time.Minute), Actor: fmt.Sprint("user", i%10),
			Action: []string{"claim", "decide"}[i%2], Count: 1, Subject: "case:" + sub.DeviceID + "/" + sub.Key}
		if i%1000 == 500 {
			e.Actor, e.Action, e.Subject = "auditor", "export", "queue"
		}
		evs[i] = e
	}
	return evs
}

// scaleEvents is one webhook event per submission, three to a session,
// none delivered: the first half for partner "held" (disabled long ago,
// its events kept for when it is enabled), the rest for "live", whose
// endpoint is down (a backlog).
func scaleEvents(subs []central.Submission) []central.WebhookEvent {
	evs := make([]central.WebhookEvent, len(subs))
	for i, sub := range subs {
		p := "live"
		if i < len(subs)/2 {
			p = "held"
		}
		evs[i] = central.WebhookEvent{ID: fmt.Sprint("evt_", i), PartnerID: p, SessionID: fmt.Sprint("ses-", i/3),
			Type: central.EventSubmissionCompleted, Payload: []byte(`{}`), CreatedAt: sub.ReceivedAt}
	}
	return evs
}

// BenchmarkScale fills a store from open at each of ScaleSizes and times
// each routine call there, then logs a table of the time per call at
// each size and their ratio.
func BenchmarkScale(b *testing.B, open func(b *testing.B) central.Store, seed Seeder) {
	sizes := ScaleSizes
	if testing.Short() {
		sizes = sizes[:1]
	}
	perCall := map[string]map[int]time.Duration{}
	seeded := map[int]time.Duration{}
	var names []string
	for _, n := range sizes {
		b.Run(fmt.Sprint("n=", n), func(b *testing.B) {
			s := open(b)
			b.Cleanup(func() { s.Close() })
			start := time.Now()
			seedScale(b, s, seed, n)
			seeded[n] = time.Since(start)
			for _, c := range scaleCalls(n) {
				b.Run(c.name, func(b *testing.B) {
					ctx := context.Background()
					if err := c.call(ctx, s); err != nil { // and warm up
						b.Fatal(err)
					}
					for b.Loop() {
						if err := c.call(ctx, s); err != nil {
							b.Fatal(err)
						}
					}
					if perCall[c.name] == nil {
						perCall[c.name] = map[int]time.Duration{}
						names = append(names, c.name)
					}
					perCall[c.name][n] = b.Elapsed() / time.Duration(b.N)
				})
			}
		})
	}
	// Printed rather than logged: a benchmark with sub-benchmarks shows
	// no log.
	var t strings.Builder
	for _, n := range sizes {
		fmt.Fprintf(&t, "seeded %d submissions, audit events and webhook events in %v\n", n, seeded[n].Round(time.Millisecond))
	}
	fmt.Fprintf(&t, "%-22s", "time per call")
	for _, n := range sizes {
		fmt.Fprintf(&t, " %12s", fmt.Sprintf("%dk", n/1000))
	}
	t.WriteString("   ratio\n")
	for _, name := range names {
		fmt.Fprintf(&t, "%-22s", name)
		for _, n := range sizes {
			fmt.Fprintf(&t, " %12s", perCall[name][n].Round(time.Microsecond))
		}
		if lo, hi := perCall[name][sizes[0]], perCall[name][sizes[len(sizes)-1]]; len(sizes) > 1 && lo > 0 {
			fmt.Fprintf(&t, " %7.1f", float64(hi)/float64(lo))
		}
		t.WriteString("\n")
	}
	fmt.Print(t.String())
}

func seedScale(b *testing.B, s central.Store, seed Seeder, n int) {
	ctx := context.Background()
	subs := ScaleData(n)
	seed.Subs(b, s, subs)
	// Some cases in reviewers' hands, through the store's own call.
	for i, sub := range subs[:200] {
		_, err := s.UpdateReview(ctx, ref(sub), func(central.Case) (central.Review, central.AuditEvent, error) {
			return central.Review{State: central.ReviewClaimed, Assignee: fmt.Sprint("user", i%4), ClaimedAt: sub.ReceivedAt},
				central.AuditEvent{ID: fmt.Sprint("claim-", i), At: scaleNow, Actor: "user0", Action: "claim"}, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	seed.Audit(b, s, scaleAudit(subs))
	for _, p := range []string{"held", "live"} {
		if err := s.CreatePartner(ctx, central.Partner{ID: p, Name: p, ClientID: "client-" + p, CreatedAt: t0, Disabled: p == "held"}); err != nil {
			b.Fatal(err)
		}
	}
	for evs := scaleEvents(subs); len(evs) > 0; {
		k := min(len(evs), 5000)
		if err := s.AppendEvents(ctx, evs[:k]); err != nil {
			b.Fatal(err)
		}
		evs = evs[k:]
	}
	if err := s.PutRetention(ctx, central.RetentionPolicy{ImagesDays: 30, FieldsDays: 90, DecisionDays: 730, AuditDays: 730, WebhooksDays: 30, FlowsDays: 30}); err != nil {
		b.Fatal(err)
	}
	// One sweep: what is left due afterwards is the steady state.
	if err := scaleSweep(ctx, s); err != nil {
		b.Fatal(err)
	}
	if seed.Settle != nil {
		seed.Settle(b, s)
	}
}

// scaleSweep makes the store calls of one retention sweep at scaleNow
// (central's privacy.sweep).
func scaleSweep(ctx context.Context, s central.Store) error {
	pol, err := s.Retention(ctx)
	if err != nil {
		return err
	}
	for _, kind := range []central.DataKind{central.ExpireImages, central.ExpireFields, central.ExpireDecision,
		central.ExpireWebhooks, central.ExpireFlows, central.ExpireErasures} {
		before := scaleNow.AddDate(0, 0, -pol.Days(kind))
		for {
			n, err := s.Expire(ctx, kind, before, scaleNow, 1000)
			if err != nil {
				return fmt.Errorf("sweeping %s: %w", kind, err)
			}
			if n < 1000 {
				break
			}
		}
	}
	_, err = s.DeleteAuditBefore(ctx, scaleNow.AddDate(0, 0, -pol.AuditDays))
	return err
}

type scaleCall struct {
	name string
	call func(ctx context.Context, s central.Store) error
}

// scaleCalls are the routine calls, each checked to find what it should
// (so a fast wrong answer does not pass for a fast one).
func scaleCalls(n int) []scaleCall {
	queue := func(f central.QueueFilter, atLeast int) func(context.Context, central.Store) error {
		return func(ctx context.Context, s central.Store) error {
			cs, total, err := s.Queue(ctx, f)
			// A page after a case is not counted (total -1).
			if err == nil && (len(cs) < atLeast || total < len(cs) && f.After == nil) {
				err = fmt.Errorf("Queue(%+v) = %d cases of %d", f, len(cs), total)
			}
			return err
		}
	}
	with := func(f func(*central.QueueFilter)) central.QueueFilter {
		q := DefaultQueue
		q.States = slices.Clone(q.States)
		f(&q)
		return q
	}
	audit := func(f central.AuditFilter) func(context.Context, central.Store) error {
		return func(ctx context.Context, s central.Store) error {
			evs, err := s.Audit(ctx, f)
			if err == nil && len(evs) == 0 {
				err = fmt.Errorf("Audit(%+v) found nothing", f)
			}
			return err
		}
	}
	subs := func(f central.Filter) func(context.Context, central.Store) error {
		return func(ctx context.Context, s central.Store) error {
			out, err := s.Submissions(ctx, f)
			if err == nil && len(out) == 0 {
				err = fmt.Errorf("Submissions(%+v) found nothing", f)
			}
			return err
		}
	}
	mid := t0.Add(year / 2)
	// The default queue holds about 30% of the submissions.
	deep := n * 3 / 10 / 2 / 50 * 50
	// The console's page there by cursor: after the case before it (found
	// once, at the warm-up), one case more than a page.
	var before *central.Case
	after := func(ctx context.Context, s central.Store) error {
		if before == nil {
			cs, _, err := s.Queue(ctx, with(func(f *central.QueueFilter) { f.Offset, f.Limit, f.Uncounted = deep-1, 1, true }))
			if err != nil || len(cs) != 1 {
				return fmt.Errorf("the case before %d: %d cases, %v", deep, len(cs), err)
			}
			before = &cs[0]
		}
		return queue(with(func(f *central.QueueFilter) { f.After, f.Limit = before, 51 }), 51)(ctx, s)
	}
	return []scaleCall{
		{"queue/first", queue(DefaultQueue, 50)},
		{"queue/filtered", queue(with(func(f *central.QueueFilter) { f.Country = "MYS" }), 1)},
		{"queue/reason", queue(with(func(f *central.QueueFilter) { f.Reason = "sanctions_hit" }), 1)},
		{"queue/deep", queue(with(func(f *central.QueueFilter) { f.Offset = deep }), 50)},
		{"queue/deep-cursor", after},
		{"queue/newest", queue(with(func(f *central.QueueFilter) { f.Newest = true }), 50)},
		{"queue/mine", queue(with(func(f *central.QueueFilter) { f.Assignee = "user1" }), 1)},
		{"search/person", queue(central.QueueFilter{Tokens: [][]byte{personToken(n / 4)}, Limit: 50}, 2)},
		{"dashboard/30d", func(ctx context.Context, s central.Store) error { return scaleDashboard(ctx, s, 30) }},
		{"dashboard/90d", func(ctx context.Context, s central.Store) error { return scaleDashboard(ctx, s, 90) }},
		{"fleet/devices", func(ctx context.Context, s central.Store) error {
			_, err := s.Devices(ctx)
			return err
		}},
		{"audit/first", audit(central.AuditFilter{Limit: 100})},
		{"audit/actor", audit(central.AuditFilter{Actor: "auditor", Limit: 100})},
		{"audit/action", audit(central.AuditFilter{Action: "export", Limit: 100})},
		{"audit/from", audit(central.AuditFilter{After: mid, Limit: 100})},
		{"audit/subject", audit(central.AuditFilter{Subject: "case:dev07/", Limit: 100})},
		{"audit/deep", audit(central.AuditFilter{AfterSeq: int64(n / 2), Limit: 100})},
		{"admin/submissions", subs(central.Filter{Limit: 100})},
		{"admin/subs-device", subs(central.Filter{DeviceID: "dev07", Limit: 100})},
		{"admin/subs-from", subs(central.Filter{ReceivedAfter: mid, Limit: 100})},
		{"admin/subs-person", subs(central.Filter{Tokens: [][]byte{personToken(n / 4)}})},
		{"admin/partners", func(ctx context.Context, s central.Store) error {
			_, err := s.PartnersList(ctx)
			return err
		}},
		{"events/partner", func(ctx context.Context, s central.Store) error {
			evs, err := s.Events(ctx, "live", int64(n*3/4), 100)
			if err == nil && len(evs) == 0 {
				err = fmt.Errorf("events found nothing")
			}
			return err
		}},
		{"retention/sweep", scaleSweep},
		{"webhook/due", func(ctx context.Context, s central.Store) error {
			evs, err := s.DueEvents(ctx, scaleNow, 100)
			if err == nil && (len(evs) == 0 || evs[0].PartnerID != "live") {
				err = fmt.Errorf("DueEvents = %d events", len(evs))
			}
			return err
		}},
	}
}

// scaleDashboard makes the store calls of the console's dashboard over
// days (console's dashboard: the window's cases, newest first, up to its
// cap of 20,000; then the backlog, counted by age band).
func scaleDashboard(ctx context.Context, s central.Store, days int) error {
	f := central.QueueFilter{ReceivedAfter: scaleNow.Truncate(24*time.Hour).AddDate(0, 0, -(days - 1)), Newest: true}
	if cases, _, err := central.QueueAll(ctx, s, f, 20_000); err != nil || len(cases) == 0 {
		return fmt.Errorf("the dashboard's window: %d cases, %v", len(cases), err)
	}
	bf := central.QueueFilter{States: DefaultQueue.States, Decisions: []string{"review", "escalate", "unknown"}, Limit: 1}
	if _, _, err := s.Queue(ctx, bf); err != nil {
		return err
	}
	var younger time.Duration
	for j, upTo := range []time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour, 72 * time.Hour, 1 << 62} {
		f := bf
		if j > 0 {
			f.ReceivedBefore = scaleNow.Add(-younger)
		}
		if j < 4 {
			f.ReceivedAfter = scaleNow.Add(-upTo)
		}
		if _, _, err := s.Queue(ctx, f); err != nil {
			return err
		}
		younger = upTo
	}
	return nil
}
