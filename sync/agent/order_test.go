package agent_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

// tooManyCounter counts central's 429 answers to the requests through it.
type tooManyCounter struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (c *tooManyCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		c.n.Add(1)
	}
	return resp, err
}

// TestStartedUploadsResumeFirst: a device whose link dropped every image
// left central.MaxOpenUploads uploads open there, and the next manifest
// was refused (429 too_many_uploads, a minute's wait). Once the link is
// back, the outbox resumes the started uploads before it starts the
// backlog, older in the queue as it is: the whole backlog is delivered in
// one pass without another 429.
func TestStartedUploadsResumeFirst(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, central.MaxOpenUploads+3, 5000)

	var linkDown atomic.Bool
	linkDown.Store(true)
	tr := &tooManyCounter{base: r.newFaultTransport(t, func(_ int, req *http.Request) fault {
		if linkDown.Load() && strings.Contains(req.URL.Path, "/images/") {
			return dropRequest
		}
		return pass
	})}
	a := agent.New(r.uploader(t, agent.Config{Transport: tr, RetryMax: -1}), v, agent.Options{Now: clock.Now})

	sum, err := a.SyncOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != central.MaxOpenUploads+1 || sum.Paused.IsZero() || tr.n.Load() != 1 {
		t.Fatalf("with images dropped: %+v, %d answers 429; want %d failed, the last refused 429 and a pause", sum, tr.n.Load(), central.MaxOpenUploads+1)
	}
	for _, s := range subs[:central.MaxOpenUploads] {
		if e, err := v.OutboxStatus(ctx, s.ID); err != nil || !e.Started || e.State != vault.StateQueued {
			t.Fatalf("outbox entry of %s: %+v, %v; want queued and started", s.ID, e, err)
		}
	}

	linkDown.Store(false)
	clock.Advance(2 * time.Hour) // past the pause and every backoff: all due
	sum, err = a.SyncOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Synced != len(subs) || sum.Failed != 0 || !sum.Paused.IsZero() || tr.n.Load() != 1 {
		t.Errorf("once the link is back: %+v, %d answers 429 in all; want all %d synced in one pass, no 429", sum, tr.n.Load(), len(subs))
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
}
