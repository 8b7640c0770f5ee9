package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

// nextPass waits for Run's next pass, with a deadline.
func nextPass(t *testing.T, passes <-chan agent.Pass) agent.Pass {
	t.Helper()
	select {
	case p := <-passes:
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("no pass within 30 s")
	}
	return agent.Pass{}
}

// TestRunReportsEachPassAndKick runs the loop as the app does, with an
// hour between passes: each pass is reported (online or not, queue,
// errors in words), Kick starts one at once, central hears the device's
// status, and the loop ends with its context.
func TestRunReportsEachPassAndKick(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	v := r.openVault(t, vault.Options{})
	passes := make(chan agent.Pass, 16)
	a := agent.New(r.uploader(t, agent.Config{RetryMax: -1}), v, agent.Options{
		PollInterval: time.Hour, AppVersion: "9.9", ConfigDir: t.TempDir(),
		OnPass: func(p agent.Pass) { passes <- p },
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()

	p := nextPass(t, passes)
	if !p.Online || p.QueueDepth != 0 || p.Err != nil || p.LastContact.IsZero() {
		t.Fatalf("first pass %+v (%v); want online, nothing queued, no error", p, p.Err)
	}
	subs := capture(t, v, r.id, 0, 2, 5000)
	// A risk configuration published now is fetched by the kicked pass,
	// not ConfigEvery (10 minutes) later.
	riskVersion, err := r.store.PutRisk(ctx, []byte(`{"max_retries":30}`))
	if err != nil {
		t.Fatal(err)
	}
	a.Kick() // "sync now": without it the next pass is an hour away
	p = nextPass(t, passes)
	if p.Synced != 2 || p.QueueDepth != 0 || !p.Online {
		t.Fatalf("pass after Kick %+v; want the 2 submissions synced", p)
	}
	if p.ConfigVersion != riskVersion {
		t.Errorf("configuration in use after Kick: version %d, want %d just published", p.ConfigVersion, riskVersion)
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
	if st := a.Status(); st.Synced != 2 || !st.At.Equal(p.At) {
		t.Errorf("Status() = %+v, want the last pass", st)
	}
	d, err := r.store.Device(ctx, r.id.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	if d.Status == nil || d.Status.AppVersion != "9.9" || d.Status.QueueDepth != 0 {
		t.Errorf("central's record of the device's status: %+v", d.Status)
	}

	// Central goes away; a capture waits in the outbox.
	r.central.Stop()
	late := capture(t, v, r.id, 5, 1, 5000)
	a.Kick()
	p = nextPass(t, passes)
	if p.Online || p.QueueDepth != 1 || p.OldestQueued.IsZero() || !errors.Is(p.Err, agent.ErrUnreachable) || !strings.Contains(p.LastError, "unreachable") {
		t.Fatalf("pass with central down %+v (%v); want offline, 1 queued, unreachable in words", p, p.LastError)
	}
	if p.LastContact.IsZero() {
		t.Error("offline pass lost the time of the last contact")
	}

	// Back again: the operator's "sync now" does not wait out the backoff.
	r.restartCentral(t, synctest.CentralOptions{})
	a.Kick()
	p = nextPass(t, passes)
	if p.Synced != 1 || p.QueueDepth != 0 || !p.Online || p.Err != nil {
		t.Fatalf("pass after central returned %+v (%v)", p, p.Err)
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), append(subs, late...))

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil when its context ends", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}

// TestImagesDroppedAndRetention: by default a delivered submission's images
// leave the vault at once and its record at the retention horizon;
// KeepImages keeps them; nothing undelivered is ever swept.
func TestImagesDroppedAndRetention(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	u := r.uploader(t, agent.Config{})

	kept := capture(t, v, r.id, 0, 1, 4000)[0]
	p, err := agent.New(u, v, agent.Options{Now: clock.Now, KeepImages: true}).RunOnce(ctx)
	if err != nil || p.Synced != 1 {
		t.Fatalf("pass %+v, %v", p, err)
	}
	if s, err := v.GetSubmission(ctx, kept.ID); err != nil || len(s.Images) != 2 {
		t.Fatalf("with KeepImages: %d images, %v", len(s.Images), err)
	}

	a := agent.New(u, v, agent.Options{Now: clock.Now, Retention: 24 * time.Hour, RetentionEvery: time.Hour})
	dropped := capture(t, v, r.id, 1, 1, 4000)[0]
	p, err = a.RunOnce(ctx)
	if err != nil || p.Synced != 1 {
		t.Fatalf("pass %+v, %v", p, err)
	}
	// The first pass also drops what the KeepImages run kept.
	if p.ImagesDropped != 1 {
		t.Errorf("the first pass dropped the images of %d earlier submissions, want 1", p.ImagesDropped)
	}
	for _, id := range []string{kept.ID, dropped.ID} {
		s, err := v.GetSubmission(ctx, id)
		if err != nil || len(s.Images) != 0 || len(s.Payload) == 0 {
			t.Errorf("%s: %d images, %v; want the record without images", id, len(s.Images), err)
		}
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), []vault.Submission{kept, dropped})

	// Two days on, central unreachable: delivered records go, the one
	// still waiting stays.
	r.central.Stop()
	waiting := capture(t, v, r.id, 2, 1, 4000)[0]
	clock.Advance(48 * time.Hour)
	p, err = a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Swept != 2 {
		t.Errorf("retention swept %d records, want the 2 delivered", p.Swept)
	}
	for _, id := range []string{kept.ID, dropped.ID} {
		if _, err := v.GetSubmission(ctx, id); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("%s after retention: %v, want gone", id, err)
		}
	}
	if s, err := v.GetSubmission(ctx, waiting.ID); err != nil || len(s.Images) != 2 {
		t.Errorf("the undelivered submission after retention: %d images, %v; want it whole", len(s.Images), err)
	}
}
