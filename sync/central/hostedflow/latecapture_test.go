package hostedflow_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// endingStore applies end to the session just before the next capture's
// bytes are stored once armed: what another tab or the verification did
// (a finish, a result) lands while the capture is in flight, after it
// was checked and before it is stored.
type endingStore struct {
	hostedStore
	pid, sid string
	end      func(*central.FlowSession)
	armed    atomic.Bool
	err      error
}

func (s *endingStore) PutHostedState(ctx context.Context, key string, value []byte, expires time.Time) error {
	if strings.HasPrefix(key, "cap/") && s.armed.CompareAndSwap(true, false) {
		_, s.err = s.hostedStore.UpdateFlow(ctx, s.pid, s.sid, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
			s.end(fs)
			return nil, nil
		})
	}
	return s.hostedStore.PutHostedState(ctx, key, value, expires)
}

// TestLateCaptureNotKept: a capture refused because its session ended or
// got its result while it was in flight (409) does not leave the person's
// photo in the store until the session expires (the finish's or the
// result's deletion came before it was stored); a refused capture that
// put back the very bytes the session keeps for its next attempt leaves
// them.
func TestLateCaptureNotKept(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	s := &endingStore{hostedStore: centraltest.BoltStore(t).(hostedStore)}
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	e := newEnvOn(t, true, s, nil, key, clk)
	doc, selfie, _ := images(t)
	hs := e.store.(central.HostedStates)

	pid, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	b.captureOnly("document", doc)
	s.pid, s.sid = pid, fc.SessionID
	// The session's result arrives, keeping the document for a retry of
	// the selfie, as the selfie's capture is in flight.
	s.end = func(fs *central.FlowSession) {
		fs.Attempts, fs.NextAction, fs.Hosted.Stage, fs.Hosted.RetryStep = 1, "RETRY", "result", "selfie"
	}
	s.armed.Store(true)
	b.feed(selfie, 3)
	if a := b.post("/flow/api/capture?step=selfie", "image/jpeg", selfie); a.status != http.StatusConflict {
		t.Errorf("capture overtaken by a result: %d %.200s, want 409", a.status, a.body)
	}
	if s.err != nil || s.armed.Load() {
		t.Fatalf("the result did not land: %v", s.err)
	}
	if _, err := hs.HostedState(ctx, central.HostedSessionKey(pid, fc.SessionID, "selfie"), clk.Now()); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the refused selfie's bytes: %v, want ErrNotFound", err)
	}
	if _, err := hs.HostedState(ctx, central.HostedSessionKey(pid, fc.SessionID, "document"), clk.Now()); err != nil {
		t.Errorf("the document kept for the next attempt: %v", err)
	}

	// Another session: its document posted again, the same bytes, as the
	// result arrives: the document it keeps stays.
	pid2, fc2 := e.initiate(nil)
	b2 := e.browser()
	b2.open(fc2.LaunchURL)
	b2.captureOnly("document", doc)
	s.pid, s.sid = pid2, fc2.SessionID
	s.armed.Store(true)
	if a := b2.post("/flow/api/capture?step=document", "image/jpeg", doc); a.status != http.StatusConflict {
		t.Errorf("the same document overtaken by a result: %d %.200s, want 409", a.status, a.body)
	}
	if _, err := hs.HostedState(ctx, central.HostedSessionKey(pid2, fc2.SessionID, "document"), clk.Now()); err != nil {
		t.Errorf("the document the session keeps, posted again: %v, want kept", err)
	}

	// A third: the person finishes in another tab as the document is in
	// flight.
	pid3, fc3 := e.initiate(nil)
	b3 := e.browser()
	b3.open(fc3.LaunchURL)
	s.pid, s.sid = pid3, fc3.SessionID
	s.end = func(fs *central.FlowSession) { fs.Hosted.FinishedAt = clk.Now() }
	s.armed.Store(true)
	if a := b3.post("/flow/api/capture?step=document", "image/jpeg", doc); a.status != http.StatusConflict {
		t.Errorf("capture overtaken by a finish: %d %.200s, want 409", a.status, a.body)
	}
	if _, err := hs.HostedState(ctx, central.HostedSessionKey(pid3, fc3.SessionID, "document"), clk.Now()); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the refused document's bytes: %v, want ErrNotFound", err)
	}
}
