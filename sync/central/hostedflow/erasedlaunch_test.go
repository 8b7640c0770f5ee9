package hostedflow_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestLaunchUsedAfterErasure: erasing a session's submission on request
// drops the browser's binding with the rest of its personal data, but not
// the launch link's single use: a link already started (the person's
// message history, a preview's cache) stays "used" and binds no other
// browser to the erased session, which would verify someone else under
// the partner's session for that person. The captures the session kept
// for its next attempt go with the erasure, not when it expires.
func TestLaunchUsedAfterErasure(t *testing.T) {
	e := newEnv(t, true) // engines: the page, to capture
	ctx := context.Background()
	pid, fc := e.initiate(nil)
	u, _ := url.Parse(fc.LaunchURL)
	b := e.browser()
	b.open(fc.LaunchURL)
	// The document captured, kept for the next attempt (a selfie retry).
	doc, _, _ := images(t)
	b.captureOnly("document", doc)
	hs := e.store.(central.HostedStates)
	docKey := central.HostedSessionKey(pid, fc.SessionID, "document")
	if _, err := hs.HostedState(ctx, docKey, e.clk.Now()); err != nil {
		t.Fatalf("the document capture before the erasure: %v", err)
	}

	// Its first attempt asks for a retry, as the flow records one.
	id := pid + ":" + fc.SessionID + "-1"
	sum := sha256.Sum256([]byte(id))
	ref := central.SubmissionRef{DeviceID: central.HostedDevice(""), Key: protocol.SubmissionKey(id)}
	if _, _, err := e.store.BeginSubmission(ctx, central.Submission{DeviceID: ref.DeviceID, Key: ref.Key, ID: id, ManifestHash: sum[:],
		CreatedAt: e.clk.Now(), ReceivedAt: e.clk.Now(), Verdict: "hosted", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateFlow(ctx, pid, fc.SessionID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		fs.Submissions, fs.Attempts, fs.NextAction = append(fs.Submissions, ref), 1, "RETRY"
		fs.Hosted.Stage = "result"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"device_id": ref.DeviceID, "submission_id": id})
	a := must(t, http.StatusAccepted, e.browser().do("POST", "/admin/v1/erasures", "application/json", body,
		map[string]string{"Authorization": "Bearer " + e.admin}))
	var er central.Erasure
	if err := json.Unmarshal(a.body, &er); err != nil || er.Status != central.ErasureDone || er.Erased != 1 {
		t.Fatalf("erasure %s, %v", a.body, err)
	}

	if _, err := hs.HostedState(ctx, docKey, e.clk.Now()); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the document capture after the erasure: %v, want ErrNotFound", err)
	}

	other := e.browser()
	if a := other.get(u.Path); a.status != http.StatusGone || !bytes.Contains(a.body, []byte(`data-state="used"`)) {
		t.Errorf("the launch link after the erasure: %d %.300s, want 410 used", a.status, a.body)
	}
	if a := other.post(u.Path, "application/x-www-form-urlencoded", nil); a.status != http.StatusGone {
		t.Errorf("its Start after the erasure: %d %.300s, want 410", a.status, a.body)
	}
	must(t, http.StatusUnauthorized, other.get("/flow/api/state"))
}

// erasingCaptures runs an erasure of ref just before the first capture's
// store write once armed: the erasure lands while the capture is in
// flight, after its session was read and before its bytes are stored.
type erasingCaptures struct {
	hostedStore
	ref   central.SubmissionRef
	now   func() time.Time
	armed atomic.Bool
	err   error
}

func (s *erasingCaptures) PutHostedState(ctx context.Context, key string, value []byte, expires time.Time) error {
	if strings.HasPrefix(key, "cap/") && s.armed.CompareAndSwap(true, false) {
		_, _, s.err = s.EraseFlows(ctx, s.ref, s.now())
	}
	return s.hostedStore.PutHostedState(ctx, key, value, expires)
}

// TestCaptureInFlightDuringErasure: a capture whose bytes were stored just
// before an erasure scrubbed its session is not recorded after it, and
// its bytes do not wait in the store for the session to expire.
func TestCaptureInFlightDuringErasure(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	s := &erasingCaptures{hostedStore: centraltest.BoltStore(t).(hostedStore), now: clk.Now}
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	e := newEnvOn(t, true, s, nil, key, clk)
	pid, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	// A first attempt asked for a retry: the session, capturing again,
	// holds the submission an erasure names.
	id := pid + ":" + fc.SessionID + "-1"
	s.ref = central.SubmissionRef{DeviceID: central.HostedDevice(""), Key: protocol.SubmissionKey(id)}
	if _, err := e.store.UpdateFlow(ctx, pid, fc.SessionID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		fs.Submissions, fs.Attempts, fs.NextAction = append(fs.Submissions, s.ref), 1, "RETRY"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	s.armed.Store(true)
	doc, _, _ := images(t)
	a := b.post("/flow/api/capture?step=document", "image/jpeg", doc)
	if s.err != nil || s.armed.Load() {
		t.Fatalf("the erasure in flight did not run: %v", s.err)
	}
	if a.status == http.StatusOK {
		t.Errorf("a capture stored as its session was erased: 200 %.200s, want it refused", a.body)
	}
	if _, err := s.HostedState(ctx, central.HostedSessionKey(pid, fc.SessionID, "document"), clk.Now()); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the capture's bytes after the erasure: %v, want ErrNotFound", err)
	}
	f, err := e.store.Flow(ctx, pid, fc.SessionID)
	if err != nil || f.ErasedAt.IsZero() || f.Hosted == nil || len(f.Hosted.Captured) != 0 {
		t.Errorf("the erased session: %+v (%v), want erased with nothing captured", f.Hosted, err)
	}
}

// erasingVerifications runs an erasure of ref once armed, at the moment
// at names: just after the verification read its selfie from the store
// ("load": the erasure lands while the verification runs on the bytes it
// holds), or just after it stored its attempt's submission ("store": the
// erasure lands before the session records the result).
type erasingVerifications struct {
	hostedStore
	at    string
	ref   central.SubmissionRef
	now   func() time.Time
	armed atomic.Bool
	err   error
}

func (s *erasingVerifications) erase(ctx context.Context, at string) {
	if s.at == at && s.armed.CompareAndSwap(true, false) {
		_, _, s.err = s.EraseFlows(ctx, s.ref, s.now())
	}
}

func (s *erasingVerifications) HostedState(ctx context.Context, key string, now time.Time) ([]byte, error) {
	b, err := s.hostedStore.HostedState(ctx, key, now)
	if strings.HasPrefix(key, "cap/") && strings.HasSuffix(key, "/selfie") {
		s.erase(ctx, "load")
	}
	return b, err
}

func (s *erasingVerifications) BeginSubmission(ctx context.Context, sub central.Submission) (protocol.UploadState, bool, error) {
	st, created, err := s.hostedStore.BeginSubmission(ctx, sub)
	s.erase(ctx, "store")
	return st, created, err
}

// TestVerificationInFlightDuringErasure: a verification running when an
// erasure scrubbed its session stores nothing after it: no submission of
// the person's document and face, no result in the erased session and no
// submission.completed with its decision for the partner. The erasure
// (of the session's first attempt, or of everything about the person)
// won; the browser that could have shown the result lost its binding with
// it.
func TestVerificationInFlightDuringErasure(t *testing.T) {
	for _, at := range []string{"load", "store"} {
		t.Run(at, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{}
			s := &erasingVerifications{hostedStore: centraltest.BoltStore(t).(hostedStore), at: at, now: clk.Now}
			key := make([]byte, partnerapi.SecretKeySize)
			rand.Read(key)
			e := newEnvOn(t, true, s, nil, key, clk)
			pid, fc := e.initiate(map[string]any{"max_retries": 3})
			b := e.browser()
			b.open(fc.LaunchURL)
			doc, selfie, _ := images(t)
			b.capture("document", doc)
			b.capture("selfie", selfie)
			// A first attempt, which the erasure names, is the session's.
			s.ref = central.SubmissionRef{DeviceID: central.HostedDevice(""), Key: protocol.SubmissionKey(pid + ":" + fc.SessionID + "-1")}
			if _, err := e.store.UpdateFlow(ctx, pid, fc.SessionID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
				fs.Submissions, fs.Attempts = append(fs.Submissions, s.ref), 1
				return nil, nil
			}); err != nil {
				t.Fatal(err)
			}
			s.armed.Store(true)
			must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
			e.waitReleased()
			if s.err != nil || s.armed.Load() {
				t.Fatalf("the erasure in flight did not run: %v", s.err)
			}
			second := central.SubmissionRef{DeviceID: central.HostedDevice(""), Key: protocol.SubmissionKey(pid + ":" + fc.SessionID + "-2")}
			if _, err := e.store.Upload(ctx, second.DeviceID, second.Key); !errors.Is(err, central.ErrNotFound) {
				t.Errorf("the attempt verified during the erasure was stored: %v, want ErrNotFound", err)
			}
			f, err := e.store.Flow(ctx, pid, fc.SessionID)
			if err != nil || f.ErasedAt.IsZero() || len(f.Submissions) != 1 || f.Hosted == nil || f.Hosted.Decision != "" || f.Status == central.FlowCompleted {
				t.Errorf("the erased session after the verification: status %s submissions %d hosted %+v (%v), want erased, no result",
					f.Status, len(f.Submissions), f.Hosted, err)
			}
			evs, err := e.store.Events(ctx, pid, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if ev.Type == central.EventSubmissionCompleted {
					t.Errorf("an event of the verification after the erasure: %s", ev.Payload)
				}
			}
		})
	}
}
