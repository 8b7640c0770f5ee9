package webhook

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestRetryAfterHonoured: an endpoint's Retry-After (seconds or an HTTP
// date) puts the retry no sooner than it asks, as Standard Webhooks says,
// and no later than the schedule's longest wait (an endpoint asking for a
// year does not kill the event); one asking for less than the schedule
// gets the schedule. Over loopback TLS.
func TestRetryAfterHonoured(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := newClock()
	secret, _ := NewSecret()
	var mu sync.Mutex
	n := 0
	answers := []struct {
		status int
		after  func() string
	}{
		{http.StatusServiceUnavailable, func() string { return "120" }},
		{http.StatusServiceUnavailable, func() string { return "31536000" }}, // a year
		{http.StatusTooManyRequests, func() string { return "1" }},
		{http.StatusServiceUnavailable, func() string { return clk.Now().Add(3 * time.Hour).Format(http.TimeFormat) }},
	}
	srv, client := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		a := answers[min(n, len(answers)-1)]
		n++
		mu.Unlock()
		w.Header().Set("Retry-After", a.after())
		w.WriteHeader(a.status)
	})
	addPartner(t, st, "p1", srv.URL, nil, secret)
	if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "evt_1", clk.Now())}); err != nil {
		t.Fatal(err)
	}
	w := newWorker(t, st, clk, func(c *Config) { c.Client = client }) // jitter at its max: 5 s, 5 min, 30 min, 2 h
	for i, want := range []time.Duration{120 * time.Second, 10 * time.Hour, 30 * time.Minute, 3 * time.Hour} {
		at := clk.Now()
		if n, err := w.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("attempt %d: RunOnce = %d, %v", i+1, n, err)
		}
		ev := eventByID(t, st, "p1", "evt_1")
		if got := ev.NextAt.Sub(at); got != want || !ev.DeadAt.IsZero() {
			t.Fatalf("attempt %d (Retry-After %q): retry in %v (dead at %v), want %v", i+1, answers[i].after(), got, ev.DeadAt, want)
		}
		clk.Advance(want)
	}
}
