package hostedflow_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// TestExitRacingRetry: a tab that exits at a RETRY while another tab took
// the retry and submitted again (the submit lands between the exit reading
// the session and writing it) is refused (409 not_finished) rather than
// ending in ERROR user_exit a session being verified, whose result would
// then be stored over the exit: the partner told session.ended, then
// submission.completed.
func TestExitRacingRetry(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	s := &submittingStore{hostedStore: centraltest.BoltStore(t).(hostedStore), now: clk.Now}
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	e := newEnvOn(t, true, s, nil, key, clk) // engines: the page
	pid, fc := e.initiate(map[string]any{"max_retries": 3})
	b := e.browser()
	b.open(fc.LaunchURL)
	// The first attempt's result asks for a retry of the selfie.
	if _, err := e.store.UpdateFlow(ctx, pid, fc.SessionID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		fs.Attempts, fs.NextAction, fs.Status = 1, "RETRY", central.FlowInProgress
		fs.Hosted.Stage, fs.Hosted.RetryStep, fs.Hosted.Decision = "result", "selfie", "reject"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if st := b.state(); st.Stage != "result" || st.NextAction != "RETRY" {
		t.Fatalf("state before the exit: %+v", st)
	}
	s.armed.Store(true)
	if a := b.post("/flow/api/finish", "", nil); a.status != http.StatusConflict {
		t.Errorf("exit overtaken by a retry's submit: %d %s, want 409", a.status, a.body)
	}
	if s.armed.Load() {
		t.Fatal("the submit did not land")
	}
	f, err := e.store.Flow(ctx, pid, fc.SessionID)
	if err != nil || f.Status != central.FlowInProgress || f.ErrorCode != "" || !f.Hosted.FinishedAt.IsZero() {
		t.Errorf("session whose exit a submit overtook: status %s error %q finished %v (%v), want still being verified",
			f.Status, f.ErrorCode, f.Hosted.FinishedAt, err)
	}
	if evs, err := e.store.Events(ctx, pid, 0, 10); err != nil || len(evs) != 0 {
		t.Errorf("events: %+v %v, want none", evs, err)
	}
}
