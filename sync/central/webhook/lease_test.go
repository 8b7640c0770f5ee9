package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
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
