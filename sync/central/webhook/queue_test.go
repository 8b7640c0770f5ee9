package webhook

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
)

// Environment of the test binary run as a second central instance
// (TestQueueInstance).
const (
	envInstanceDSN = "KYC_WEBHOOK_TEST_INSTANCE_DSN"
	envInstanceUA  = "KYC_WEBHOOK_TEST_INSTANCE_UA"
)

// queueTimeout is the instances' request timeout in these tests: a lease
// lasts two of them.
const queueTimeout = 2 * time.Second

// pgDSN returns a new database on the package's shared server.
func pgDSN(t testing.TB) string {
	t.Helper()
	dsn, err := pg.Server(t).NewDatabaseFrom(context.Background(), "migrated", pgstore.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// startInstance runs a delivery instance on st: a Worker with Lanes and a
// River client working its QueueWorker; stop ends it and waits.
func startInstance(ctx context.Context, st *pgstore.Store, ua string) (stop func() error, err error) {
	w, err := NewWorker(Config{Store: st, Lanes: st, Open: openPlain, Timeout: queueTimeout, Drain: 5 * time.Second,
		PerPartner: 16, UserAgent: ua})
	if err != nil {
		return nil, err
	}
	c, err := runQueue(ctx, st, w, func(qw *QueueWorker) jobs.Config {
		return jobs.Config{ID: ua, JobTimeout: qw.Timeout(nil) + time.Second,
			RescueAfter: qw.Timeout(nil) + 3*time.Second, SweepEvery: -1, FetchPoll: 200 * time.Millisecond}
	})
	if err != nil {
		return nil, err
	}
	return func() error { return c.Stop(context.Background()) }, nil
}

// openQueueStore opens a store on a new database of the shared server,
// closed at the test's end.
func openQueueStore(t *testing.T) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), pgDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startQueue starts, until the test's end, one instance delivering on st
// through the job queue: a Worker with cfg (its Store, Lanes and Open
// set here) and a River client working its QueueWorker.
func startQueue(t *testing.T, st *pgstore.Store, cfg Config) *river.Client[pgx.Tx] {
	t.Helper()
	cfg.Store, cfg.Lanes, cfg.Open = st, st, openPlain
	w, err := NewWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := runQueue(context.Background(), st, w, func(*QueueWorker) jobs.Config {
		return jobs.Config{SweepEvery: -1, FetchPoll: 100 * time.Millisecond}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

// runQueue starts a River client on st working w's QueueWorker, with the
// jobs configuration cfg gives (its Workers set here); Stop ends it.
func runQueue(ctx context.Context, st *pgstore.Store, w *Worker, cfg func(*QueueWorker) jobs.Config) (*river.Client[pgx.Tx], error) {
	qw, err := w.QueueWorker()
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, qw)
	jc := cfg(qw)
	jc.Workers = workers
	c, err := st.Jobs(jc)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("starting the river client: %w", err)
	}
	return c, nil
}

// TestQueueInstance is not a test: the binary runs it as the second
// instance of TestQueueTwoInstancesOneKilled, until killed (or its stdin
// closes, when the parent went away).
func TestQueueInstance(t *testing.T) {
	dsn := os.Getenv(envInstanceDSN)
	if dsn == "" {
		t.Skip("run by TestQueueTwoInstancesOneKilled as its second instance")
	}
	ctx := context.Background()
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := startInstance(ctx, st, os.Getenv(envInstanceUA)); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// dedupeReceiver is a partner's endpoint that dedupes by webhook-id,
// counting raw requests and duplicates, and keeps each session's events in
// the order first received. Requests from the instance named hold are held
// (received, never answered) once it sent holdAfter of them.
type dedupeReceiver struct {
	hold      string
	holdAfter int

	mu       sync.Mutex
	raw      int
	dups     int
	bad      int // signature refused
	seen     map[string]bool
	order    map[string][]string // session (payload's) -> event ids first received
	byUA     map[string]int
	held     int
	released chan struct{}
	heldNow  chan struct{} // closed when the first request is held
	progress chan struct{}
}

func newDedupeReceiver(hold string, holdAfter int) *dedupeReceiver {
	return &dedupeReceiver{hold: hold, holdAfter: holdAfter, seen: map[string]bool{}, order: map[string][]string{},
		byUA: map[string]int{}, released: make(chan struct{}), heldNow: make(chan struct{}), progress: make(chan struct{}, 1)}
}

func (d *dedupeReceiver) handler(secret string, sessionOf func(id string) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			// The sender died mid-body (the killed instance): not a
			// delivery, and nobody waits for the answer.
			return
		}
		id, ua := r.Header.Get(HeaderID), r.Header.Get("User-Agent")
		d.mu.Lock()
		d.raw++
		d.byUA[ua]++
		if err := Verify(secret, r.Header, body); err != nil {
			d.bad++
		}
		if d.seen[id] {
			d.dups++
		} else {
			d.seen[id] = true
			s := sessionOf(id)
			d.order[s] = append(d.order[s], id)
		}
		hold := ua == d.hold && d.byUA[ua] > d.holdAfter
		if hold {
			if d.held++; d.held == 1 {
				close(d.heldNow)
			}
		}
		d.mu.Unlock()
		select {
		case d.progress <- struct{}{}:
		default:
		}
		if hold {
			<-d.released // the instance is killed meanwhile: nobody reads the answer
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (d *dedupeReceiver) unique() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

// TestQueueTwoInstancesOneKilled runs two instances on one PostgreSQL (one
// in-process, one the test binary in another process) delivering 2,000
// events of 100 sessions to four partners, and kills the second with
// SIGKILL while it has requests under way: every event is delivered, each
// session's in order, none lost; duplicates the receiver saw are counted.
func TestQueueTwoInstancesOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("two instances and 2,000 deliveries")
	}
	const partners, sessionsPer, eventsPer = 4, 25, 20
	const total = partners * sessionsPer * eventsPer
	ctx := context.Background()
	dsn := pgDSN(t)
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Event ids name their session: "evt-<session>-<n>".
	sessionOf := func(id string) string { return strings.TrimPrefix(id[:strings.LastIndexByte(id, '-')], "evt-") }
	secret, _ := NewSecret()
	rc := newDedupeReceiver("instance-b", 300)
	srv := httptest.NewServer(rc.handler(secret, sessionOf))
	defer srv.Close()
	defer close(rc.released)
	for p := range partners {
		addPartner(t, st, fmt.Sprintf("p%d", p), srv.URL, nil, secret)
	}

	// Instance B: this binary again, killed below.
	child := exec.Command(os.Args[0], "-test.run=^TestQueueInstance$", "-test.v")
	child.Env = append(os.Environ(), envInstanceDSN+"="+dsn, envInstanceUA+"=instance-b")
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			child.Process.Kill()
		}
		child.Wait()
	}()
	lines := bufio.NewScanner(out)
	for lines.Scan() && lines.Text() != "ready" {
	}
	go io.Copy(io.Discard, out)

	// Instance A, in this process.
	stopA, err := startInstance(ctx, st, "instance-a")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stopA(); err != nil {
			t.Error(err)
		}
	}()

	// The events, appended in batches while both instances deliver: each
	// batch's jobs are queued in its transaction.
	start := time.Now()
	var evs []central.WebhookEvent
	for n := range eventsPer {
		for p := range partners {
			for s := range sessionsPer {
				sess := fmt.Sprintf("s%d%03d", p, s)
				evs = append(evs, event(t, fmt.Sprintf("p%d", p), sess, fmt.Sprintf("evt-%s-%02d", sess, n), time.Now().UTC()))
			}
		}
	}
	for i := 0; i < len(evs); i += 100 {
		if err := st.AppendEvents(ctx, evs[i:i+100]); err != nil {
			t.Fatal(err)
		}
	}

	// Kill B once it holds requests under way.
	select {
	case <-rc.heldNow:
	case <-time.After(2 * time.Minute):
		t.Fatalf("instance b never sent %d requests (unique so far %d)", rc.holdAfter, rc.unique())
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	killedAt := time.Since(start)
	child.Wait()

	deadline := time.After(3 * time.Minute)
	for rc.unique() < total {
		select {
		case <-rc.progress:
		case <-deadline:
			t.Fatalf("%d of %d events delivered", rc.unique(), total)
		}
	}
	took := time.Since(start)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.raw != total+rc.dups {
		t.Errorf("%d requests, %d unique, %d duplicates", rc.raw, total, rc.dups)
	}
	if rc.bad != 0 {
		t.Errorf("%d requests failed the signature check", rc.bad)
	}
	if len(rc.order) != partners*sessionsPer {
		t.Errorf("%d sessions received, want %d", len(rc.order), partners*sessionsPer)
	}
	for sess, ids := range rc.order {
		if !sort.StringsAreSorted(ids) || len(ids) != eventsPer {
			t.Errorf("session %s received out of order or short: %v", sess, ids)
		}
	}
	// The store agrees: every event delivered (the last answers are
	// recorded just after the receiver counted them).
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n, undelivered := storedEvents(t, st)
		if n == total && undelivered == 0 {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("store: %d events, %d undelivered", n, undelivered)
		}
	}
	t.Logf("%d events: %d requests (a: %d, b: %d), %d duplicates (b held %d when killed at %v), all delivered in %v",
		total, rc.raw, rc.byUA["instance-a"], rc.byUA["instance-b"], rc.dups, rc.held, killedAt.Round(time.Millisecond), took.Round(time.Millisecond))
}

// storedEvents counts the store's events and those not delivered.
func storedEvents(t *testing.T, st central.Webhooks) (n, undelivered int) {
	t.Helper()
	var after int64
	for {
		evs, err := st.Events(context.Background(), "", after, central.MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.DeliveredAt.IsZero() {
				undelivered++
			}
		}
		n += len(evs)
		if len(evs) < central.MaxListLimit {
			return n, undelivered
		}
		after = evs[len(evs)-1].Seq
	}
}

// pushSender is a Sender recording what it was given.
type pushSender struct {
	mu  sync.Mutex
	got []string
}

func (p *pushSender) Send(_ context.Context, _ central.Partner, ev central.WebhookEvent, _ time.Time) (int, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, ev.ID)
	return http.StatusOK, `{"ok":true}`, nil
}

// TestQueueRetriesReplayAndSenders: through the job queue, a failing
// endpoint is retried on the schedule while the session's next event
// waits, every attempt is in the event's log, an admin replay sends the
// event again, and an event of a Sender's type goes to the Sender.
func TestQueueRetriesReplayAndSenders(t *testing.T) {
	ctx := context.Background()
	st := openQueueStore(t)
	rc := partnerReceiver(t, st, failFirst(2, http.StatusServiceUnavailable))
	push := &pushSender{}
	startQueue(t, st, Config{Timeout: queueTimeout, Drain: time.Second,
		Schedule: []time.Duration{300 * time.Millisecond}, Jitter: func(max time.Duration) time.Duration { return max },
		Senders: map[string]Sender{"push.": push}})

	now := time.Now().UTC()
	e1, e2 := event(t, "p1", "s1", "evt_1", now), event(t, "p1", "s1", "evt_2", now.Add(time.Millisecond))
	p1, err := NewEvent("push.submission", "p1", "push/s1", Data{SessionID: "s1"}, now, "evt_push")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents(ctx, []central.WebhookEvent{e1, e2, p1}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 4 { // evt_1 fails twice, then evt_1 and evt_2
		ids = append(ids, rc.wait(t, time.Minute).ID)
	}
	if want := []string{"evt_1", "evt_1", "evt_1", "evt_2"}; !slices.Equal(ids, want) {
		t.Fatalf("received %v, want %v", ids, want)
	}
	got := rc.requests()
	if gap := got[1].At.Sub(got[0].At); gap < 300*time.Millisecond {
		t.Errorf("retry after %v, want the schedule's 300ms", gap)
	}
	waitFor(t, func() bool { return !eventByID(t, st, "p1", "evt_2").DeliveredAt.IsZero() })
	as, err := st.Attempts(ctx, "evt_1")
	if err != nil || len(as) != 3 || as[0].Status != 503 || as[2].Status != 204 {
		t.Fatalf("evt_1 attempts %+v, %v", as, err)
	}
	waitFor(t, func() bool { return !eventByID(t, st, "p1", "evt_push").DeliveredAt.IsZero() })
	push.mu.Lock()
	if !slices.Equal(push.got, []string{"evt_push"}) {
		t.Errorf("the push sender got %v", push.got)
	}
	push.mu.Unlock()

	// A replay queues a job in its transaction: evt_1 goes out again.
	if err := st.ReplayEvent(ctx, "evt_1", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	if g := rc.wait(t, time.Minute); g.ID != "evt_1" || g.Err != nil {
		t.Fatalf("after replay received %+v", g)
	}
	waitFor(t, func() bool { return !eventByID(t, st, "p1", "evt_1").DeliveredAt.IsZero() })
	if as, _ := st.Attempts(ctx, "evt_1"); len(as) != 4 {
		t.Errorf("evt_1 has %d attempts after the replay, want 4", len(as))
	}
}

// TestQueueHoldsDisabledPartner: through the job queue too, a disabled
// partner's events are held: their jobs snooze without an attempt, and
// once the partner is enabled the events go out in order.
func TestQueueHoldsDisabledPartner(t *testing.T) {
	ctx := context.Background()
	st := openQueueStore(t)
	rc := partnerReceiver(t, st, nil)
	setDisabled(t, st, "p1", true, time.Now())
	c := startQueue(t, st, Config{Timeout: queueTimeout, Drain: time.Second, Hold: 200 * time.Millisecond})

	now := time.Now().UTC()
	if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "evt_1", now), event(t, "p1", "s1", "evt_2", now.Add(time.Millisecond))}); err != nil {
		t.Fatal(err)
	}
	// Each job has run and snoozed at least once.
	waitFor(t, func() bool {
		res, err := c.JobList(ctx, river.NewJobListParams().Kinds(jobs.Delivery{}.Kind()))
		if err != nil {
			t.Fatal(err)
		}
		snoozed := 0
		for _, j := range res.Jobs {
			if strings.Contains(string(j.Metadata), `"snoozes"`) {
				snoozed++
			}
		}
		return len(res.Jobs) == 2 && snoozed == 2
	})
	for _, id := range []string{"evt_1", "evt_2"} {
		if as, err := st.Attempts(ctx, id); err != nil || len(as) != 0 {
			t.Fatalf("%s while disabled: attempts %+v, %v", id, as, err)
		}
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d webhooks sent while disabled", n)
	}
	setDisabled(t, st, "p1", false, time.Now())
	var ids []string
	for range 2 {
		ids = append(ids, rc.wait(t, time.Minute).ID)
	}
	if want := []string{"evt_1", "evt_2"}; !slices.Equal(ids, want) {
		t.Fatalf("received %v, want %v", ids, want)
	}
}

// TestQueueHeldTimeNotCounted: through the job queue too, the time a
// partner was disabled after an event's first attempt does not count
// towards its MaxAge: held longer than MaxAge, it still has its retries.
func TestQueueHeldTimeNotCounted(t *testing.T) {
	ctx := context.Background()
	st := openQueueStore(t)
	clk := newClock()
	// While the first attempt waits for its answer, the partner is
	// disabled for four days and enabled again; two failures, then the
	// endpoint recovers.
	first, answer := make(chan struct{}), make(chan struct{})
	fail := failFirst(2, http.StatusServiceUnavailable)
	partnerReceiver(t, st, func(n int, r *http.Request) int {
		if n == 0 {
			close(first)
			<-answer
		}
		return fail(n, r)
	})
	// No jitter: each retry is due at once.
	startQueue(t, st, Config{Timeout: time.Minute, Now: clk.Now, Jitter: func(time.Duration) time.Duration { return 0 }})
	if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "evt_1", clk.Now())}); err != nil {
		t.Fatal(err)
	}
	<-first
	setDisabled(t, st, "p1", true, clk.Now())
	clk.Advance(DefaultMaxAge + 24*time.Hour)
	setDisabled(t, st, "p1", false, clk.Now())
	close(answer)
	var ev central.WebhookEvent
	waitFor(t, func() bool {
		ev = eventByID(t, st, "p1", "evt_1")
		return !ev.DeliveredAt.IsZero() || !ev.DeadAt.IsZero()
	})
	if ev.DeliveredAt.IsZero() || ev.Attempts != 3 {
		t.Fatalf("after %d attempts: delivered %v, dead %v; want delivered at the third", ev.Attempts, ev.DeliveredAt, ev.DeadAt)
	}
}

// waitFor polls cond until it holds, failing after a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not met within a minute")
		}
	}
}

// BenchmarkDelivery delivers 1,000 events of 50 sessions to a loopback
// receiver on PostgreSQL: the polling worker (one instance, as bbolt runs
// it) against the job queue with one and with two instances (River
// clients on one database), reporting events per second of each.
func BenchmarkDelivery(b *testing.B) {
	const sessions, perSession = 50, 20
	for _, c := range []struct {
		name      string
		instances int // 0: the polling worker
	}{{"poll", 0}, {"queue-1", 1}, {"queue-2", 2}} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for i := range b.N {
				total += deliverAll(b, c.instances, sessions, perSession, i)
			}
			b.ReportMetric(float64(b.N*sessions*perSession)/total.Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// deliverAll appends sessions*perSession events to a new database and
// returns how long the instances took to deliver them all.
func deliverAll(b *testing.B, instances, sessions, perSession, round int) time.Duration {
	b.Helper()
	ctx := context.Background()
	st, err := pgstore.Open(ctx, pgDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	secret, _ := NewSecret()
	rc := newDedupeReceiver("", 0)
	srv := httptest.NewServer(rc.handler(secret, func(id string) string { return id[:strings.LastIndexByte(id, '-')] }))
	defer srv.Close()
	addPartner(b, st, "p1", srv.URL, nil, secret)
	var evs []central.WebhookEvent
	for n := range perSession {
		for s := range sessions {
			evs = append(evs, event(b, "p1", fmt.Sprintf("s%03d", s), fmt.Sprintf("s%03d-%02d", s, n), time.Now().UTC()))
		}
	}
	start := time.Now()
	var stops []func() error
	if instances == 0 {
		w, err := NewWorker(Config{Store: st, Open: openPlain, Timeout: queueTimeout, PerPartner: 16})
		if err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(wctx) }()
		stops = append(stops, func() error { cancel(); <-done; return nil })
		for i := 0; i < len(evs); i += 100 {
			if err := st.AppendEvents(ctx, evs[i:i+100]); err != nil {
				b.Fatal(err)
			}
			w.Notify()
		}
	} else {
		for i := range instances {
			stop, err := startInstance(ctx, st, fmt.Sprintf("bench-%d-%d", round, i))
			if err != nil {
				b.Fatal(err)
			}
			stops = append(stops, stop)
		}
		start = time.Now()
		for i := 0; i < len(evs); i += 100 {
			if err := st.AppendEvents(ctx, evs[i:i+100]); err != nil {
				b.Fatal(err)
			}
		}
	}
	deadline := time.After(5 * time.Minute)
	for rc.unique() < len(evs) {
		select {
		case <-rc.progress:
		case <-deadline:
			b.Fatalf("%d of %d delivered", rc.unique(), len(evs))
		}
	}
	took := time.Since(start)
	for _, stop := range stops {
		if err := stop(); err != nil {
			b.Error(err)
		}
	}
	return took
}
