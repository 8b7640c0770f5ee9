package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
)

// gatedReceiver holds each request until the test answers it: arrived
// tells a request's user agent (its instance), and each instance's
// requests wait for its gate.
type gatedReceiver struct {
	*httptest.Server
	arrived chan string
	mu      sync.Mutex
	gates   map[string]chan int // status to answer
}

func newGatedReceiver(t *testing.T, uas ...string) *gatedReceiver {
	t.Helper()
	g := &gatedReceiver{arrived: make(chan string, 8), gates: map[string]chan int{}}
	for _, ua := range uas {
		g.gates[ua] = make(chan int, 1)
	}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua := r.UserAgent()
		_, _ = io.Copy(io.Discard, r.Body) // so a closed connection ends r's context
		g.mu.Lock()
		gate := g.gates[ua]
		g.mu.Unlock()
		g.arrived <- ua
		select {
		case status := <-gate:
			w.WriteHeader(status)
		case <-r.Context().Done(): // the sender cut the request off
		}
	}))
	t.Cleanup(func() {
		g.CloseClientConnections() // a failed test's requests still held
		g.Close()
	})
	return g
}

// answer lets instance ua's request through with status.
func (g *gatedReceiver) answer(ua string, status int) { g.gates[ua] <- status }

// await waits for a request of instance ua.
func (g *gatedReceiver) await(t *testing.T, ua string) {
	t.Helper()
	select {
	case got := <-g.arrived:
		if got != ua {
			t.Fatalf("a request of %q arrived, want %q's", got, ua)
		}
	case <-time.After(time.Minute):
		t.Fatalf("no request of %q within a minute", ua)
	}
}

// clockedInstance is an instance's QueueWorker on st with its own clock;
// its Timeout is long enough that its lease keeper never renews within a
// test, which moves the clocks instead.
func clockedInstance(t *testing.T, st *pgstore.Store, ua string, clk *fakeClock) *QueueWorker {
	t.Helper()
	w, err := NewWorker(Config{Store: st, Lanes: st, Open: openPlain, Timeout: time.Minute, Now: clk.Now,
		Drain: time.Millisecond, UserAgent: ua})
	if err != nil {
		t.Fatal(err)
	}
	qw, err := w.QueueWorker()
	if err != nil {
		t.Fatal(err)
	}
	return qw
}

// TestQueueLateRecordAfterLeaseLost: instance a's send outlives its lease
// (a stalled process: its keeper had no chance to renew) and instance b
// takes the lane and sends the event again. a's answer, arriving then,
// is not recorded: b's lease stays, and the event is recorded once, as b
// delivered it (at least once: the receiver got it twice, by one id).
func TestQueueLateRecordAfterLeaseLost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		aStatus int // what a's late answer was
	}{
		{"late success", http.StatusOK},
		{"late failure", http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openQueueStore(t)
			rc := newGatedReceiver(t, "a", "b")
			addPartner(t, st, "p1", rc.URL, nil, "whsec_"+"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
			t0 := time.Now().UTC().Truncate(time.Second)
			ev := appendOne(t, st, event(t, "p1", "s1", "e1", t0))
			clkA, clkB := newClockAt(t0), newClockAt(t0)
			a, b := clockedInstance(t, st, "a", clkA), clockedInstance(t, st, "b", clkB)
			hold := 2 * time.Minute

			aDone := make(chan error, 1)
			go func() { aDone <- a.Work(context.Background(), deliveryJob(ev)) }()
			rc.await(t, "a")
			// a's lease ran out (by b's clock); b takes the lane.
			clkB.Advance(hold + time.Second)
			bDone := make(chan error, 1)
			go func() { bDone <- b.Work(context.Background(), deliveryJob(ev)) }()
			rc.await(t, "b")
			bLease, err := st.LeaseLane(context.Background(), central.Lane{PartnerID: "p1", SessionID: "s1"}, clkB.Now(), hold)
			if err != nil || bLease.Held {
				t.Fatalf("the lane while b sends = %+v, %v; want held", bLease, err)
			}

			rc.answer("a", tc.aStatus)
			if err := <-aDone; !snoozed(err) {
				t.Fatalf("a's job = %v, want a snooze (the lease is b's)", err)
			}
			if l, err := st.LeaseLane(context.Background(), central.Lane{PartnerID: "p1", SessionID: "s1"}, clkB.Now(), hold); err != nil ||
				l.Held || !l.Wait.Equal(bLease.Wait) {
				t.Fatalf("the lane after a's late answer = %+v, %v; want still b's until %v", l, err, bLease.Wait)
			}
			if got := eventByID(t, st, "p1", "e1"); got.Attempts != 0 || !got.DeliveredAt.IsZero() {
				t.Fatalf("a's late answer recorded: %d attempts, delivered %v", got.Attempts, got.DeliveredAt)
			}

			rc.answer("b", http.StatusOK)
			if err := <-bDone; err != nil {
				t.Fatalf("b's job = %v", err)
			}
			got := eventByID(t, st, "p1", "e1")
			if got.DeliveredAt.IsZero() || got.Attempts != 1 {
				t.Errorf("event: delivered %v after %d attempts; want delivered, one attempt (b's)", got.DeliveredAt, got.Attempts)
			}
			if as, err := st.Attempts(context.Background(), "e1"); err != nil || len(as) != 1 || !as[0].At.Equal(clkB.Now()) {
				t.Errorf("attempts %+v, %v; want b's only", as, err)
			}
		})
	}
}

// newClockAt is a fake clock at t.
func newClockAt(t time.Time) *fakeClock {
	c := newClock()
	c.Set(t)
	return c
}

// awaitDone waits for a job's or a stop's end, failing after 30 s (a
// send left to its own bounds lasts a minute here).
func awaitDone[T any](t *testing.T, what string, done <-chan T) T {
	t.Helper()
	select {
	case v := <-done:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not end when interrupted", what)
		var zero T
		return zero
	}
}

// TestQueueInterruptReleasesLane: at shutdown Interrupt cuts a send under
// way off at once: nothing is recorded (no attempt counts against the
// event's retries), the lane is released so another instance holds the
// event at once, and the job snoozes for another run now.
func TestQueueInterruptReleasesLane(t *testing.T) {
	st := openQueueStore(t)
	rc := newGatedReceiver(t, "a")
	addPartner(t, st, "p1", rc.URL, nil, "whsec_"+"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	t0 := time.Now().UTC().Truncate(time.Second)
	ev := appendOne(t, st, event(t, "p1", "s1", "e1", t0))
	clk := newClockAt(t0)
	a := clockedInstance(t, st, "a", clk)

	done := make(chan error, 1)
	go func() { done <- a.Work(context.Background(), deliveryJob(ev)) }()
	rc.await(t, "a")
	a.w.Interrupt()
	var se *river.JobSnoozeError
	if err := awaitDone(t, "the job", done); !errors.As(err, &se) || se.Duration != 0 {
		t.Fatalf("the interrupted job = %v, want a snooze of 0", err)
	}
	if got := eventByID(t, st, "p1", "e1"); got.Attempts != 0 || !got.DeliveredAt.IsZero() || !got.NextAt.Equal(t0) {
		t.Errorf("event after the interruption: %d attempts, delivered %v, next %v; want untouched, due at %v", got.Attempts, got.DeliveredAt, got.NextAt, t0)
	}
	if l, err := st.LeaseLane(context.Background(), central.Lane{PartnerID: "p1", SessionID: "s1"}, t0, time.Minute); err != nil || !l.Held {
		t.Errorf("another instance at once = %+v, %v; want the event held (the lane released)", l, err)
	}
	// Jobs run after the interruption make no attempt.
	if err := a.Work(context.Background(), deliveryJob(ev)); !snoozed(err) {
		t.Errorf("a job after the interruption = %v, want a snooze", err)
	}
}

// blockingSender is a push that takes as long as its ctx lets it: it
// says when it started, then waits.
type blockingSender struct{ started chan struct{} }

func (b blockingSender) Send(ctx context.Context, _ central.Partner, _ central.WebhookEvent, _ time.Time) (int, string, error) {
	close(b.started)
	<-ctx.Done()
	return 0, "", context.Cause(ctx)
}

// TestServiceStopInterrupts: the polling worker's stop gives a send under
// way the worker's Timeout, then cuts it off: stop returns without
// waiting for the send's own bounds (a push may take MaxTransfer), nothing
// is recorded, and the event is due as it was for the next start.
func TestServiceStopInterrupts(t *testing.T) {
	st := openStore(t)
	addPartner(t, st, "p1", "", nil)
	t0 := time.Now().UTC().Truncate(time.Second)
	ev, err := NewEvent("push.submission", "p1", "push/s1", Data{SessionID: "s1"}, t0, "evt_push")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents(context.Background(), []central.WebhookEvent{ev}); err != nil {
		t.Fatal(err)
	}
	push := blockingSender{started: make(chan struct{})}
	svc, err := New(st, Config{Open: openPlain, Timeout: 100 * time.Millisecond, Senders: map[string]Sender{"push.": push}})
	if err != nil {
		t.Fatal(err)
	}
	stop := svc.Start(context.Background())
	awaitDone(t, "the push's start", push.started)
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	awaitDone(t, "the stop", stopped)
	got := eventByID(t, st, "p1", "evt_push")
	if got.Attempts != 0 || !got.DeliveredAt.IsZero() || !got.NextAt.Equal(t0) {
		t.Errorf("event after the stop: %d attempts, delivered %v, next %v; want untouched, due at %v", got.Attempts, got.DeliveredAt, got.NextAt, t0)
	}
}

// TestQueueStaleRunSameInstant: a job's run whose lease ran out cannot
// record under the lease another run holds, even one that ends at the
// same microsecond. Run a (instance a) sends and stalls; River's rescued
// run on instance b, whose clock is ahead, finds a's lease run out, takes
// the lane and is cut off by shutdown (the lane released, the job
// snoozed); the job runs again on instance c, whose clock agrees with a's
// to the microsecond: c's lease ends when a's did. a's answer, arriving
// then, is not recorded: c's lease stays and the event is recorded once,
// as c delivered it.
func TestQueueStaleRunSameInstant(t *testing.T) {
	st := openQueueStore(t)
	rc := newGatedReceiver(t, "a", "b", "c")
	addPartner(t, st, "p1", rc.URL, nil, "whsec_"+"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	t0 := time.Now().UTC().Truncate(time.Second)
	ev := appendOne(t, st, event(t, "p1", "s1", "e1", t0))
	hold := 2 * time.Minute // clockedInstance's
	clkA, clkB, clkC := newClockAt(t0), newClockAt(t0.Add(hold)), newClockAt(t0)
	a, b, c := clockedInstance(t, st, "a", clkA), clockedInstance(t, st, "b", clkB), clockedInstance(t, st, "c", clkC)
	lane := central.Lane{PartnerID: "p1", SessionID: "s1"}

	aDone := make(chan error, 1)
	go func() { aDone <- a.Work(context.Background(), deliveryJob(ev)) }()
	rc.await(t, "a")
	bDone := make(chan error, 1)
	go func() { bDone <- b.Work(context.Background(), deliveryJob(ev)) }()
	rc.await(t, "b")
	b.w.Interrupt()
	if err := awaitDone(t, "b's run", bDone); !snoozed(err) {
		t.Fatalf("b's interrupted run = %v, want a snooze", err)
	}
	cDone := make(chan error, 1)
	go func() { cDone <- c.Work(context.Background(), deliveryJob(ev)) }()
	rc.await(t, "c")
	held, err := st.LeaseLane(context.Background(), lane, t0.Add(time.Second), hold)
	if want := t0.Add(hold); err != nil || held.Held || !held.Wait.Equal(want) {
		t.Fatalf("the lane while c sends = %+v, %v; want held until %v, when a's lease ended", held, err, want)
	}

	rc.answer("a", http.StatusOK)
	if err := awaitDone(t, "a's run", aDone); !snoozed(err) {
		t.Fatalf("a's run = %v, want a snooze (the lease is c's)", err)
	}
	if got := eventByID(t, st, "p1", "e1"); got.Attempts != 0 || !got.DeliveredAt.IsZero() {
		t.Fatalf("a's late answer recorded: %d attempts, delivered %v", got.Attempts, got.DeliveredAt)
	}
	if l, err := st.LeaseLane(context.Background(), lane, t0.Add(time.Second), hold); err != nil || l.Held || !l.Wait.Equal(held.Wait) {
		t.Fatalf("the lane after a's late answer = %+v, %v; want still c's", l, err)
	}
	rc.answer("c", http.StatusOK)
	if err := awaitDone(t, "c's run", cDone); err != nil {
		t.Fatalf("c's run = %v", err)
	}
	if as, err := st.Attempts(context.Background(), "e1"); err != nil || len(as) != 1 || !as[0].At.Equal(t0) {
		t.Errorf("attempts %+v, %v; want c's only", as, err)
	}
}

// TestPollLateRecordAfterLeaseLost: the polling worker (the bbolt
// instance's) sends under a lane's lease too and records through it. While
// a's send holds the lane, b's poll sends nothing; once a's lease ran out
// (a stalled process), b takes the lane and sends the event again, and
// a's answer, arriving then, is not recorded: the event is recorded once,
// as b delivered it.
func TestPollLateRecordAfterLeaseLost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		aStatus int
	}{
		{"late success", http.StatusOK},
		{"late failure", http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, st central.Store) {
				ctx := context.Background()
				rc := newGatedReceiver(t, "a", "b")
				addPartner(t, st, "p1", rc.URL, nil, "whsec_"+"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
				t0 := time.Now().UTC().Truncate(time.Second)
				if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "e1", t0)}); err != nil {
					t.Fatal(err)
				}
				clkA, clkB := newClockAt(t0), newClockAt(t0.Add(time.Second))
				poller := func(ua string, clk *fakeClock) *Worker {
					// Timeout long enough that a's keeper never renews
					// within the test, which moves the clocks instead.
					w, err := NewWorker(Config{Store: st, Open: openPlain, Timeout: time.Minute, Now: clk.Now, UserAgent: ua})
					if err != nil {
						t.Fatal(err)
					}
					return w
				}
				a, b := poller("a", clkA), poller("b", clkB)
				hold := 2 * time.Minute

				aDone := make(chan error, 1)
				go func() { _, err := a.RunOnce(ctx); aDone <- err }()
				rc.await(t, "a")
				bDone := make(chan error, 1)
				go func() { _, err := b.RunOnce(ctx); bDone <- err }()
				select {
				case ua := <-rc.arrived:
					t.Fatalf("%s sent the event while a held its lane", ua)
				case err := <-bDone:
					if err != nil {
						t.Fatal(err)
					}
				}
				clkB.Advance(hold)
				go func() { _, err := b.RunOnce(ctx); bDone <- err }()
				rc.await(t, "b")

				rc.answer("a", tc.aStatus)
				if err := awaitDone(t, "a's poll", aDone); err != nil {
					t.Fatal(err)
				}
				if got := eventByID(t, st, "p1", "e1"); got.Attempts != 0 || !got.DeliveredAt.IsZero() {
					t.Fatalf("a's late answer recorded: %d attempts, delivered %v", got.Attempts, got.DeliveredAt)
				}
				rc.answer("b", http.StatusOK)
				if err := awaitDone(t, "b's poll", bDone); err != nil {
					t.Fatal(err)
				}
				got := eventByID(t, st, "p1", "e1")
				if got.DeliveredAt.IsZero() || got.Attempts != 1 {
					t.Errorf("event: delivered %v after %d attempts; want delivered, one attempt (b's)", got.DeliveredAt, got.Attempts)
				}
				if as, err := st.Attempts(ctx, "e1"); err != nil || len(as) != 1 || !as[0].At.Equal(clkB.Now()) {
					t.Errorf("attempts %+v, %v; want b's only", as, err)
				}
			})
		})
	}
}

// countingLanes counts a store's LeaseLane calls.
type countingLanes struct {
	central.Store
	leases atomic.Int32
}

func (c *countingLanes) LeaseLane(ctx context.Context, l central.Lane, now time.Time, hold time.Duration) (central.LaneLease, error) {
	c.leases.Add(1)
	return c.Store.LeaseLane(ctx, l, now, hold)
}

// TestPollSkipsHeldLane: the polling worker that finds a lane held by
// another sender leaves its event until that lease ends (it does not ask
// again at every poll or completion, each a write), then takes the lane
// and sends the event.
func TestPollSkipsHeldLane(t *testing.T) {
	ctx := context.Background()
	st := &countingLanes{Store: openStore(t)}
	var sent atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		sent.Add(1)
	}))
	t.Cleanup(rc.Close)
	addPartner(t, st, "p1", rc.URL, nil, "whsec_"+"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	t0 := time.Now().UTC().Truncate(time.Second)
	if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "e1", t0)}); err != nil {
		t.Fatal(err)
	}
	other, err := st.Store.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "s1"}, t0, time.Minute)
	if err != nil || !other.Held {
		t.Fatalf("another sender's lease = %+v, %v", other, err)
	}
	clk := newClockAt(t0)
	w := newWorker(t, st, clk, nil)
	for i := range 2 {
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if n, s := st.leases.Load(), sent.Load(); n != 1 || s != 0 {
			t.Fatalf("poll %d while the lane is held: %d leases asked for, %d sent; want 1, none", i+1, n, s)
		}
	}
	clk.Set(other.Until)
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := eventByID(t, st, "p1", "e1"); sent.Load() != 1 || got.DeliveredAt.IsZero() {
		t.Errorf("once the lease ran out: %d sent, delivered %v; want sent and delivered", sent.Load(), got.DeliveredAt)
	}
}
