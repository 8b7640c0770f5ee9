package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// TestClockFastThenRight runs the device clock 6 minutes fast (central
// allows 5), then right again. Central answers 401 stale at each change;
// the agent takes central's time from the Date header, signs again and
// delivers. What must not happen, as it did before: a submission marked
// rejected, or any submission stored twice.
func TestClockFastThenRight(t *testing.T) {
	var stale atomic.Int64
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, status: 200}
			next.ServeHTTP(rec, r)
			if rec.status == http.StatusUnauthorized {
				stale.Add(1)
			}
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	var shift atomic.Int64
	shift.Store(int64(6 * time.Minute))
	deviceNow := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	u := r.uploader(t, agent.Config{Now: deviceNow})
	a := agent.New(u, v, agent.Options{Now: clock.Now})

	fast := capture(t, v, r.id, 0, 4, 20<<10)
	if sum := drain(t, a, clock, 5); sum.Synced != 4 || sum.Rejected != 0 {
		t.Fatalf("clock 6 minutes fast: %+v; want 4 synced, none rejected", sum)
	}
	if off := u.ClockOffset(); (off + 6*time.Minute).Abs() > 2*time.Second {
		t.Errorf("measured offset %v, want about -6m", off)
	}
	afterFast := stale.Load()
	if afterFast == 0 {
		t.Fatal("central never refused a request: the test proves nothing")
	}

	shift.Store(0) // the clock is put right (NTP, an operator)
	right := capture(t, v, r.id, 10, 4, 20<<10)
	if sum := drain(t, a, clock, 5); sum.Synced != 4 || sum.Rejected != 0 {
		t.Fatalf("clock right again: %+v; want 4 synced, none rejected", sum)
	}
	if off := u.ClockOffset(); off.Abs() > 2*time.Second {
		t.Errorf("measured offset %v after the clock was put right, want about 0", off)
	}
	if stale.Load() == afterFast {
		t.Error("central did not refuse the stale correction once the clock was right; the second half proves nothing")
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), append(fast, right...))
	for _, s := range append(fast, right...) {
		if e, err := v.OutboxStatus(context.Background(), s.ID); err != nil || e.State != vault.StateSynced || e.Attempts != 1 {
			t.Errorf("%s: %+v, %v; want synced at the first attempt", s.ID, e, err)
		}
	}
	log, err := v.AuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := countActions(log, "submission.rejected"); n != 0 {
		t.Errorf("%d submissions rejected", n)
	}
}

// TestCentralRestoredForgetsTheDevice replaces central by one restored
// from a backup taken before the device enrolled (same keys, address and
// certificate, no device record): every request gets 401 unknown_device.
// The submissions must stay queued, the pass must say why in words, and
// once the administrator re-enrols the device they must arrive, once.
func TestCentralRestoredForgetsTheDevice(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{Now: clock.Now})
	early := capture(t, v, r.id, 0, 1, 10<<10)
	if sum := drain(t, a, clock, 3); sum.Synced != 1 {
		t.Fatalf("before the restore: %+v", sum)
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), early)
	late := capture(t, v, r.id, 1, 3, 10<<10)

	r.central.Stop()
	restored, err := boltstore.Open(filepath.Join(t.TempDir(), "restored.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restored.Close() })
	c := synctest.StartCentral(t, restored, synctest.CentralOptions{Addr: r.central.Addr, Box: r.central.Box, Sign: r.central.Sign, TLSDir: r.central.TLSDir})
	for range 4 {
		p, err := a.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p.Synced != 0 || p.Rejected != 0 || p.RejectedTotal != 0 || p.QueueDepth != len(late) {
			t.Fatalf("pass against the restored central: %+v; want nothing synced, nothing rejected, %d queued", p, len(late))
		}
		if !errors.Is(p.Err, agent.ErrUnknownDevice) || !strings.Contains(p.LastError, "does not know this device") || !p.Online {
			t.Errorf("pass error %v (%q), online %v; want unknown device, in words", p.Err, p.LastError, p.Online)
		}
		clock.Advance(2 * time.Hour)
	}
	for _, s := range late {
		e, err := v.OutboxStatus(ctx, s.ID)
		if err != nil || e.State != vault.StateQueued {
			t.Fatalf("%s: %+v, %v; want queued", s.ID, e, err)
		}
	}
	c.EnrollIdentity(t, r.id) // the administrator re-enrols the device (same key)
	if sum := drain(t, a, clock, 5); sum.Synced != len(late) || sum.Rejected != 0 {
		t.Fatalf("after re-enrolment: %+v", sum)
	}
	synctest.CheckDelivered(t, restored, r.id.DeviceID(), late)
}

// TestOnlyUnprocessableIsFinal answers each kind of refusal to an upload
// once: every one but 422 leaves the submission queued (and delivered
// when central relents), classified and described; a 422 marks it
// rejected until an operator re-queues it.
func TestOnlyUnprocessableIsFinal(t *testing.T) {
	var refuse atomic.Pointer[protocol.Error]
	var status atomic.Int64
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if e := refuse.Load(); e != nil && isUpload(r) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(int(status.Load()))
				json.NewEncoder(w).Encode(e)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	a := agent.New(r.uploader(t, agent.Config{RetryMax: -1}), v, agent.Options{Now: clock.Now})
	ctx := context.Background()
	var all []vault.Submission
	for i, tc := range []struct {
		status int
		code   string
		want   error // nil: a *CentralError and nothing more
	}{
		{401, "stale", agent.ErrClockSkew},
		{401, "unknown_device", agent.ErrUnknownDevice},
		{401, "bad_signature", agent.ErrUnauthenticated},
		{401, "unsigned", agent.ErrUnauthenticated},
		{401, "replayed", agent.ErrUnauthenticated},
		{403, "revoked", agent.ErrRevoked},
		{400, "malformed", nil},
		{404, "unknown_submission", nil},
		{408, "timeout", nil},
		{413, "too_large", nil},
		{500, "internal", agent.ErrBusy},
		{503, "overloaded", agent.ErrBusy},
	} {
		t.Run(tc.code, func(t *testing.T) {
			s := capture(t, v, r.id, 100+i, 1, 2000)[0]
			all = append(all, s)
			status.Store(int64(tc.status))
			refuse.Store(&protocol.Error{Code: tc.code, Message: "test refusal"})
			p, err := a.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p.Synced != 0 || p.Rejected != 0 || p.Failed != 1 {
				t.Fatalf("pass %+v; want one failure, nothing rejected", p.Summary)
			}
			var ce *agent.CentralError
			if !errors.As(p.Err, &ce) || ce.Status != tc.status || ce.Code != tc.code || (tc.want != nil && !errors.Is(p.Err, tc.want)) {
				t.Errorf("pass error %v; want a CentralError %d %s (%v)", p.Err, tc.status, tc.code, tc.want)
			}
			if errors.Is(p.Err, agent.ErrRejected) || p.LastError == "" {
				t.Errorf("pass error %v (%q): final, or not in words", p.Err, p.LastError)
			}
			e, err := v.OutboxStatus(ctx, s.ID)
			if err != nil || e.State != vault.StateQueued || e.Reason == "" {
				t.Errorf("outbox %+v, %v; want queued with a reason", e, err)
			}
			refuse.Store(nil)
			clock.Advance(2 * time.Hour)
			if sum := drain(t, a, clock, 3); sum.Synced != 1 {
				t.Errorf("once central relents: %+v; want it delivered", sum)
			}
		})
	}

	// 422 is final until an operator re-queues.
	s := capture(t, v, r.id, 200, 1, 2000)[0]
	all = append(all, s)
	status.Store(http.StatusUnprocessableEntity)
	refuse.Store(&protocol.Error{Code: "attestation", Message: "test refusal"})
	p, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rej *agent.RejectionError
	if p.Rejected != 1 || !errors.As(p.Err, &rej) || rej.Code != "attestation" || p.RejectedTotal != 1 {
		t.Fatalf("422: pass %+v, %v; want the submission rejected", p, p.Err)
	}
	refuse.Store(nil)
	clock.Advance(2 * time.Hour)
	if sum := drain(t, a, clock, 2); sum.Synced != 0 {
		t.Fatalf("a rejected submission was sent again without an operator: %+v", sum)
	}
	if n, err := a.Requeue(ctx, "test operator", s.ID); err != nil || n != 1 {
		t.Fatalf("Requeue = %d, %v", n, err)
	}
	if sum := drain(t, a, clock, 3); sum.Synced != 1 {
		t.Fatalf("after the operator re-queued it: %+v", sum)
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), all)
}

// TestRejectionsOfOldAgentsRequeued: an agent before this one marked
// submissions rejected for a 401 or 403, and a central before this one
// refused attestations for their date alone (the device's clock); the
// first pass puts those back (and delivers them), leaving other 422s'
// rejections alone.
func TestRejectionsOfOldAgentsRequeued(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	v := r.openVault(t, vault.Options{})
	subs := capture(t, v, r.id, 0, 6, 1000)
	for i, reason := range []string{
		"central rejected the request: 401 stale: request timestamp is 6m0s away from central's clock",
		"central rejected the request: 403 revoked: device has been revoked",
		"central rejected the submission: 422 attestation: the attestation is dated 2000-01-01T00:00:00Z, older than the 720h0m0s central accepts",
		"central rejected the submission: 422 attestation: the attestation is dated 2026-12-10T09:28:41Z, after central's clock (2026-12-03T09:28:41Z)",
		"central rejected the request: 422 attestation: attestation was issued for another device",
		"central rejected the submission: 422 attestation: the attestation is dated 2000-01-01T00:00:00Z, older than the 720h0m0s central accepts, and signs no recent challenge of central's",
	} {
		if err := v.MarkState(ctx, subs[i].ID, vault.StateRejected, reason); err != nil {
			t.Fatal(err)
		}
	}
	p, err := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{}).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Synced != 4 || p.RejectedTotal != 2 {
		t.Fatalf("pass %+v; want the 401, the 403 and the date refusals delivered, the other 422s still rejected", p)
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs[:4])
}

func TestUploaderRefusesPlainHTTP(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	for url, ok := range map[string]bool{
		"http://central.example.org": false,
		"http://192.168.1.10:8443":   false,
		"http://127.0.0.1:8443":      true,
		"http://localhost:8443":      true,
		"https://central.example":    true,
	} {
		enr := r.enr
		enr.CentralURL = url
		_, err := agent.NewUploader(agent.Config{Identity: r.id, Enrollment: enr})
		if (err == nil) != ok {
			t.Errorf("NewUploader for %s: %v", url, err)
		}
	}
}
