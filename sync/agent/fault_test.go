package agent_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

// isChunk reports whether a request uploads image bytes.
func isChunk(r *http.Request) bool { return strings.Contains(r.URL.Path, "/images/") }

// isUpload reports whether a request is a manifest or chunk upload.
func isUpload(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/submissions/")
}

// answerUploads wraps central so that answer handles every upload
// request (next is central, to pass one on) and every other request
// reaches central.
func answerUploads(answer func(next http.Handler, w http.ResponseWriter, r *http.Request)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !isUpload(r) {
				next.ServeHTTP(w, r)
				return
			}
			answer(next, w, r)
		})
	}
}

// answerUploadsWhile is answerUploads while on is true; while it is false
// every request reaches central.
func answerUploadsWhile(on *atomic.Bool, answer func(next http.Handler, w http.ResponseWriter, r *http.Request)) func(http.Handler) http.Handler {
	return answerUploads(func(next http.Handler, w http.ResponseWriter, r *http.Request) {
		if !on.Load() {
			next.ServeHTTP(w, r)
			return
		}
		answer(next, w, r)
	})
}

func TestServerErrorsAndRetryAfter(t *testing.T) {
	var (
		mu        sync.Mutex
		n         int
		after429  []time.Time // when each 429 was sent
		firstNext []time.Time // when the request after each 429 arrived
	)
	wrap := answerUploads(func(next http.Handler, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		if len(firstNext) < len(after429) {
			firstNext = append(firstNext, time.Now())
		}
		send429 := i%9 == 0 && len(after429) < 2
		if send429 {
			after429 = append(after429, time.Now())
		}
		mu.Unlock()
		switch {
		case send429:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case i%4 == 1:
			w.WriteHeader(http.StatusInternalServerError)
		case i%4 == 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			next.ServeHTTP(w, r)
		}
	})
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 8, 100<<10)
	// RetryWaitMax above the Retry-After, so the uploader itself waits.
	u := r.uploader(t, agent.Config{RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 2 * time.Second, RetryMax: 6})
	sum := drain(t, agent.New(u, v, agent.Options{Now: clock.Now}), clock, 20)
	if sum.Synced != len(subs) || sum.Rejected != 0 {
		t.Fatalf("summary %+v, want %d synced, none rejected", sum, len(subs))
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
	mu.Lock()
	defer mu.Unlock()
	if len(after429) == 0 {
		t.Fatal("no 429 was sent; the test proves nothing about Retry-After")
	}
	for i := range firstNext {
		if gap := firstNext[i].Sub(after429[i]); gap < 950*time.Millisecond {
			t.Errorf("retry %d came %v after a 429 with Retry-After: 1", i, gap)
		}
	}
}

// unavailableOnce answers the first upload 503 with Retry-After after,
// and passes everything else to central; refused counts the uploads it
// saw.
func unavailableOnce(after string) (wrap func(http.Handler) http.Handler, refused *atomic.Int32) {
	refused = new(atomic.Int32)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isUpload(r) && refused.Add(1) == 1 {
				w.Header().Set("Retry-After", after)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}, refused
}

func TestLongRetryAfterPausesTheAgent(t *testing.T) {
	wrap, refused := unavailableOnce("3600")
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 3, 1000)
	a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{Now: clock.Now})
	sum, err := a.SyncOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Synced != 0 || sum.Failed != 1 || !sum.Paused.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("first pass %+v; want one failure and a pause of an hour", sum)
	}
	if got := refused.Load(); got != 1 {
		t.Errorf("%d requests reached central during the pause, want 1", got)
	}
	clock.Advance(2 * time.Hour)
	drain(t, a, clock, 5)
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
}

// TestTimeoutsAndLostResponses makes central do the work and then stall
// past the client's timeout, and drops answers on the way back: the device
// sends again what central already has, and central must keep one copy.
func TestTimeoutsAndLostResponses(t *testing.T) {
	var n atomic.Int64
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if isUpload(r) && n.Add(1)%5 == 0 {
				time.Sleep(400 * time.Millisecond) // the answer comes too late
			}
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 8, 200<<10)
	ft := r.newFaultTransport(t, func(i int, req *http.Request) fault {
		if isUpload(req) && i%7 == 3 {
			return dropResponse
		}
		return pass
	})
	u := r.uploader(t, agent.Config{Transport: ft, Timeout: 200 * time.Millisecond, ChunkSize: 64 << 10})
	sum := drain(t, agent.New(u, v, agent.Options{Now: clock.Now}), clock, 20)
	if sum.Synced != len(subs) {
		t.Fatalf("summary %+v, want %d synced", sum, len(subs))
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
	if dup := metric(t, r.central, `kyc_central_submissions_total{outcome="duplicate"}`); dup == 0 {
		t.Error("central saw no duplicate manifest; the faults did not cause any redelivery")
	}
}

// metric scrapes one series from central's /metrics.
func metric(t *testing.T, c *synctest.Central, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(c.Metrics(t), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

// TestConnectionResets sends through a TCP proxy that resets a third of
// the connections after a random number of bytes, mid-request.
func TestConnectionResets(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	rng := rand.New(rand.NewPCG(7, 7))
	var mu sync.Mutex
	proxy := synctest.StartProxy(t, r.central.Addr, func(conn int) int64 {
		mu.Lock()
		defer mu.Unlock()
		if conn%3 == 1 {
			return rng.Int64N(400 << 10)
		}
		return -1
	})
	r.enr.CentralURL = proxy.URL()
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 8, 300<<10)
	// No keep-alive: each request opens a connection the proxy may cut.
	tr := r.transport(t)
	tr.DisableKeepAlives = true
	u := r.uploader(t, agent.Config{Transport: tr})
	sum := drain(t, agent.New(u, v, agent.Options{Now: clock.Now}), clock, 30)
	if sum.Synced != len(subs) {
		t.Fatalf("summary %+v, want %d synced", sum, len(subs))
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
}

// TestCentralRestartResumesUploads stops central in the middle of an image
// and starts it again on the same store: the upload continues from the
// bytes central kept instead of starting over.
func TestCentralRestartResumesUploads(t *testing.T) {
	type chunkReq struct {
		key    string
		offset string
		phase  int
	}
	var (
		mu     sync.Mutex
		phase  int
		chunks []chunkReq
		stop   = make(chan struct{}, 1)
	)
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if isChunk(r) {
				mu.Lock()
				chunks = append(chunks, chunkReq{r.URL.Path, r.URL.Query().Get("offset"), phase})
				if len(chunks) == 7 && phase == 0 {
					stop <- struct{}{}
				}
				mu.Unlock()
			}
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 4, 300<<10)
	u := r.uploader(t, agent.Config{ChunkSize: 64 << 10, RetryMax: -1})
	a := agent.New(u, v, agent.Options{Now: clock.Now})
	go func() {
		<-stop
		r.central.Stop()
	}()
	if _, err := a.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	phase = 1
	mu.Unlock()
	r.restartCentral(t, synctest.CentralOptions{Wrap: wrap})
	clock.Advance(2 * time.Hour)
	drain(t, a, clock, 10)
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
	mu.Lock()
	defer mu.Unlock()
	before := map[string]bool{}
	for _, c := range chunks {
		if c.phase == 0 {
			before[c.key] = true
		}
	}
	resumed := false
	for _, c := range chunks {
		if c.phase == 1 && before[c.key] {
			if c.offset == "0" {
				t.Errorf("after the restart %s was sent again from offset 0", c.key)
			}
			resumed = true
		}
	}
	if !resumed {
		t.Error("no image upload was interrupted and resumed; the test proves nothing")
	}
}

// TestPartitionOfMinutes cuts the device off for 20 simulated minutes:
// the agent keeps its submissions queued, backs off, and delivers them all
// once the network returns.
func TestPartitionOfMinutes(t *testing.T) {
	start := time.Now() // enrolment signs with the real clock
	clock := synctest.NewClock(start)
	healed := start.Add(20 * time.Minute)
	r := newRig(t, synctest.CentralOptions{Now: clock.Now})
	var attemptsDuring atomic.Int64
	ft := r.newFaultTransport(t, func(_ int, req *http.Request) fault {
		if clock.Now().Before(healed) {
			if isUpload(req) && !isChunk(req) {
				attemptsDuring.Add(1) // a submission's attempt starts with its manifest
			}
			return dropRequest
		}
		return pass
	})
	v := r.openVault(t, vault.Options{Now: clock.Now, Backoff: agent.OutboxBackoff(30*time.Second, 5*time.Minute)})
	subs := capture(t, v, r.id, 0, 5, 50<<10)
	u := r.uploader(t, agent.Config{Transport: ft, RetryMax: -1, Now: clock.Now})
	a := agent.New(u, v, agent.Options{Now: clock.Now, Sleep: clock.Sleep, PollInterval: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := true
		for _, s := range subs {
			e, err := v.OutboxStatus(context.Background(), s.ID)
			if err != nil {
				t.Fatal(err)
			}
			all = all && e.State == vault.StateSynced
		}
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
	if clock.Now().Before(healed) {
		t.Fatalf("simulated clock at %v, before the partition healed", clock.Now())
	}
	// Backoff from 30 s doubling to 5 min gives each submission about 7
	// attempts in 20 minutes, not one per poll (120).
	if n := attemptsDuring.Load(); n < int64(len(subs)) || n > int64(len(subs))*12 {
		t.Errorf("%d attempts during the partition for %d submissions; backoff is not working", n, len(subs))
	}
	for _, s := range subs {
		sub, err := r.store.Upload(context.Background(), r.id.DeviceID(), protocolKey(s.ID))
		if err != nil {
			t.Fatal(err)
		}
		if sub.ReceivedAt.Before(healed) {
			t.Errorf("%s received at %v, during the partition", s.ID, sub.ReceivedAt)
		}
	}
}

// TestAbsurdRetryAfterIsBounded: a 503 whose Retry-After is years away
// (or beyond what a Duration holds) pauses the agent for at most
// agent.MaxRetryAfter; before, a device paused for decades, and "sync
// now" could not end it.
func TestAbsurdRetryAfterIsBounded(t *testing.T) {
	for _, after := range []string{"315360000", "99999999999", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(after, func(t *testing.T) {
			wrap, _ := unavailableOnce(after)
			r := newRig(t, synctest.CentralOptions{Wrap: wrap})
			clock := synctest.NewClock(time.Now())
			v := r.openVault(t, vault.Options{Now: clock.Now})
			subs := capture(t, v, r.id, 0, 2, 1000)
			a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{Now: clock.Now})
			sum, err := a.SyncOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Paused.IsZero() || sum.Paused.After(clock.Now().Add(agent.MaxRetryAfter)) {
				t.Fatalf("paused until %s after Retry-After %q; want a pause of at most %s", sum.Paused, after, agent.MaxRetryAfter)
			}
			clock.Advance(agent.MaxRetryAfter + 2*time.Hour)
			drain(t, a, clock, 5)
			synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
		})
	}
}

// TestUnreachablePassStopsEarly: with central unreachable, a pass tries one
// submission (with the uploader's retries) and stops, rather than wait out
// the same retries for each queued one; before, a pass over a long offline
// queue took minutes to an hour, the status line and "sync now" behind it.
// A pass in which central answers keeps going past a lost connection.
func TestUnreachablePassStopsEarly(t *testing.T) {
	var down atomic.Bool
	var manifests atomic.Int64
	r := newRig(t, synctest.CentralOptions{})
	ft := r.newFaultTransport(t, func(_ int, req *http.Request) fault {
		if isUpload(req) && !isChunk(req) {
			manifests.Add(1)
		}
		switch {
		case down.Load():
			return dropRequest
		case isUpload(req) && !isChunk(req) && manifests.Load() == 2:
			return dropRequest // one lost connection while central answers
		}
		return pass
	})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 6, 1000)
	a := agent.New(r.uploader(t, agent.Config{Transport: ft, RetryMax: -1}), v, agent.Options{Now: clock.Now})
	ctx := context.Background()

	down.Store(true)
	sum, err := a.SyncOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || manifests.Load() != 1 {
		t.Fatalf("offline pass: %+v after %d manifests; want one submission tried", sum, manifests.Load())
	}

	down.Store(false)
	manifests.Store(0)
	clock.Advance(2 * time.Hour)
	sum, err = a.SyncOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Synced != len(subs)-1 || sum.Failed != 1 {
		t.Fatalf("pass with one lost connection: %+v; want all but one synced", sum)
	}
	clock.Advance(2 * time.Hour)
	drain(t, a, clock, 5)
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
}
