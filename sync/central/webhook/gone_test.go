package webhook

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestGoneEndsTheEvent: an endpoint answering 410 Gone says it wants no
// more of this (Standard Webhooks: stop sending it messages), so the
// event is dead at once, with its attempt recorded, not retried for three
// days; the session's next event is not held back behind it, and an
// admin's replay still sends it once. Over loopback TLS.
func TestGoneEndsTheEvent(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := newClock()
	secret, _ := NewSecret()
	var mu sync.Mutex
	var got []string
	srv, client := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		id := r.Header.Get(HeaderID)
		mu.Lock()
		got = append(got, id)
		mu.Unlock()
		if id == "evt_1" {
			w.WriteHeader(http.StatusGone)
			io.WriteString(w, "no such hook")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	addPartner(t, st, "p1", srv.URL, nil, secret)
	e1, e2 := event(t, "p1", "s1", "evt_1", clk.Now()), event(t, "p1", "s1", "evt_2", clk.Now())
	if err := st.AppendEvents(ctx, []central.WebhookEvent{e1, e2}); err != nil {
		t.Fatal(err)
	}
	w := newWorker(t, st, clk, func(c *Config) { c.Client = client })
	if n, err := w.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	ev := eventByID(t, st, "p1", "evt_1")
	as, err := st.Attempts(ctx, "evt_1")
	if err != nil || len(as) != 1 || as[0].Status != http.StatusGone || as[0].Excerpt != "no such hook" {
		t.Fatalf("evt_1 attempts %+v, %v", as, err)
	}
	if ev.DeadAt.IsZero() || !ev.DeliveredAt.IsZero() {
		t.Fatalf("evt_1 after a 410: %+v, want dead at once (no retry)", ev)
	}
	if n, err := w.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce after the 410 = %d, %v; want evt_2 tried", n, err)
	}
	if ev := eventByID(t, st, "p1", "evt_2"); ev.DeliveredAt.IsZero() {
		t.Fatalf("evt_2 not delivered: %+v", ev)
	}
	if err := st.ReplayEvent(ctx, "evt_1", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := w.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce after the replay = %d, %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"evt_1", "evt_2", "evt_1"}; !slices.Equal(got, want) {
		t.Fatalf("the endpoint got %v, want %v", got, want)
	}
}
