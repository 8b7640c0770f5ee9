package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

func TestDeliverSignedAndRecorded(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		clk := newClock()
		rc := partnerReceiver(t, st, nil)
		ev := event(t, "p1", "s1", "evt_a", clk.Now())
		if err := st.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
			t.Fatal(err)
		}
		w := newWorker(t, st, clk, nil)
		if n, err := w.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v", n, err)
		}
		got := rc.requests()
		if len(got) != 1 || got[0].Err != nil || got[0].ID != "evt_a" || string(got[0].Body) != string(ev.Payload) {
			t.Fatalf("received %+v", got)
		}
		stored := eventByID(t, st, "p1", "evt_a")
		if stored.DeliveredAt.IsZero() || !stored.NextAt.IsZero() || stored.Attempts != 1 {
			t.Fatalf("event after delivery %+v", stored)
		}
		as, err := st.Attempts(ctx, "evt_a")
		if err != nil || len(as) != 1 || as[0].Status != 200 || as[0].Excerpt != "thanks" || as[0].LatencyMS <= 0 || !as[0].At.Equal(clk.Now()) {
			t.Fatalf("attempts %+v, %v", as, err)
		}
		// Nothing is due any more.
		if n, err := w.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("RunOnce again = %d, %v", n, err)
		}
	})
}

func TestRetriesInOrderPerSession(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		clk := newClock()
		// The first two requests fail; then the endpoint recovers.
		rc := partnerReceiver(t, st, failFirst(2, http.StatusInternalServerError))
		e1, e2 := event(t, "p1", "s1", "evt_1", clk.Now()), event(t, "p1", "s1", "evt_2", clk.Now().Add(time.Millisecond))
		if err := st.AppendEvents(ctx, []central.WebhookEvent{e1, e2}); err != nil {
			t.Fatal(err)
		}
		w := newWorker(t, st, clk, nil)
		step := func(wantTried int) {
			t.Helper()
			if n, err := w.RunOnce(ctx); err != nil || n != wantTried {
				t.Fatalf("RunOnce = %d, %v; want %d", n, err, wantTried)
			}
		}
		start := clk.Now()
		step(1) // evt_1: 500
		if ev := eventByID(t, st, "p1", "evt_1"); !ev.NextAt.Equal(start.Add(5 * time.Second)) {
			t.Fatalf("first retry at %v, want +5s", ev.NextAt.Sub(start))
		}
		step(0) // not due yet, and evt_2 waits behind it
		clk.Advance(5 * time.Second)
		step(1) // evt_1: 500 again
		if ev := eventByID(t, st, "p1", "evt_1"); !ev.NextAt.Equal(clk.Now().Add(5 * time.Minute)) {
			t.Fatalf("second retry at %v, want +5m", ev.NextAt.Sub(clk.Now()))
		}
		clk.Advance(5 * time.Minute)
		step(1) // evt_1: 204
		step(1) // evt_2
		var ids []string
		for _, g := range rc.requests() {
			// The test's clock runs ahead of the receiver's real one.
			if g.Err != nil && !errors.Is(g.Err, ErrTooNew) {
				t.Fatalf("signature refused: %v", g.Err)
			}
			ids = append(ids, g.ID)
		}
		if want := []string{"evt_1", "evt_1", "evt_1", "evt_2"}; !slices.Equal(ids, want) {
			t.Fatalf("deliveries %v, want %v", ids, want)
		}
		as, _ := st.Attempts(ctx, "evt_1")
		var statuses []int
		for _, a := range as {
			statuses = append(statuses, a.Status)
		}
		if !slices.Equal(statuses, []int{500, 500, 204}) {
			t.Fatalf("attempt statuses %v", statuses)
		}
	})
}

func TestDeadAfterThreeDays(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		clk := newClock()
		rc := partnerReceiver(t, st, func(int, *http.Request) int { return http.StatusBadGateway })
		old := event(t, "p1", "s1", "evt_old", clk.Now())
		next := event(t, "p1", "s1", "evt_next", clk.Now())
		if err := st.AppendEvents(ctx, []central.WebhookEvent{old, next}); err != nil {
			t.Fatal(err)
		}
		w := newWorker(t, st, clk, nil)
		// The first attempt now; the second almost three days later (the
		// worker was down), so the retries after attempts 2..5, 5 min,
		// 30 min, 2 h, 5 h (jitter at its max), reach MaxAge, counted from
		// the first attempt, at the fifth.
		for i := range 4 {
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			ev := eventByID(t, st, "p1", "evt_old")
			if ev.NextAt.IsZero() || !ev.DeadAt.IsZero() {
				t.Fatalf("attempt %d: %+v", i+1, ev)
			}
			clk.Advance(ev.NextAt.Sub(clk.Now()))
			if i == 0 {
				clk.Advance(DefaultMaxAge - 3*time.Hour)
			}
		}
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		ev := eventByID(t, st, "p1", "evt_old")
		if ev.DeadAt.IsZero() || !ev.NextAt.IsZero() || ev.Attempts != 5 {
			t.Fatalf("not dead after 5 attempts: %+v", ev)
		}
		// The session's next event goes on.
		if n, _ := w.RunOnce(ctx); n != 1 {
			t.Fatalf("the next event was not tried (%d)", n)
		}
		if got := rc.requests(); got[len(got)-1].ID != "evt_next" {
			t.Fatalf("last delivery %s", got[len(got)-1].ID)
		}
	})
}

// pushRecorder is a Sender that records the events it is given and
// accepts them.
type pushRecorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *pushRecorder) Send(_ context.Context, _ central.Partner, ev central.WebhookEvent, _ time.Time) (int, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, ev.ID)
	return http.StatusOK, "", nil
}

// TestDisabledPartnerHeld: the events (webhooks and pushes) of a disabled
// partner are held: no attempt made or recorded, not dead however long
// the partner stays disabled; once it is enabled again they go out in
// their sessions' order, with their full retries (MaxAge counts from the
// first attempt).
func TestDisabledPartnerHeld(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		clk := newClock()
		// The first request after re-enabling fails; then the endpoint recovers.
		rc := partnerReceiver(t, st, failFirst(1, http.StatusServiceUnavailable))
		push := &pushRecorder{}
		w := newWorker(t, st, clk, func(c *Config) { c.Senders = map[string]Sender{"push.": push} })
		setDisabled(t, st, "p1", true, clk.Now())
		var evs []central.WebhookEvent
		for i, id := range []string{"evt_1", "evt_2", "evt_3"} {
			evs = append(evs, event(t, "p1", "s1", id, clk.Now().Add(time.Duration(i)*time.Millisecond)))
		}
		pe := event(t, "p1", PushLane("s1"), "evt_push", clk.Now())
		pe.Type = EventPush
		if err := st.AppendEvents(ctx, append(evs, pe)); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if n, err := w.RunOnce(ctx); err != nil || n != 0 {
				t.Fatalf("RunOnce while disabled = %d, %v; want nothing tried", n, err)
			}
			clk.Advance(DefaultMaxAge)
		}
		for _, id := range []string{"evt_1", "evt_2", "evt_3", "evt_push"} {
			ev := eventByID(t, st, "p1", id)
			if as, err := st.Attempts(ctx, id); err != nil || len(as) != 0 || ev.Attempts != 0 || !ev.DeadAt.IsZero() || ev.NextAt.IsZero() {
				t.Fatalf("%s while disabled: %+v, attempts %+v, %v", id, ev, as, err)
			}
		}
		if len(rc.requests()) != 0 || len(push.ids) != 0 {
			t.Fatalf("sent while disabled: %d webhooks, pushes %v", len(rc.requests()), push.ids)
		}

		setDisabled(t, st, "p1", false, clk.Now())
		if n, err := w.RunOnce(ctx); err != nil || n != 2 { // evt_1 (503) and evt_push
			t.Fatalf("RunOnce once enabled = %d, %v; want 2", n, err)
		}
		ev := eventByID(t, st, "p1", "evt_1")
		if !ev.DeadAt.IsZero() || ev.NextAt.IsZero() || ev.Attempts != 1 {
			t.Fatalf("evt_1 after its first attempt, held 9 days: %+v (want a retry)", ev)
		}
		clk.Advance(ev.NextAt.Sub(clk.Now()))
		for range 3 {
			if n, err := w.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RunOnce = %d, %v; want 1", n, err)
			}
		}
		var ids []string
		for _, g := range rc.requests() {
			if g.Err != nil && !errors.Is(g.Err, ErrTooNew) {
				t.Fatalf("signature refused: %v", g.Err)
			}
			ids = append(ids, g.ID)
		}
		if want := []string{"evt_1", "evt_1", "evt_2", "evt_3"}; !slices.Equal(ids, want) {
			t.Fatalf("deliveries %v, want %v", ids, want)
		}
		if !slices.Equal(push.ids, []string{"evt_push"}) {
			t.Fatalf("pushes %v", push.ids)
		}
	})
}

// TestHeldTimeNotCounted: an event attempted before its partner was
// disabled keeps its retries however long the partner stays disabled,
// over several periods: the time held does not count towards MaxAge.
func TestHeldTimeNotCounted(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		clk := newClock()
		// Three failures, then the endpoint recovers.
		partnerReceiver(t, st, failFirst(3, http.StatusServiceUnavailable))
		w := newWorker(t, st, clk, nil)
		if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "evt_1", clk.Now())}); err != nil {
			t.Fatal(err)
		}
		runOnce := func(want int) central.WebhookEvent {
			t.Helper()
			if n, err := w.RunOnce(ctx); err != nil || n != want {
				t.Fatalf("RunOnce = %d, %v; want %d", n, err, want)
			}
			return eventByID(t, st, "p1", "evt_1")
		}
		runOnce(1)
		// Held twice for two days: four in all, more than MaxAge.
		for range 2 {
			setDisabled(t, st, "p1", true, clk.Now())
			clk.Advance(48 * time.Hour)
			runOnce(0)
			setDisabled(t, st, "p1", false, clk.Now())
			if ev := runOnce(1); !ev.DeadAt.IsZero() || ev.NextAt.IsZero() {
				t.Fatalf("failed attempt %d after the partner was held: next %v, dead %v; want a retry", ev.Attempts, ev.NextAt, ev.DeadAt)
			}
		}
		clk.Advance(eventByID(t, st, "p1", "evt_1").NextAt.Sub(clk.Now()))
		if ev := runOnce(1); ev.DeliveredAt.IsZero() || ev.Attempts != 4 {
			t.Fatalf("after %d attempts: delivered %v, dead %v; want delivered at the fourth", ev.Attempts, ev.DeliveredAt, ev.DeadAt)
		}
	})
}

// giveUpSender fails every push: for good (ErrGiveUp) when gone is set,
// else as a passing outage.
type giveUpSender struct{ gone bool }

func (g giveUpSender) Send(context.Context, central.Partner, central.WebhookEvent, time.Time) (int, string, error) {
	if g.gone {
		return 0, "", fmt.Errorf("the submission no longer exists: %w", ErrGiveUp)
	}
	return http.StatusServiceUnavailable, "try later", nil
}

// TestSenderGivesUp: a Sender's ErrGiveUp ends its event after one
// attempt (no three days of retries for what cannot succeed), logged with
// the reason; a passing failure is retried as before.
func TestSenderGivesUp(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			gone bool
		}{{"gone", true}, {"outage", false}} {
			clk := newClock()
			addPartner(t, st, "p-"+tc.name, "", nil)
			ev := event(t, "p-"+tc.name, "push/s1", "evt_"+tc.name, clk.Now())
			ev.Type = "push.submission"
			if err := st.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
				t.Fatal(err)
			}
			w := newWorker(t, st, clk, func(c *Config) { c.Senders = map[string]Sender{"push.": giveUpSender{tc.gone}} })
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			got := eventByID(t, st, "p-"+tc.name, ev.ID)
			if dead := !got.DeadAt.IsZero(); dead != tc.gone || got.Attempts != 1 || got.NextAt.IsZero() == !tc.gone {
				t.Errorf("%s: after one attempt %+v, want dead=%v", tc.name, got, tc.gone)
			}
			as, err := st.Attempts(ctx, ev.ID)
			if err != nil || len(as) != 1 || (tc.gone && !strings.Contains(as[0].Excerpt, "no longer exists")) {
				t.Errorf("%s: attempts %+v, %v", tc.name, as, err)
			}
		}
	})
}

func TestTransportFailuresRecorded(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		clk := newClock()
		secret, _ := NewSecret()
		hang, _ := newHangingReceiver(t, secret)
		// A port nobody listens on.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		deadURL := "http://" + ln.Addr().String()
		ln.Close()
		addPartner(t, st, "slow", hang.URL, nil, secret)
		addPartner(t, st, "dead", deadURL, nil, secret)
		addPartner(t, st, "nohook", "", nil)
		for _, p := range []string{"slow", "dead", "nohook"} {
			if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, p, "s1", "evt_"+p, clk.Now())}); err != nil {
				t.Fatal(err)
			}
		}
		w := newWorker(t, st, clk, func(c *Config) { c.Timeout = 200 * time.Millisecond })
		if n, err := w.RunOnce(ctx); err != nil || n != 3 {
			t.Fatalf("RunOnce = %d, %v", n, err)
		}
		for p, want := range map[string]string{"slow": "timed out", "dead": "connection refused", "nohook": "no webhook endpoint"} {
			as, err := st.Attempts(ctx, "evt_"+p)
			if err != nil || len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Excerpt, want) {
				t.Errorf("%s: attempts %+v, %v; want %q", p, as, err, want)
			}
			if ev := eventByID(t, st, p, "evt_"+p); ev.NextAt.IsZero() {
				t.Errorf("%s: no retry scheduled", p)
			}
			if strings.Contains(fmt.Sprint(st.Attempts(ctx, "evt_"+p)), deadURL) {
				t.Errorf("%s: the attempt names the URL", p)
			}
		}
	})
}

// TestForbiddenAddressesNotCalled: a webhook URL whose host is (or
// resolves to) the cloud metadata service, another link-local address or
// 0.0.0.0 (which reaches this host on any port) is never connected to:
// the attempt records the refusal and no request arrives. A loopback
// receiver, a supported setup, still gets its events.
func TestForbiddenAddressesNotCalled(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := newClock()
	secret, _ := NewSecret()
	rc := newReceiver(t, secret, nil)
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
	urls := map[string]string{
		"metadata":        "https://169.254.169.254/latest/meta-data/iam/",
		"mapped metadata": "https://[::ffff:169.254.169.254]/latest/meta-data/",
		"link-local v6":   "https://[fe80::1]/hook",
		"unspecified":     "http://0.0.0.0:" + port + "/hook",
		"unspecified v6":  "http://[::]:" + port + "/hook",
	}
	for name, u := range urls {
		id := strings.ReplaceAll(name, " ", "-")
		addPartner(t, st, id, u, nil, secret)
		if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, id, "s1", "evt_"+id, clk.Now())}); err != nil {
			t.Fatal(err)
		}
	}
	addPartner(t, st, "loopback", rc.URL, nil, secret)
	if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "loopback", "s1", "evt_loopback", clk.Now())}); err != nil {
		t.Fatal(err)
	}
	w := newWorker(t, st, clk, nil)
	if n, err := w.RunOnce(ctx); err != nil || n != len(urls)+1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	for name := range urls {
		id := strings.ReplaceAll(name, " ", "-")
		as, err := st.Attempts(ctx, "evt_"+id)
		if err != nil || len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Excerpt, "does not call") {
			t.Errorf("%s: attempts %+v, %v; want a refusal", name, as, err)
		}
	}
	var ids []string
	for _, g := range rc.requests() {
		ids = append(ids, g.ID)
	}
	if len(ids) != 1 || ids[0] != "evt_loopback" {
		t.Errorf("the loopback receiver got %v, want its own event only", ids)
	}
}

func TestRotationSignsWithEveryValidSecret(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		clk := newClock()
		cur, _ := NewSecret()
		old, _ := NewSecret()
		gone, _ := NewSecret()
		rcOld := newReceiver(t, old, nil) // a receiver still on the old secret
		p := central.Partner{ID: "p1", ClientID: "cli_p1", Webhook: central.WebhookEndpoint{URL: rcOld.URL, Secrets: []central.WebhookSecret{
			{Sealed: []byte(cur), CreatedAt: clk.Now()},
			{Sealed: []byte(old), CreatedAt: clk.Now().Add(-time.Hour), NotAfter: clk.Now().Add(time.Hour)},
			{Sealed: []byte(gone), CreatedAt: clk.Now().Add(-48 * time.Hour), NotAfter: clk.Now().Add(-time.Hour)},
		}}}
		if err := st.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "evt_1", clk.Now())}); err != nil {
			t.Fatal(err)
		}
		w := newWorker(t, st, clk, nil)
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		g := rcOld.requests()[0]
		if g.Err != nil || len(strings.Fields(g.Sig)) != 2 {
			t.Fatalf("signature %q: %v", g.Sig, g.Err)
		}
		// Each valid secret verifies alone; the expired one does not.
		h := http.Header{}
		h.Set(HeaderID, g.ID)
		h.Set(HeaderSignature, g.Sig)
		h.Set(HeaderTimestamp, fmt.Sprint(clk.Now().Unix()))
		if Verify(cur, h, g.Body) != nil || Verify(old, h, g.Body) != nil || Verify(gone, h, g.Body) == nil {
			t.Fatal("rotation: wrong set of secrets signed")
		}
	})
}

func TestBackoffFollowsTheSchedule(t *testing.T) {
	w := newWorker(t, openStore(t), newClock(), nil) // jitter at its max
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, 5 * time.Second}, {2, 5 * time.Minute}, {3, 30 * time.Minute}, {4, 2 * time.Hour}, {5, 5 * time.Hour}, {6, 10 * time.Hour}, {20, 10 * time.Hour}} {
		if got := w.Backoff(tc.n); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	// Full jitter: anywhere in [0, max], never above.
	wj := newWorker(t, openStore(t), newClock(), func(c *Config) { c.Jitter = nil })
	seen := map[bool]bool{}
	for range 200 {
		d := wj.Backoff(2)
		if d < 0 || d > 5*time.Minute {
			t.Fatalf("jittered backoff %v", d)
		}
		seen[d < 150*time.Second] = true
	}
	if !seen[true] || !seen[false] {
		t.Fatal("jitter does not spread over the interval")
	}
}

// TestDeadEndpointDoesNotSlowOthers: partner A's endpoint hangs on every
// request until the test ends; partner B's event, written after A's many,
// arrives while A's requests still hang (behind them it never would).
func TestDeadEndpointDoesNotSlowOthers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st := openStore(t)
	secret, _ := NewSecret()
	hang, free := newHangingReceiver(t, secret)
	rcB := newReceiver(t, secret, nil)
	addPartner(t, st, "A", hang.URL, nil, secret)
	addPartner(t, st, "B", rcB.URL, nil, secret)
	now := time.Now().UTC()
	var evs []central.WebhookEvent
	for i := range 40 {
		evs = append(evs, event(t, "A", fmt.Sprintf("a%02d", i), fmt.Sprintf("evt_a%02d", i), now))
	}
	if err := st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	w, err := NewWorker(Config{Store: st, Open: openPlain, Workers: 8, PerPartner: 2, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); free(); <-done })
	// A's first requests are hanging.
	hang.wait(t, 5*time.Second)
	hang.wait(t, 5*time.Second)
	if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "B", "b1", "evt_b1", time.Now().UTC())}); err != nil {
		t.Fatal(err)
	}
	w.Notify()
	g := rcB.wait(t, 5*time.Second)
	if g.ID != "evt_b1" || g.Err != nil {
		t.Fatalf("B got %+v", g)
	}
	if n := len(hang.requests()); n != 2 {
		t.Fatalf("A holds %d requests, its cap is 2", n)
	}
}

// TestDeliveryLatency checks the worker delivers a new event promptly
// after Notify (the benchmark measures the same over more events).
func TestDeliveryLatency(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		p50, _ := measureLatency(t, st, 40)
		if p50 > 200*time.Millisecond {
			t.Fatalf("delivery p50 %v, want under 200 ms", p50)
		}
	})
}

// BenchmarkDeliveryLatency measures event append to receipt on loopback
// (ns/op includes the test's own append and wait).
func BenchmarkDeliveryLatency(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(testing.TB) central.Store
	}{{"bolt", openStore}, {"postgres", openPG}} {
		b.Run(be.name, func(b *testing.B) {
			p50, p95 := measureLatency(b, be.open(b), max(b.N, 20))
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(p95.Microseconds())/1000, "p95_ms")
		})
	}
}

// measureLatency appends n events, one at a time, to a running worker and
// returns the p50 and p95 of event append to receipt on loopback.
func measureLatency(tb testing.TB, st central.Store, n int) (p50, p95 time.Duration) {
	tb.Helper()
	secret, _ := NewSecret()
	rc := newReceiver(tb, secret, nil)
	addPartner(tb, st, "p1", rc.URL, nil, secret)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := NewWorker(Config{Store: st, Open: openPlain})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	lat := make([]time.Duration, 0, n)
	if b, ok := tb.(*testing.B); ok {
		b.ResetTimer()
	}
	for i := range n {
		start := time.Now()
		ev, err := NewEvent(central.EventSubmissionCompleted, "p1", fmt.Sprintf("s%d", i%4),
			Data{SessionID: "s", Status: central.FlowCompleted}, start, fmt.Sprintf("evt_%d", i))
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
			tb.Fatal(err)
		}
		w.Notify()
		select {
		case g := <-rc.notify:
			if g.Err != nil || g.ID != ev.ID {
				tb.Fatalf("received %s: %v", g.ID, g.Err)
			}
			lat = append(lat, g.At.Sub(start))
		case <-time.After(10 * time.Second):
			tb.Fatalf("event %d not delivered", i)
		}
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*95/100]
}
