package webhook

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestHugeAnswerHeadersRefused: an endpoint answering with megabytes of
// headers (each of the pool's deliveries would hold them in memory) has
// its answer refused past httpx.MaxAnswerHeaderBytes: the attempt fails,
// recorded, and is retried; a plain answer is delivered. Over loopback
// TLS, through the worker's own outbound transport.
func TestHugeAnswerHeadersRefused(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := newClock()
	secret, _ := NewSecret()
	srv, client := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get(HeaderID) == "evt_big" {
			for i := range 64 {
				w.Header().Add("X-Padding", strings.Repeat(string(rune('a'+i%26)), 64<<10))
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	addPartner(t, st, "p1", srv.URL, nil, secret)
	if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "p1", "s1", "evt_big", clk.Now()), event(t, "p1", "s2", "evt_small", clk.Now())}); err != nil {
		t.Fatal(err)
	}
	// client is httpx.OutboundTransport's, as the worker's default, but
	// trusting the receiver's certificate.
	w := newWorker(t, st, clk, func(c *Config) { c.Client = client })
	if n, err := w.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	as, err := st.Attempts(ctx, "evt_big")
	if err != nil || len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Excerpt, "header") {
		t.Fatalf("evt_big attempts %+v, %v; want a refused answer", as, err)
	}
	if ev := eventByID(t, st, "p1", "evt_big"); !ev.DeliveredAt.IsZero() || ev.NextAt.IsZero() || !ev.DeadAt.IsZero() {
		t.Fatalf("evt_big %+v, want a retry", ev)
	}
	if ev := eventByID(t, st, "p1", "evt_small"); ev.DeliveredAt.IsZero() {
		t.Fatalf("evt_small not delivered: %+v", ev)
	}
}
