package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// postSender is a push Sender that POSTs each event to url, as package
// push does (through a PacedClient, bounded by the attempt's ctx).
type postSender struct {
	url    string
	client *http.Client
}

func (s postSender) Send(ctx context.Context, _ central.Partner, ev central.WebhookEvent, _ time.Time) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(string(ev.Payload)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set(HeaderID, ev.ID)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, "", nil
}

// TestHangingPushDoesNotHoldBackWebhooks: a partner's push endpoint hangs
// on every request (many pushes due); its webhooks, to another endpoint
// on their own lanes, still go out at once: a hanging destination takes
// the partner's share of the pool (PerPartner) for itself only. So with
// the polling Worker, and with the job queue (QueueWorker, per instance).
func TestHangingPushDoesNotHoldBackWebhooks(t *testing.T) {
	for _, mode := range []string{"worker", "queue"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			secret, _ := NewSecret()
			hang, free := newHangingReceiver(t, secret)
			rc := newReceiver(t, secret, nil)
			cfg := Config{Workers: 8, PerPartner: 2, Timeout: time.Minute,
				Senders: map[string]Sender{"push.": postSender{url: hang.URL, client: PacedClient(nil)}}}
			var st central.Store
			var notify func()
			if mode == "queue" {
				qs := openQueueStore(t)
				st, notify = qs, func() {}
				addPartner(t, st, "A", rc.URL, nil, secret)
				startQueue(t, qs, cfg)
			} else {
				st = openStore(t)
				addPartner(t, st, "A", rc.URL, nil, secret)
				cfg.Store, cfg.Open = st, openPlain
				w, err := NewWorker(cfg)
				if err != nil {
					t.Fatal(err)
				}
				rctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); w.Run(rctx) }()
				t.Cleanup(func() { cancel(); free(); <-done })
				notify = w.Notify
			}
			t.Cleanup(free) // before the deliveries under way are waited for
			now := time.Now().UTC()
			var evs []central.WebhookEvent
			for i := range 10 {
				ev := event(t, "A", PushLane(fmt.Sprintf("s%02d", i)), fmt.Sprintf("evt_push%02d", i), now)
				ev.Type = EventPush
				evs = append(evs, ev)
			}
			if err := st.AppendEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			notify()
			hang.wait(t, 30*time.Second)
			hang.wait(t, 30*time.Second) // the partner's cap of pushes hangs
			if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, "A", "s00", "evt_hook", time.Now().UTC())}); err != nil {
				t.Fatal(err)
			}
			notify()
			if g := rc.wait(t, 15*time.Second); g.ID != "evt_hook" || g.Err != nil {
				t.Fatalf("the webhook endpoint got %+v", g)
			}
			if n := len(hang.requests()); n != 2 {
				t.Fatalf("the push endpoint holds %d requests, the partner's cap is 2", n)
			}
		})
	}
}
