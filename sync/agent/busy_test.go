package agent_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

// TestRetryAfterNowIsNoBusyLoop: a central that answers 503 with a
// Retry-After of nothing (0, a date in the past, a negative number) gets
// the uploader's own backoff between attempts, not a volley of them.
func TestRetryAfterNowIsNoBusyLoop(t *testing.T) {
	const waitMin = 100 * time.Millisecond
	for _, after := range []string{"0", "-30", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)} {
		t.Run(after, func(t *testing.T) {
			var mu sync.Mutex
			var at []time.Time
			wrap := answerUploads(func(_ http.Handler, w http.ResponseWriter, _ *http.Request) {
				mu.Lock()
				at = append(at, time.Now())
				mu.Unlock()
				w.Header().Set("Retry-After", after)
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			r := newRig(t, synctest.CentralOptions{Wrap: wrap})
			v := r.openVault(t, vault.Options{})
			capture(t, v, r.id, 0, 1, 1000)
			a := agent.New(r.uploader(t, agent.Config{RetryMax: 3, RetryWaitMin: waitMin, RetryWaitMax: time.Second}), v, agent.Options{})
			if _, err := a.SyncOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(at) != 4 {
				t.Fatalf("%d attempts; want 4", len(at))
			}
			for i := 1; i < len(at); i++ {
				if gap := at[i].Sub(at[i-1]); gap < waitMin/2 {
					t.Errorf("attempt %d came %v after the one before (Retry-After %q); want at least %v", i+1, gap, after, waitMin/2)
				}
			}
		})
	}
}

// TestServerErrorStormEndsThePass: a central failing every upload with
// 500 is not sent every queued submission's retries in one pass: the pass
// stops once two submissions in a row met it, the rest stay due, and all
// arrive once central recovers.
func TestServerErrorStormEndsThePass(t *testing.T) {
	var storm atomic.Bool
	var uploads atomic.Int64
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if storm.Load() && isUpload(r) {
				uploads.Add(1)
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 10, 1000)
	a := agent.New(r.uploader(t, agent.Config{RetryMax: 2}), v, agent.Options{Now: clock.Now})
	storm.Store(true)
	p, err := a.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := uploads.Load(); n > 2*3 {
		t.Errorf("%d uploads against a central failing every one in a pass; want the pass to stop after two submissions (%d)", n, 2*3)
	}
	if p.Synced != 0 || p.QueueDepth != len(subs) || p.LastError == "" {
		t.Errorf("pass in a 500 storm: %+v; want everything queued and a reason", p)
	}
	storm.Store(false)
	clock.Advance(2 * time.Hour)
	drain(t, a, clock, 10)
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
}
