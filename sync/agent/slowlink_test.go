package agent_test

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

// TestSlowLossyLink sends a 3 MB submission (two 1.5 MB images) through a
// line of 50 KB/s that resets every connection after 0.4 to 1.2 MB,
// with the uploader's defaults (adaptive chunks, timeouts from the
// measured rate): it must arrive, intact and once, with every image
// resumed from the bytes central held rather than started over, and
// without sending much more than it is worth. (The app's old setting, a
// fixed 10-second timeout with 1 MB chunks, timed out every chunk on such
// a line.)
//
// It takes about 70 s of wall time at 50 KB/s; -short runs the same line
// at 250 KB/s (about 15 s).
func TestSlowLossyLink(t *testing.T) {
	const size = 3 << 20
	rate := int64(50 << 10)
	if testing.Short() {
		rate = 250 << 10
	}
	type chunk struct {
		image  string
		offset int64
		status int
	}
	var (
		mu     sync.Mutex
		chunks []chunk
	)
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, status: 200}
			next.ServeHTTP(rec, r)
			if isChunk(r) {
				off, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
				mu.Lock()
				chunks = append(chunks, chunk{r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], off, rec.status})
				mu.Unlock()
			}
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	rng := rand.New(rand.NewPCG(50, 3))
	var rngMu sync.Mutex
	proxy := synctest.StartProxyWith(t, r.central.Addr, synctest.ProxyOptions{
		Rate: rate,
		Cut: func(conn int) int64 {
			rngMu.Lock()
			defer rngMu.Unlock()
			return 400<<10 + rng.Int64N(800<<10) // each connection dies after 0.4-1.2 MB
		},
	})
	r.enr.CentralURL = proxy.URL()
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 1, size/2)
	u := r.uploader(t, agent.Config{})
	a := agent.New(u, v, agent.Options{Now: clock.Now})

	start := time.Now()
	deadline := start.Add(4 * time.Minute)
	var sum agent.Summary
	passes := 0
	for time.Now().Before(deadline) {
		s, err := a.SyncOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		passes++
		sum.Synced += s.Synced
		sum.Rejected += s.Rejected
		if s.Synced+s.Rejected > 0 {
			break
		}
		clock.Advance(2 * time.Hour) // past the outbox backoff
	}
	took := time.Since(start)
	if sum.Synced != 1 || sum.Rejected != 0 {
		t.Fatalf("after %v and %d passes: %+v; want the submission delivered", took.Round(time.Second), passes, sum)
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
	wire := len(proxy.Sent())
	t.Logf("3 MB over %d KB/s with resets: delivered in %v, %d passes, %d connections, %.1f MB on the wire, link estimate %.0f KB/s",
		rate>>10, took.Round(100*time.Millisecond), passes, proxy.Conns(), float64(wire)/(1<<20), u.LinkRate()/1024)
	if proxy.Conns() < 4 {
		t.Errorf("only %d connections: no reset happened, the test proves nothing about losses", proxy.Conns())
	}
	// Steady progress: what went on the wire is not a multiple of the
	// submission, as it is when chunks time out and start over.
	if wire > size*2 {
		t.Errorf("%d bytes on the wire for a %d-byte submission", wire, size)
	}
	mu.Lock()
	defer mu.Unlock()
	// Resumption: once central acknowledged bytes of an image, no chunk of
	// it starts before them again.
	held := map[string]int64{}
	for _, c := range chunks {
		if c.offset < held[c.image] {
			t.Errorf("image %s sent again from offset %d after central held %d bytes", c.image, c.offset, held[c.image])
		}
		if c.status == http.StatusOK {
			held[c.image] = max(held[c.image], c.offset+1)
		}
	}
	if len(chunks) < 6 {
		t.Errorf("%d chunk requests for 3 MB over a slow line: chunks are not sized to it", len(chunks))
	}
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
