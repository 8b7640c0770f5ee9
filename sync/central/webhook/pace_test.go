package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
)

// Pacing in these tests: a request's Timeout is short, the floor is 256
// KiB/s, and the slow receiver reads at 512 KiB/s: a body of bigBody
// takes it about two seconds, ten times Timeout (and five holds of a lane
// lease), and the bound is Timeout + 4 s.
const (
	paceTimeout = 200 * time.Millisecond
	paceMinRate = 256 << 10
	readRate    = 512 << 10
	bigBody     = 1 << 20
)

// slowReceiver is a partner's endpoint on loopback that reads each body at
// readRate, a chunk each tick, and answers 200 once it has it all;
// requests from the user agent stall (nil: none) read nothing and get no
// answer until the sender gives up.
type slowReceiver struct {
	URL   string
	stall func(ua string) bool

	mu       sync.Mutex
	started  int            // requests begun
	complete map[string]int // whole bodies by webhook-id
	read     atomic.Int64   // bytes read of all bodies
}

func newSlowReceiver(t *testing.T, stall func(ua string) bool) *slowReceiver {
	t.Helper()
	rc := &slowReceiver{stall: stall, complete: map[string]int{}}
	// A handler that reads nothing does not see its client go (the server
	// watches the connection only once the body is read): the test's end
	// releases it, before the server's Close waits for it.
	quit := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.started++
		rc.mu.Unlock()
		if rc.stall != nil && rc.stall(r.UserAgent()) {
			<-quit
			return
		}
		n, err := paced(r.Context(), io.Discard, r.Body, &rc.read)
		if err != nil || n != r.ContentLength {
			return
		}
		rc.mu.Lock()
		rc.complete[r.Header.Get(HeaderID)]++
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(quit) })
	rc.URL = srv.URL
	return rc
}

// paced copies r to w at readRate: a 16 KiB chunk each tick.
func paced(ctx context.Context, w io.Writer, r io.Reader, read *atomic.Int64) (int64, error) {
	const chunk = 16 << 10
	tick := time.NewTicker(time.Second * chunk / readRate)
	defer tick.Stop()
	var total int64
	for {
		n, err := io.CopyN(w, r, chunk)
		total += n
		read.Add(n)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return total, ctx.Err()
		}
	}
}

func (rc *slowReceiver) counts() (started, complete int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.complete {
		complete += n
	}
	return rc.started, complete
}

// bigEvent is an event of session s whose payload is n bytes (a push's
// size).
func bigEvent(t *testing.T, sessionID, id string, n int, at time.Time) central.WebhookEvent {
	t.Helper()
	ev := event(t, "p1", sessionID, id, at)
	if n > 0 {
		pad := n - len(`{"pad":""}`)
		ev.Payload = []byte(`{"pad":"` + strings.Repeat("x", pad) + `"}`)
	}
	return ev
}

// addSlowPartner records partner p1 with rc as its endpoint.
func addSlowPartner(t *testing.T, st central.Store, rc *slowReceiver) {
	t.Helper()
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	addPartner(t, st, "p1", rc.URL, nil, secret)
}

// TestPacedDelivery: one attempt (the single instance's worker) is bound
// by its size: a body that takes a slow receiver ten Timeouts is
// delivered once; a receiver that reads nothing fails the attempt within
// Timeout + size/MinRate (about Timeout for a small event), recorded for a
// retry.
func TestPacedDelivery(t *testing.T) {
	for _, c := range []struct {
		name      string
		size      int
		stall     bool
		delivered bool
		within    time.Duration // the attempt's bound
		excerpt   string
	}{
		{name: "slow receiver, large body", size: bigBody, delivered: true, within: paceTimeout + 4*time.Second},
		{name: "stalled receiver, large body", size: bigBody, stall: true, within: paceTimeout + 4*time.Second,
			excerpt: "timed out"},
		{name: "stalled receiver, small event", stall: true, within: 2 * paceTimeout, excerpt: "timed out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			rc := newSlowReceiver(t, func(string) bool { return c.stall })
			addSlowPartner(t, st, rc)
			clk := newClock()
			w := newWorker(t, st, clk, func(cfg *Config) { cfg.Timeout, cfg.MinRate = paceTimeout, paceMinRate })
			ev := bigEvent(t, "s1", "evt_big", c.size, clk.Now())
			if err := st.AppendEvents(context.Background(), []central.WebhookEvent{ev}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if n, err := w.RunOnce(context.Background()); n != 1 || err != nil {
				t.Fatalf("RunOnce = %d, %v", n, err)
			}
			took := time.Since(start)
			got := eventByID(t, st, "p1", "evt_big")
			as, err := st.Attempts(context.Background(), "evt_big")
			if err != nil || len(as) != 1 {
				t.Fatalf("attempts %+v, %v; want one", as, err)
			}
			t.Logf("%d bytes: %v, attempt %d %q", len(ev.Payload), took, as[0].Status, as[0].Excerpt)
			if took > c.within+time.Second {
				t.Errorf("the attempt took %v, want within %v", took, c.within)
			}
			if delivered := !got.DeliveredAt.IsZero(); delivered != c.delivered {
				t.Fatalf("delivered = %v (attempt %d %q), want %v", delivered, as[0].Status, as[0].Excerpt, c.delivered)
			}
			_, complete := rc.counts()
			if c.delivered && complete != 1 {
				t.Errorf("the receiver got %d whole bodies, want 1", complete)
			}
			if !c.delivered && (got.NextAt.IsZero() || !got.DeadAt.IsZero() || !strings.Contains(as[0].Excerpt, c.excerpt)) {
				t.Errorf("failed attempt: next %v, dead %v, excerpt %q; want a retry after %q", got.NextAt, got.DeadAt, as[0].Excerpt, c.excerpt)
			}
		})
	}
}

// pacedSender is a Sender POSTing n bytes to url with a PacedClient, as
// the push does.
type pacedSender struct {
	url string
	n   int
}

func (s pacedSender) Send(ctx context.Context, _ central.Partner, ev central.WebhookEvent, _ time.Time) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(strings.Repeat("x", s.n)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set(HeaderID, ev.ID)
	resp, err := PacedClient(nil).Do(req)
	if err != nil {
		return 0, "", DescribeTransport(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, "", nil
}

// TestPacedSender: a Sender's requests through PacedClient get the same
// bound by size (the push's way).
func TestPacedSender(t *testing.T) {
	st := openStore(t)
	rc := newSlowReceiver(t, nil)
	addSlowPartner(t, st, rc)
	clk := newClock()
	w := newWorker(t, st, clk, func(cfg *Config) {
		cfg.Timeout, cfg.MinRate = paceTimeout, paceMinRate
		cfg.Senders = map[string]Sender{"push.": pacedSender{url: rc.URL, n: bigBody}}
	})
	ev, err := NewEvent("push.submission", "p1", "push/s1", Data{SessionID: "s1"}, clk.Now(), "evt_push")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents(context.Background(), []central.WebhookEvent{ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := eventByID(t, st, "p1", "evt_push"); got.DeliveredAt.IsZero() {
		as, _ := st.Attempts(context.Background(), "evt_push")
		t.Fatalf("the push was not delivered: %+v", as)
	}
}

// dyingStore is an instance's view of the shared store that it loses
// when it dies: from then on every renewal and record fails.
type dyingStore struct {
	*pgstore.Store
	dead atomic.Bool
}

var errDead = errors.New("the instance is dead")

func (d *dyingStore) RenewLane(ctx context.Context, l central.LaneLease, now time.Time, hold time.Duration) (time.Time, error) {
	if d.dead.Load() {
		return time.Time{}, errDead
	}
	return d.Store.RenewLane(ctx, l, now, hold)
}

func (d *dyingStore) RecordLeased(ctx context.Context, l central.LaneLease, a central.DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.RecordLeased(ctx, l, a, delivered, nextAt, deadAt)
}

// queueInstance is one instance's QueueWorker on st (its user agent ua),
// worked by hand: Work is what its River client would call.
func queueInstance(t *testing.T, st interface {
	Store
	central.WebhookLanes
}, ua string) *QueueWorker {
	t.Helper()
	w, err := NewWorker(Config{Store: st, Lanes: st, Open: openPlain, Timeout: paceTimeout, MinRate: paceMinRate,
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

func deliveryJob(ev central.WebhookEvent) *river.Job[jobs.Delivery] {
	return &river.Job[jobs.Delivery]{Args: jobs.Delivery{EventID: ev.ID, Seq: ev.Seq, PartnerID: ev.PartnerID, SessionID: ev.SessionID}}
}

// snoozed reports whether a Work error is a snooze (no attempt now).
func snoozed(err error) bool {
	var se *river.JobSnoozeError
	return errors.As(err, &se)
}

// appendOne stores ev on st and returns it with its Seq.
func appendOne(t *testing.T, st *pgstore.Store, ev central.WebhookEvent) central.WebhookEvent {
	t.Helper()
	if err := st.AppendEvents(context.Background(), []central.WebhookEvent{ev}); err != nil {
		t.Fatal(err)
	}
	return eventByID(t, st, ev.PartnerID, ev.ID)
}

// TestQueueLongSendKeepsLane: through the job queue a send that lasts
// many holds of the lane's lease keeps it renewed, so another instance's
// job of the lane (one River rescued, say) finds it held and snoozes: the
// receiver gets one request, and the event is delivered once.
func TestQueueLongSendKeepsLane(t *testing.T) {
	st := openQueueStore(t)
	rc := newSlowReceiver(t, nil)
	addSlowPartner(t, st, rc)
	ev := appendOne(t, st, bigEvent(t, "s1", "evt_big", bigBody, time.Now().UTC()))
	a, b := queueInstance(t, st, "a"), queueInstance(t, st, "b")

	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- a.Work(context.Background(), deliveryJob(ev)) }()
	// Half the body read: a's first lease (two Timeouts) ran out long ago
	// but for its renewals.
	waitFor(t, func() bool { return rc.read.Load() >= bigBody/2 })
	if err := b.Work(context.Background(), deliveryJob(ev)); !snoozed(err) {
		t.Fatalf("the second instance's job = %v, want a snooze behind the lease", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the first instance's job = %v", err)
	}
	t.Logf("%d bytes sent in %v", bigBody, time.Since(start))
	started, complete := rc.counts()
	if started != 1 || complete != 1 {
		t.Errorf("the receiver got %d requests, %d whole; want one", started, complete)
	}
	got := eventByID(t, st, "p1", "evt_big")
	if got.DeliveredAt.IsZero() || got.Attempts != 1 {
		t.Errorf("event: delivered %v after %d attempts; want delivered at the first", got.DeliveredAt, got.Attempts)
	}
}

// TestQueueDeadInstanceLeaseRunsOut: an instance that dies mid-send (it
// can no longer renew its lease nor record) cuts its send off once its
// lease would run out, and another instance then delivers the event.
func TestQueueDeadInstanceLeaseRunsOut(t *testing.T) {
	st := openQueueStore(t)
	rc := newSlowReceiver(t, func(ua string) bool { return ua == "a" })
	addSlowPartner(t, st, rc)
	ev := appendOne(t, st, bigEvent(t, "s1", "evt_big", bigBody, time.Now().UTC()))
	dying := &dyingStore{Store: st}
	a, b := queueInstance(t, dying, "a"), queueInstance(t, st, "b")

	done := make(chan error, 1)
	go func() { done <- a.Work(context.Background(), deliveryJob(ev)) }()
	waitFor(t, func() bool { started, _ := rc.counts(); return started == 1 })
	if err := b.Work(context.Background(), deliveryJob(ev)); !snoozed(err) {
		t.Fatalf("the second instance's job while the first lives = %v, want a snooze", err)
	}
	dying.dead.Store(true)
	died := time.Now()
	select {
	case err := <-done:
		if !snoozed(err) {
			t.Errorf("the dead instance's job = %v, want a snooze (lease lost)", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the dead instance's send went on")
	}
	// Its lease lasts two Timeouts from its last renewal.
	if cut := time.Since(died); cut > 2*paceTimeout+time.Second {
		t.Errorf("the dead instance's send was cut off after %v, want within its lease", cut)
	}
	waitFor(t, func() bool {
		err := b.Work(context.Background(), deliveryJob(ev))
		if err != nil && !snoozed(err) {
			t.Fatalf("the second instance's job = %v", err)
		}
		return !eventByID(t, st, "p1", "evt_big").DeliveredAt.IsZero()
	})
	started, complete := rc.counts()
	if started != 2 || complete != 1 {
		t.Errorf("the receiver got %d requests, %d whole; want the dead one's and one whole", started, complete)
	}
	if as, err := st.Attempts(context.Background(), "evt_big"); err != nil || len(as) != 1 || as[0].Status != http.StatusOK {
		t.Errorf("attempts %+v, %v; want the second instance's only", as, err)
	}
}
