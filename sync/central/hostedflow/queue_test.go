package hostedflow_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// captureReads counts the captures read from the store, by session.
type captureReads struct {
	hostedStore
	mu   sync.Mutex
	read map[string]int
}

func (c *captureReads) HostedState(ctx context.Context, key string, now time.Time) ([]byte, error) {
	// cap/<partner>/<session>/<step>, ids in base64url.
	if parts := strings.Split(key, "/"); len(parts) == 4 && parts[0] == "cap" {
		sid, _ := base64.RawURLEncoding.DecodeString(parts[2])
		c.mu.Lock()
		c.read[string(sid)]++
		c.mu.Unlock()
	}
	return c.hostedStore.HostedState(ctx, key, now)
}

func (c *captureReads) of(sessionID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read[sessionID]
}

// TestWaitingHoldsNoCaptures: a submitted session waiting for a
// verification slot holds none of its captures (each up to 10 MB; a
// partner may have hundreds of sessions waiting): they are read once the
// slot is taken. One slot, held by the first session (its reference image
// is fetched inside it) while three more are submitted: theirs are read
// only after it is given back, and each then gets its result.
func TestWaitingHoldsNoCaptures(t *testing.T) {
	const waiting = 3
	doc, selfie, _ := images(t)
	raw := &captureReads{hostedStore: centraltest.BoltStore(t).(hostedStore), read: map[string]int{}}
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	gate := make(chan struct{})
	entered := make(chan string, 1)
	e := newEnvOn(t, true, raw, nil, key, &clock{}, func(c *hostedflow.Config) {
		c.MaxConcurrent = 1
		c.ReferenceImage = func(ctx context.Context, fs central.FlowSession) ([]byte, error) {
			entered <- fs.ID
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return selfie, nil
		}
	})
	submit := func(fc partnerapi.FlowCreated) *browser {
		t.Helper()
		b := e.browser()
		b.open(fc.LaunchURL)
		b.capture("document", doc)
		b.capture("selfie", selfie)
		must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
		return b
	}
	_, first := e.initiateWith(map[string]any{"use_reference_image": true}, func(pid string) {
		body, _ := json.Marshal(map[string]any{"url": "https://ref.example/ref", "auth": "bearer", "secret": "s3cret-reference"})
		must(t, http.StatusOK, e.browser().do("PUT", "/admin/v1/partners/"+pid+"/reference-image", "application/json", body,
			map[string]string{"Authorization": "Bearer " + e.admin}))
	})
	browsers := []*browser{submit(first)}
	<-entered // the first holds the one slot until the gate opens
	var queued []string
	for range waiting {
		var fc partnerapi.FlowCreated
		json.Unmarshal(must(t, http.StatusCreated, e.browser().do("POST", "/api/v1/flows", "application/json",
			[]byte(`{"partner_user_id":"cust-2"}`), map[string]string{"Authorization": "Bearer " + e.token})).body, &fc)
		browsers = append(browsers, submit(fc))
		queued = append(queued, fc.SessionID)
	}
	for _, sid := range queued {
		if n := raw.of(sid); n != 0 {
			t.Errorf("session %s waiting for a slot: %d captures read, want none", sid, n)
		}
	}
	if n := raw.of(first.SessionID); n != 2 {
		t.Errorf("the verification holding the slot read %d captures, want 2", n)
	}
	close(gate)
	for i, b := range browsers {
		if st := b.waitResult(); st.Stage != "result" {
			t.Errorf("session %d after the queue: %+v", i, st)
		}
	}
	for _, sid := range queued {
		if n := raw.of(sid); n != 2 {
			t.Errorf("session %s verified with %d captures read, want 2", sid, n)
		}
	}
}

// TestCaptureGoneBeforeSlot: a capture the store no longer holds when the
// verification takes its slot (its sealed value gone) sends the session
// back to that step, the other captures kept, rather than verifying
// without it or ending the session.
func TestCaptureGoneBeforeSlot(t *testing.T) {
	doc, selfie, _ := images(t)
	raw := &captureReads{hostedStore: centraltest.BoltStore(t).(hostedStore), read: map[string]int{}}
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	e := newEnvOn(t, true, raw, nil, key, &clock{})
	pid, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	b.capture("document", doc)
	b.capture("selfie", selfie)
	enc := base64.RawURLEncoding.EncodeToString
	if err := raw.DeleteHostedState(context.Background(), "cap/"+enc([]byte(pid))+"/"+enc([]byte(fc.SessionID))+"/document"); err != nil {
		t.Fatal(err)
	}
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	if st := b.waitResult(); st.Stage != "document" || st.Captures.Document || !st.Captures.Selfie || st.Attempt != 1 {
		t.Errorf("submitted without its document: %+v, want back at the document, the selfie kept", st)
	}
	b.capture("document", doc)
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	if st := b.waitResult(); st.Stage != "result" {
		t.Errorf("the document taken again: %+v", st)
	}
}

// heldSlot is an env whose one verification slot is held by a first
// session, holder (its reference image is fetched inside the slot), until
// gate is closed; queue submits a new session (its Initiate Flow body
// cfg) with both captures, so it waits for the slot.
type heldSlot struct {
	*env
	pid         string
	gate        chan struct{}
	doc, selfie []byte
	noFace      []byte
	holder      *browser
	holderID    string
	t           *testing.T
}

// holdSlot starts it; ttl is the holder's session_ttl in seconds (0: the
// default).
func holdSlot(t *testing.T, store hostedStore, clk *clock, ttl int, opts ...func(*hostedflow.Config)) *heldSlot {
	t.Helper()
	doc, selfie, noFace := images(t)
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	h := &heldSlot{gate: make(chan struct{}), doc: doc, selfie: selfie, noFace: noFace, t: t}
	entered := make(chan string, 1)
	h.env = newEnvOn(t, true, store, nil, key, clk, func(c *hostedflow.Config) {
		for _, o := range opts {
			o(c)
		}
		c.MaxConcurrent = 1
		c.ReferenceImage = func(ctx context.Context, fs central.FlowSession) ([]byte, error) {
			entered <- fs.ID
			select {
			case <-h.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return selfie, nil
		}
	})
	cfg := map[string]any{"use_reference_image": true}
	if ttl > 0 {
		cfg["session_ttl"] = ttl
	}
	pid, first := h.initiateWith(cfg, func(pid string) {
		body, _ := json.Marshal(map[string]any{"url": "https://ref.example/ref", "auth": "bearer", "secret": "s3cret-reference"})
		must(t, http.StatusOK, h.browser().do("PUT", "/admin/v1/partners/"+pid+"/reference-image", "application/json", body,
			map[string]string{"Authorization": "Bearer " + h.admin}))
	})
	h.pid, h.holderID = pid, first.SessionID
	holder := h.browser()
	h.holder = holder
	holder.open(first.LaunchURL)
	holder.capture("document", doc)
	holder.capture("selfie", selfie)
	must(t, http.StatusOK, holder.post("/flow/api/submit", "", nil))
	<-entered
	return h
}

func (h *heldSlot) queue(cfg string) (*browser, partnerapi.FlowCreated) {
	h.t.Helper()
	var fc partnerapi.FlowCreated
	json.Unmarshal(must(h.t, http.StatusCreated, h.browser().do("POST", "/api/v1/flows", "application/json",
		[]byte(cfg), map[string]string{"Authorization": "Bearer " + h.token})).body, &fc)
	b := h.browser()
	b.open(fc.LaunchURL)
	b.capture("document", h.doc)
	b.capture("selfie", h.selfie)
	must(h.t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	return b, fc
}

// TestQueuedPastTimeout: a verification that waited for its slot longer
// than processingTimeout (3 min) shows the person the selfie step again,
// as one whose instance died. A selfie uploaded then is verified as an
// upload (SELFIE_UPLOADED, review), not under the camera's origin the
// submit had seen; a submit again leaves the first run nothing to do, so
// the attempt is verified once. The slot is held by one session (its
// reference image is fetched inside it) until the gate opens; the queue
// is served in order, so the session submitted last finishes last.
func TestQueuedPastTimeout(t *testing.T) {
	raw := &captureReads{hostedStore: centraltest.BoltStore(t).(hostedStore), read: map[string]int{}}
	clk := &clock{}
	e := holdSlot(t, raw, clk, 0)
	pid, gate, selfie := e.pid, e.gate, e.selfie
	queued := func() (*browser, partnerapi.FlowCreated) {
		return e.queue(`{"partner_user_id":"cust-2","allow_upload":true,"max_retries":1}`)
	}
	again, ag := queued()
	uploaded, up := queued()
	clk.Advance(3*time.Minute + time.Second)
	for _, b := range []*browser{again, uploaded} {
		if st := b.state(); st.Stage != "selfie" {
			t.Fatalf("a verification queued past the timeout: %+v, want the selfie step", st)
		}
	}
	must(t, http.StatusOK, uploaded.post("/flow/api/capture?step=selfie&source=upload", "image/jpeg", selfie))
	must(t, http.StatusOK, again.post("/flow/api/submit", "", nil))
	last, _ := queued()
	close(gate)
	if st := last.waitResult(); st.Stage != "result" {
		t.Fatalf("the session submitted last: %+v", st)
	}

	f, err := e.store.Flow(context.Background(), pid, up.SessionID)
	if err != nil || len(f.Submissions) != 1 {
		t.Fatalf("the session whose selfie was uploaded while queued: %+v %v", f, err)
	}
	c, err := e.store.Case(context.Background(), f.Submissions[0])
	if err != nil || c.Summary.Decision != "review" || !slices.Contains(c.Summary.Reasons, hostedflow.ReasonSelfieUploaded) {
		t.Errorf("a selfie uploaded while queued: %+v %v, want review with SELFIE_UPLOADED", c.Summary, err)
	}
	if n := raw.of(ag.SessionID); n != 2 {
		t.Errorf("submitted again while queued: %d captures read, want 2 (one verification)", n)
	}
}

// TestQueueHeartbeat: a verification that waits for a slot longer than
// processingTimeout keeps its session's processing mark renewed, so the
// person sees it waiting (not the selfie step again, as for an instance
// that died) and then gets its result.
func TestQueueHeartbeat(t *testing.T) {
	clk := &clock{}
	e := holdSlot(t, centraltest.BoltStore(t).(hostedStore), clk, 0, func(c *hostedflow.Config) { c.QueueHeartbeat = 10 * time.Millisecond })
	b, fc := e.queue(`{"partner_user_id":"cust-2"}`)
	for range 3 { // 6 minutes in all, twice processingTimeout
		clk.Advance(2 * time.Minute)
		want := clk.Now().Truncate(time.Microsecond)
		deadline := time.After(30 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		for {
			f, err := e.store.Flow(context.Background(), e.pid, fc.SessionID)
			if err != nil {
				t.Fatal(err)
			}
			if !f.Hosted.ProcessingAt.Before(want) {
				break
			}
			select {
			case <-deadline:
				t.Fatalf("the waiting verification's mark was not renewed: %v, want %v", f.Hosted.ProcessingAt, want)
			case <-tick.C:
			}
		}
		tick.Stop()
		if st := b.state(); st.Stage != "processing" {
			t.Fatalf("a verification waiting for its slot: %+v, want processing", st)
		}
	}
	close(e.gate)
	if st := b.waitResult(); st.Stage != "result" {
		t.Errorf("after its wait: %+v, want its result", st)
	}
}

// TestExpiryWaitsForTheVerification: a session whose attempt was submitted
// before its time ran out is verified, queued for a slot or running, even
// if the expiry pass comes meanwhile: the pass leaves it, and its result
// completes it (no session.expired before a submission.completed).
func TestExpiryWaitsForTheVerification(t *testing.T) {
	clk := &clock{}
	e := holdSlot(t, centraltest.BoltStore(t).(hostedStore), clk, 120)
	short, sfc := e.queue(`{"partner_user_id":"cust-2","session_ttl":120}`)
	clk.Advance(2*time.Minute + time.Second) // past both ttls, within processingTimeout
	em, err := webhook.NewEmitter(webhook.EmitterConfig{Store: e.store, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := em.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(e.gate)
	for _, c := range []struct {
		name string
		b    *browser
		id   string
	}{{"running", e.holder, e.holderID}, {"queued", short, sfc.SessionID}} {
		if st := c.b.waitResult(); st.Stage != "result" {
			t.Errorf("%s when its time ran out: %+v, want its result", c.name, st)
		}
		f, err := e.store.Flow(context.Background(), e.pid, c.id)
		if err != nil || len(f.Submissions) != 1 || f.Status != central.FlowCompleted {
			t.Errorf("%s when its time ran out: %+v %v, want completed with its submission", c.name, f, err)
		}
		if got := eventTypes(t, e.env, e.pid, c.id); slices.Contains(got, central.EventSessionExpired) || !slices.Contains(got, central.EventSubmissionCompleted) {
			t.Errorf("%s when its time ran out: events %v", c.name, got)
		}
	}
}

// TestExpiredPastProcessingTimeout: a verification that outlives
// processingTimeout is taken for dead, so the expiry pass expires its
// session (session.expired); its result, when it comes after all, does not
// complete the session against what the partner was told.
func TestExpiredPastProcessingTimeout(t *testing.T) {
	clk := &clock{}
	e := holdSlot(t, centraltest.BoltStore(t).(hostedStore), clk, 120)
	clk.Advance(central.HostedProcessingTimeout + time.Second)
	em, err := webhook.NewEmitter(webhook.EmitterConfig{Store: e.store, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := em.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	last, _ := e.queue(`{"partner_user_id":"cust-3"}`)
	close(e.gate)
	if st := last.waitResult(); st.Stage != "result" { // the queue is served in order: the holder's run has ended
		t.Fatalf("the session submitted last: %+v", st)
	}
	f, err := e.store.Flow(context.Background(), e.pid, e.holderID)
	if err != nil || f.Status != central.FlowExpired {
		t.Errorf("expired during its verification: %+v %v, want EXPIRED", f, err)
	}
	if got := eventTypes(t, e.env, e.pid, e.holderID); !slices.Contains(got, central.EventSessionExpired) || slices.Contains(got, central.EventSubmissionCompleted) {
		t.Errorf("expired during its verification: events %v, want session.expired and no submission.completed", got)
	}
}

// eventTypes are the types of the webhook events of a session, oldest first.
func eventTypes(t *testing.T, e *env, pid, sessionID string) []string {
	t.Helper()
	evs, err := e.store.Events(context.Background(), pid, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.SessionID == sessionID {
			out = append(out, ev.Type)
		}
	}
	return out
}

// TestCaptureReplacedWhileQueued: a verification takes only the bytes its
// session recorded. A capture refused once the session was processing (409)
// had already written its bytes over the step's; a race of an upload with
// the submit would verify the uploaded selfie as the camera's. Here the
// selfie's stored bytes are replaced while the session waits for its slot:
// it goes back to the selfie step instead of being verified.
func TestCaptureReplacedWhileQueued(t *testing.T) {
	e := holdSlot(t, centraltest.BoltStore(t).(hostedStore), &clock{}, 0)
	pid, gate, noFace := e.pid, e.gate, e.noFace
	queued := func(user string) (*browser, partnerapi.FlowCreated) {
		return e.queue(`{"partner_user_id":"` + user + `"}`)
	}
	replaced, fc := queued("cust-2")
	enc := base64.RawURLEncoding.EncodeToString
	if err := e.store.(central.HostedStates).PutHostedState(context.Background(),
		"cap/"+enc([]byte(pid))+"/"+enc([]byte(fc.SessionID))+"/selfie", noFace, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	last, _ := queued("cust-3")
	close(gate)
	if st := last.waitResult(); st.Stage != "result" {
		t.Fatalf("the session submitted last: %+v", st)
	}
	if st := replaced.state(); st.Stage != "selfie" || st.Captures.Selfie || !st.Captures.Document {
		t.Errorf("its selfie replaced while queued: %+v, want back at the selfie, the document kept", st)
	}
	if f, err := e.store.Flow(context.Background(), pid, fc.SessionID); err != nil || len(f.Submissions) != 0 {
		t.Errorf("its selfie replaced while queued: %+v %v, want no submission", f, err)
	}
}
