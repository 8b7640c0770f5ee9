package push_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/push"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// readPaced reads r whole at rate bytes a second: a 16 KiB chunk a tick.
func readPaced(r io.Reader, rate int64) ([]byte, error) {
	const chunk = 16 << 10
	tick := time.NewTicker(time.Duration(chunk * int64(time.Second) / rate))
	defer tick.Stop()
	var buf bytes.Buffer
	for {
		_, err := io.CopyN(&buf, r, chunk)
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return buf.Bytes(), err
		}
		<-tick.C
	}
}

// slowTimeout is the worker's Timeout in these tests; the floor is 256
// KiB/s.
const slowTimeout = 300 * time.Millisecond

// newSlowEnv is newEnv with a push of about 1.1 MB and a worker of
// slowTimeout.
func newSlowEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, centraltest.BoltStore(t))
	e.images["front"] = append(centraltest.JPEG(t, 320, 200), make([]byte, 600<<10)...)
	sender, err := push.New(push.Config{Source: e.api, Client: e.recv.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if e.worker, err = webhook.NewWorker(webhook.Config{Store: e.store, Now: e.clk.Now, Timeout: slowTimeout, MinRate: 256 << 10,
		Open:     func(string, []byte) ([]byte, error) { return nil, errors.New("no webhook in these tests") },
		Schedule: []time.Duration{time.Minute}, Jitter: func(max time.Duration) time.Duration { return max },
		Senders: map[string]webhook.Sender{push.SenderPrefix: sender}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestPushSlowLink: a push that takes the partner's endpoint (TLS, with
// its token) many Timeouts to read, as on a slow link, is delivered whole
// at its first attempt: the attempt's bound grows with the envelope
// (webhook.Config.MinRate), where one Timeout for the whole failed every
// attempt.
func TestPushSlowLink(t *testing.T) {
	e := newSlowEnv(t)
	e.recv.rate.Store(512 << 10)
	e.complete("ses-1", 1, central.FlowCompleted)
	start := time.Now()
	e.pass()
	took := time.Since(start)
	gs := e.recv.all()
	if len(gs) != 1 || gs[0].openErr != nil {
		t.Fatalf("receiver got %d pushes (%v), want one that opens", len(gs), gs)
	}
	t.Logf("a %d-byte push read at 512 KiB/s: delivered in %v", len(gs[0].raw), took)
	if took < 3*slowTimeout {
		t.Errorf("the push took %v: not the slow link the test means", took)
	}
	evs := e.pushEvents()
	if len(evs) != 1 || evs[0].DeliveredAt.IsZero() {
		t.Fatalf("push events %+v, want one delivered", evs)
	}
	if as := e.attempts(evs[0].ID); len(as) != 1 || as[0].Status != 200 {
		t.Errorf("attempts %+v, want one 200", as)
	}
	for _, im := range gs[0].sub.Images {
		if !bytes.Equal(im.Data, e.images[im.Name]) {
			t.Errorf("image %s: %d bytes, not the stored %d", im.Name, len(im.Data), len(e.images[im.Name]))
		}
	}
}

// TestPushStalled: a push endpoint that takes nothing fails the attempt
// within the envelope's bound (Timeout + size/MinRate, about 4.5 s here),
// recorded for a retry: the push's requests are paced too.
func TestPushStalled(t *testing.T) {
	e := newSlowEnv(t)
	stall := make(chan struct{})
	e.recv.mu.Lock()
	e.recv.stall = stall
	e.recv.mu.Unlock()
	t.Cleanup(func() { close(stall) }) // before the server's Close waits for it
	e.complete("ses-1", 1, central.FlowCompleted)
	start := time.Now()
	e.pass()
	took := time.Since(start)
	evs := e.pushEvents()
	if len(evs) != 1 {
		t.Fatalf("push events %+v, want one", evs)
	}
	as := e.attempts(evs[0].ID)
	t.Logf("a stalled push endpoint: the attempt ended after %v: %+v", took, as)
	if len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Excerpt, "timed out") {
		t.Fatalf("attempts %+v, want one timed out", as)
	}
	if evs[0].NextAt.IsZero() || !evs[0].DeliveredAt.IsZero() || !evs[0].DeadAt.IsZero() {
		t.Errorf("event %+v, want a retry", evs[0])
	}
	if took > slowTimeout+5*time.Second {
		t.Errorf("the attempt took %v, want within its bound", took)
	}
}
