package push_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/central/push"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/webhook"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// pg is the PostgreSQL server of the tests that need one.
var pg pgtest.Lazy

func TestMain(m *testing.M) { pg.Main(m) }

func pgStore(t *testing.T) central.Store {
	return centraltest.PGStore(t, pg.Server(t))
}

// tokenServer is the partner's OAuth2 token endpoint: client credentials
// in, a bearer token out; tokens can be revoked.
type tokenServer struct {
	srv            *httptest.Server
	clientID, pass string
	mu             sync.Mutex
	issued         map[string]bool // token -> still valid
	requests       int
}

func newTokenServer(t testing.TB, clientID, secret string) *tokenServer {
	ts := &tokenServer{clientID: clientID, pass: secret, issued: map[string]bool{}}
	ts.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.requests++
		n := ts.requests
		ts.mu.Unlock()
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		id, pass, ok := r.BasicAuth()
		if !ok {
			id, pass = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		w.Header().Set("Content-Type", "application/json")
		if id != ts.clientID || pass != ts.pass {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		tok := fmt.Sprintf("tok-%d-%s", n, rand.Text()[:8])
		ts.mu.Lock()
		ts.issued[tok] = true
		ts.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *tokenServer) valid(tok string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issued[tok]
}

func (ts *tokenServer) revokeAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for k := range ts.issued {
		ts.issued[k] = false
	}
}

func (ts *tokenServer) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.requests
}

// got is one push the receiver took: its envelope decrypted with the
// partner's key.
type got struct {
	raw     []byte // the body as sent
	plain   []byte // decrypted
	env     push.Envelope
	sub     partnerapi.PushSubmission
	openErr error
	idem    string
	status  int
	// length is the Content-Length announced, te the Transfer-Encoding.
	length int64
	te     []string
}

// receiver is the partner's push endpoint: it checks the bearer token with
// the token server, decrypts with its key and answers what answer says.
// Like an AWS API Gateway REST API or some WAFs, it refuses a body whose
// length is not announced (chunked) with 411.
type receiver struct {
	srv    *httptest.Server
	tokens *tokenServer
	mu     sync.Mutex
	key    []byte
	got    []got
	answer func(n int) (int, string)
	// retryAfter, when set, is the Retry-After of answer n ("" for none).
	retryAfter func(n int) string
	// discard, when set, drops each body unread beyond the bytes, answers
	// success and records nothing (for benchmarks).
	discard atomic.Bool
	// rate, when set, is the bytes a second it reads a body at (a slow
	// link); stall, when set, makes it read nothing and answer nothing
	// until it is closed.
	rate  atomic.Int64
	stall chan struct{}
}

func newReceiver(t testing.TB, tokens *tokenServer) *receiver {
	rc := &receiver{tokens: tokens}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength < 0 {
			w.WriteHeader(http.StatusLengthRequired)
			io.WriteString(w, `{"message":"Length Required"}`)
			return
		}
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !rc.tokens.valid(tok) {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"status":"failure","reason":"invalid token"}`)
			return
		}
		rc.mu.Lock()
		stall := rc.stall
		rc.mu.Unlock()
		if stall != nil {
			<-stall
			return
		}
		if rc.discard.Load() {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, `{"status":"success"}`)
			return
		}
		g := got{length: r.ContentLength, te: r.TransferEncoding}
		g.idem = r.Header.Get("Idempotency-Key")
		var body []byte
		if rate := rc.rate.Load(); rate > 0 {
			body, _ = readPaced(r.Body, rate)
		} else {
			body, _ = io.ReadAll(r.Body)
		}
		g.raw = body
		if err := json.Unmarshal(body, &g.env); err != nil {
			g.openErr = err
		}
		rc.mu.Lock()
		key := rc.key
		rc.mu.Unlock()
		if g.openErr == nil {
			if g.plain, g.openErr = push.Open(key, g.env); g.openErr == nil {
				g.openErr = json.Unmarshal(g.plain, &g.sub)
			}
		}
		rc.mu.Lock()
		n := len(rc.got)
		g.status = http.StatusOK
		msg := fmt.Sprintf(`{"status":"success","reference":"ref-%d"}`, n)
		if rc.answer != nil {
			g.status, msg = rc.answer(n)
		}
		if rc.retryAfter != nil {
			if v := rc.retryAfter(n); v != "" {
				w.Header().Set("Retry-After", v)
			}
		}
		rc.got = append(rc.got, g)
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(g.status)
		io.WriteString(w, msg)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []got {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func (rc *receiver) setKey(b64 string) error {
	k, err := base64.StdEncoding.DecodeString(b64)
	rc.mu.Lock()
	rc.key = k
	rc.mu.Unlock()
	return err
}

type fakeClock = synctest.Clock

// env is a sealed store with the partner API, a partner with the push
// configured against a real token endpoint and receiver over TLS on
// loopback, and the webhook emitter and worker with the push Sender.
type env struct {
	t       testing.TB
	store   central.Store
	api     *partnerapi.API
	clk     *fakeClock
	partner central.Partner
	keyID   string
	tokens  *tokenServer
	recv    *receiver
	emitter *webhook.Emitter
	worker  *webhook.Worker
	images  map[string][]byte
}

func newEnv(t testing.TB, raw central.Store) *env { return newEnvWith(t, raw, nil) }

// newEnvWith is newEnv with the partner API reading the store through
// wrap.
func newEnvWith(t testing.TB, raw central.Store, wrap func(central.Store) central.Store) *env {
	t.Helper()
	ctx := context.Background()
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	store := seal.New(raw, kr, kr)
	t.Cleanup(func() { store.Close() })
	clk := synctest.NewClock(time.Now().UTC().Truncate(time.Second))
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	apiStore := central.Store(store)
	if wrap != nil {
		apiStore = wrap(store)
	}
	api, err := partnerapi.New(partnerapi.Config{Store: apiStore, SecretKey: key, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.CreatePartner(ctx, "test", partnerapi.NewPartner{Name: "Acme Bank"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, api: api, clk: clk, tokens: newTokenServer(t, "acme-central", "s3cret-client-pass"),
		images: map[string][]byte{"front": centraltest.JPEG(t, 320, 200), "selfie": centraltest.JPEG(t, 120, 160)}}
	e.recv = newReceiver(t, e.tokens)
	res, err := api.SetPush(ctx, "test", c.Partner.ID, partnerapi.PushRequest{URL: e.recv.srv.URL + "/kyc",
		TokenURL: e.tokens.srv.URL + "/oauth/token", ClientID: "acme-central", ClientSecret: "s3cret-client-pass", Scopes: []string{"kyc.write"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.EncryptionKey == "" || res.KeyID == "" || res.Partner.Push == nil || res.Partner.Push.ClientID != "acme-central" {
		t.Fatalf("SetPush answered %+v", res)
	}
	if err := e.recv.setKey(res.EncryptionKey); err != nil {
		t.Fatal(err)
	}
	e.keyID = res.KeyID
	if e.partner, err = store.Partner(ctx, c.Partner.ID); err != nil {
		t.Fatal(err)
	}
	sender, err := push.New(push.Config{Source: api, Client: e.recv.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if e.worker, err = webhook.NewWorker(webhook.Config{Store: store, Now: clk.Now, Timeout: 10 * time.Second,
		Open:     func(string, []byte) ([]byte, error) { return nil, errors.New("no webhook in these tests") },
		Schedule: []time.Duration{time.Minute}, Jitter: func(max time.Duration) time.Duration { return max },
		Senders: map[string]webhook.Sender{push.SenderPrefix: sender}}); err != nil {
		t.Fatal(err)
	}
	if e.emitter, err = webhook.NewEmitter(webhook.EmitterConfig{Store: store, Now: clk.Now}); err != nil {
		t.Fatal(err)
	}
	return e
}

// complete stores attempt n of a hosted session as the hosted flow does:
// the submission with its images, then the session updated with
// submission.completed in the same transaction (status COMPLETED, or
// IN_PROGRESS for a RETRY).
func (e *env) complete(sessionID string, attempt int, status central.FlowStatus) central.SubmissionRef {
	e.t.Helper()
	ctx := context.Background()
	now := e.clk.Now()
	if attempt == 1 {
		if err := e.store.CreateFlow(ctx, central.FlowSession{ID: sessionID, PartnerID: e.partner.ID, UserID: "user-42",
			UserIDType: "customer_id", Config: json.RawMessage(`{}`), Status: central.FlowInProgress, CreatedAt: now,
			UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			e.t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "console", "testdata", "payload_device.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatal(err)
	}
	m["session_id"], m["attempt"] = sessionID, attempt
	pl, _ := json.Marshal(m)
	sum := central.Summarize(pl)
	id := fmt.Sprintf("%s:%s-%d", e.partner.ID, sessionID, attempt)
	key := protocol.SubmissionKey(id)
	sub := central.Submission{DeviceID: "hosted", Key: key, ID: id, ManifestHash: []byte(id), CreatedAt: now, ReceivedAt: now,
		Verdict: "hosted", Payload: pl, Summary: &sum}
	for _, name := range []string{"front", "selfie"} {
		h := sha256.Sum256(e.images[name])
		sub.Images = append(sub.Images, central.ImageProgress{ImageMeta: protocol.ImageMeta{Name: name, Size: int64(len(e.images[name])), SHA256: h[:]}})
	}
	if _, _, err := e.store.BeginSubmission(ctx, sub); err != nil {
		e.t.Fatal(err)
	}
	for _, name := range []string{"front", "selfie"} {
		img := e.images[name]
		for off := 0; off < len(img); off += protocol.MaxChunkSize {
			c := central.Chunk{DeviceID: "hosted", Key: key, Image: name, Offset: int64(off), Data: img[off:min(off+protocol.MaxChunkSize, len(img))], At: now}
			if _, err := e.store.AppendChunk(ctx, c); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	ref := central.SubmissionRef{DeviceID: "hosted", Key: key}
	_, err = e.store.UpdateFlow(ctx, e.partner.ID, sessionID, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		f.Submissions = append(f.Submissions, ref)
		f.Status, f.Attempts, f.UpdatedAt = status, attempt, now
		f.NextAction = "STATUS"
		if status != central.FlowCompleted {
			f.NextAction = "RETRY"
		}
		ev, err := webhook.NewEvent(central.EventSubmissionCompleted, f.PartnerID, f.ID, webhook.Data{SessionID: f.ID,
			PartnerUserID: f.UserID, PartnerUserIDType: f.UserIDType, Status: f.Status, NextAction: f.NextAction,
			Attempts: f.Attempts, Attempt: attempt}, now, webhook.EventID(central.EventSubmissionCompleted, "hosted", f.ID, fmt.Sprint(attempt)))
		return []central.WebhookEvent{ev}, err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// pass runs the emitter once, then the worker once.
func (e *env) pass() {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.emitter.RunOnce(ctx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.worker.RunOnce(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// pushEvents are the partner's push events, oldest first.
func (e *env) pushEvents() []central.WebhookEvent {
	e.t.Helper()
	evs, err := e.store.Events(context.Background(), e.partner.ID, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []central.WebhookEvent
	for _, ev := range evs {
		if ev.Type == webhook.EventPush {
			out = append(out, ev)
		}
	}
	return out
}

func (e *env) attempts(eventID string) []central.DeliveryAttempt {
	e.t.Helper()
	as, err := e.store.Attempts(context.Background(), eventID)
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

// TestPushDelivered: a completed hosted session of a partner with the push
// reaches its HTTPS endpoint with an OAuth2 token from its token endpoint,
// encrypted under the shared key; the partner decrypts the whole
// submission (identity, document fields with sources, face, the images
// byte for byte) and its confirmation is recorded. A second push reuses
// the token; an envelope moved to another id does not open.
func TestPushDelivered(t *testing.T) {
	for _, st := range []struct {
		name string
		open func(*testing.T) central.Store
	}{{"bolt", func(t *testing.T) central.Store { return centraltest.BoltStore(t) }}, {"postgres", pgStore}} {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t, st.open(t))
			e.complete("ses-1", 1, central.FlowCompleted)
			e.pass()
			gs := e.recv.all()
			if len(gs) != 1 {
				t.Fatalf("receiver got %d pushes, want 1", len(gs))
			}
			g := gs[0]
			if g.openErr != nil {
				t.Fatalf("the partner could not open the push: %v", g.openErr)
			}
			// What central sends is what openapi.json's webhooks section says.
			apitest.Schema(t, "PushEnvelope", g.raw)
			apitest.Schema(t, "PushSubmission", g.plain)
			evs := e.pushEvents()
			if len(evs) != 1 || evs[0].SessionID != "push/ses-1" || evs[0].DeliveredAt.IsZero() {
				t.Fatalf("push events %+v, want one delivered on lane push/ses-1", evs)
			}
			ev := evs[0]
			if g.env.ID != ev.ID || g.idem != ev.ID || g.env.KeyID != e.keyID || g.env.PartnerID != e.partner.ID || g.env.Alg != "A256GCM" || len(g.env.Nonce) != 12 {
				t.Errorf("envelope %+v (Idempotency-Key %q), want id %s kid %s", g.env, g.idem, ev.ID, e.keyID)
			}
			s := g.sub
			if s.ID != ev.ID || s.Type != partnerapi.PushType || s.User.PartnerUserID != "user-42" || s.User.PartnerUserIDType != "customer_id" ||
				s.User.SessionID != "ses-1" || s.User.DeviceID != "hosted" || s.Session.Status != central.FlowCompleted {
				t.Errorf("push identity %+v session %+v", s.User, s.Session)
			}
			if s.Submission == nil || s.Submission.Document == nil || s.Submission.Face == nil || s.Submission.Attempt != 1 {
				t.Fatalf("push submission %+v", s.Submission)
			}
			if f := s.Submission.Document.Fields["surname"]; f.Value != "SPECIMEN" || f.Source != "mrz" {
				t.Errorf("surname %+v, want SPECIMEN from mrz", f)
			}
			if len(s.Submission.Images) != 0 {
				t.Errorf("a push carries the images themselves, not links: %+v", s.Submission.Images)
			}
			if len(s.Images) != 2 {
				t.Fatalf("push images %d, want front and selfie", len(s.Images))
			}
			for _, im := range s.Images {
				h := sha256.Sum256(e.images[im.Name])
				if string(im.Data) != string(e.images[im.Name]) || im.SHA256 != hex.EncodeToString(h[:]) || im.ContentType != "image/jpeg" {
					t.Errorf("image %s: %d bytes %s %s, not the stored one", im.Name, len(im.Data), im.SHA256, im.ContentType)
				}
			}
			as := e.attempts(ev.ID)
			if len(as) != 1 || as[0].Status != 200 || !strings.Contains(as[0].Excerpt, `"reference":"ref-0"`) {
				t.Errorf("attempts %+v, want one 200 with the confirmation", as)
			}
			// The partner's key opens nothing moved to another id.
			moved := g.env
			moved.ID = "psh_other"
			if _, err := push.Open(e.recv.key, moved); !errors.Is(err, push.ErrOpen) {
				t.Errorf("an envelope moved to another id opened: %v", err)
			}
			// A second session's push reuses the token.
			e.complete("ses-2", 1, central.FlowCompleted)
			e.pass()
			if n := len(e.recv.all()); n != 2 {
				t.Fatalf("receiver got %d pushes, want 2", n)
			}
			if n := e.tokens.count(); n != 1 {
				t.Errorf("token endpoint called %d times, want 1 (the token reused until it expires)", n)
			}
			// A repeated pass pushes nothing again.
			e.pass()
			if n := len(e.pushEvents()); n != 2 || len(e.recv.all()) != 2 {
				t.Errorf("after a repeated pass: %d push events, %d pushes; want 2 and 2", n, len(e.recv.all()))
			}
		})
	}
}

// TestPushRetried: a failing push endpoint (503, then a 2xx whose
// confirmation says failure) is retried with the worker's backoff until it
// confirms; every attempt is logged, each try sealed with a new nonce
// under the same push id.
func TestPushRetried(t *testing.T) {
	e := newEnv(t, centraltest.BoltStore(t))
	e.recv.answer = func(n int) (int, string) {
		switch n {
		case 0:
			return http.StatusServiceUnavailable, `{"status":"failure","reason":"maintenance"}`
		case 1:
			return http.StatusOK, `{"status":"failure","reason":"could not store"}`
		}
		return http.StatusOK, `{"status":"success","reference":"kyc-778"}`
	}
	e.complete("ses-r", 1, central.FlowCompleted)
	e.pass()
	ev := e.pushEvents()[0]
	for i := range 2 {
		ev = e.pushEvents()[0]
		if !ev.DeliveredAt.IsZero() || ev.NextAt.IsZero() || ev.Attempts != i+1 {
			t.Fatalf("after failed attempt %d: %+v", i+1, ev)
		}
		e.pass() // not due yet: nothing sent
		if n := len(e.recv.all()); n != i+1 {
			t.Fatalf("sent before its retry was due: %d requests", n)
		}
		e.clk.Advance(time.Minute)
		e.pass()
	}
	ev = e.pushEvents()[0]
	if ev.DeliveredAt.IsZero() || ev.Attempts != 3 {
		t.Fatalf("after the third attempt: %+v, want delivered", ev)
	}
	as := e.attempts(ev.ID)
	if len(as) != 3 || as[0].Status != 503 || as[1].Status != 200 || !strings.Contains(as[1].Excerpt, "failure") ||
		as[2].Status != 200 || !strings.Contains(as[2].Excerpt, "kyc-778") {
		t.Errorf("attempts %+v", as)
	}
	gs := e.recv.all()
	for i, g := range gs {
		if g.openErr != nil || g.env.ID != ev.ID {
			t.Errorf("try %d: %v, id %s", i, g.openErr, g.env.ID)
		}
	}
	if string(gs[0].env.Nonce) == string(gs[2].env.Nonce) {
		t.Error("two tries were sealed with one nonce")
	}
}

// TestPushRetryAfter: a push endpoint answering 503 with Retry-After: 120
// gets its next attempt no sooner than that, not after the schedule's
// first wait (1 min here), and is not asked again before; the push is
// delivered once it is due. Over loopback TLS, on the worker's clock.
func TestPushRetryAfter(t *testing.T) {
	e := newEnv(t, centraltest.BoltStore(t))
	// The schedule's longest wait (10 h) bounds what Retry-After may ask;
	// its first is shorter than the 120 s asked.
	sender, err := push.New(push.Config{Source: e.api, Client: e.recv.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if e.worker, err = webhook.NewWorker(webhook.Config{Store: e.store, Now: e.clk.Now, Timeout: 10 * time.Second,
		Open:     func(string, []byte) ([]byte, error) { return nil, errors.New("no webhook in these tests") },
		Schedule: []time.Duration{time.Minute, 10 * time.Hour}, Jitter: func(max time.Duration) time.Duration { return max },
		Senders: map[string]webhook.Sender{push.SenderPrefix: sender}}); err != nil {
		t.Fatal(err)
	}
	e.recv.answer = func(n int) (int, string) {
		if n == 0 {
			return http.StatusServiceUnavailable, `{"status":"failure","reason":"maintenance"}`
		}
		return http.StatusOK, `{"status":"success","reference":"kyc-779"}`
	}
	e.recv.retryAfter = func(n int) string {
		if n == 0 {
			return "120"
		}
		return ""
	}
	e.complete("ses-ra", 1, central.FlowCompleted)
	at := e.clk.Now()
	e.pass()
	ev := e.pushEvents()[0]
	if !ev.DeliveredAt.IsZero() || ev.Attempts != 1 || !ev.DeadAt.IsZero() {
		t.Fatalf("after the 503: %+v, want a retry", ev)
	}
	if got := ev.NextAt.Sub(at); got < 120*time.Second {
		t.Fatalf("retry scheduled %v after the 503, want at least its Retry-After (120 s)", got)
	}
	e.clk.Advance(time.Minute) // the schedule's first wait: not yet
	e.pass()
	if n := len(e.recv.all()); n != 1 {
		t.Fatalf("pushed again %d times before the Retry-After had passed", n-1)
	}
	e.clk.Advance(time.Minute)
	e.pass()
	if ev = e.pushEvents()[0]; ev.DeliveredAt.IsZero() || ev.Attempts != 2 {
		t.Fatalf("once the Retry-After had passed: %+v, want delivered on the second attempt", ev)
	}
}

// TestPushToken: a token the partner revoked before its expiry (401) is
// replaced once within the attempt; a token endpoint refusing central's
// credentials fails the attempt naming it, and nothing reaches the push
// endpoint.
func TestPushToken(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, centraltest.BoltStore(t))
	e.complete("ses-a", 1, central.FlowCompleted)
	e.pass()
	e.tokens.revokeAll()
	e.complete("ses-b", 1, central.FlowCompleted)
	e.pass()
	gs := e.recv.all()
	if len(gs) != 2 || gs[1].openErr != nil || gs[1].sub.User.SessionID != "ses-b" {
		t.Fatalf("pushes %d, want 2 (the second after a new token)", len(gs))
	}
	if n := e.tokens.count(); n != 2 {
		t.Errorf("token endpoint called %d times, want 2", n)
	}
	for _, ev := range e.pushEvents() {
		if ev.DeliveredAt.IsZero() || ev.Attempts != 1 {
			t.Errorf("push %s: %+v, want delivered at the first attempt", ev.ID, ev)
		}
	}
	// Central's client secret changed at central only: the token endpoint
	// refuses it.
	if _, err := e.api.SetPush(ctx, "test", e.partner.ID, partnerapi.PushRequest{URL: e.recv.srv.URL + "/kyc",
		TokenURL: e.tokens.srv.URL + "/oauth/token", ClientID: "acme-central", ClientSecret: "wrong-secret"}); err != nil {
		t.Fatal(err)
	}
	e.complete("ses-c", 1, central.FlowCompleted)
	e.pass()
	if n := len(e.recv.all()); n != 2 {
		t.Errorf("the push endpoint got %d requests, want still 2", n)
	}
	evs := e.pushEvents()
	last := evs[len(evs)-1]
	as := e.attempts(last.ID)
	if !last.DeliveredAt.IsZero() || len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Excerpt, "getting the OAuth2 token") ||
		!strings.Contains(as[0].Excerpt, "401") || strings.Contains(as[0].Excerpt, "wrong-secret") {
		t.Errorf("attempt %+v, want a failure naming the token endpoint's 401 without the secret", as)
	}
}

// TestPushWhatIsPushed: an attempt that ends in RETRY is not pushed, the
// one that completes the session is (its submission, not the first); a
// rotated key encrypts the next push (new kid; the old key no longer
// opens it); a partner without the push gets no push events.
func TestPushWhatIsPushed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, centraltest.BoltStore(t))
	e.complete("ses-x", 1, central.FlowInProgress)
	e.pass()
	if n := len(e.pushEvents()); n != 0 {
		t.Fatalf("a RETRY attempt wrote %d push events", n)
	}
	e.complete("ses-x", 2, central.FlowCompleted)
	e.pass()
	gs := e.recv.all()
	if len(gs) != 1 || gs[0].openErr != nil || gs[0].sub.Submission == nil || gs[0].sub.Submission.Attempt != 2 {
		t.Fatalf("pushes %+v, want the second attempt's", gs)
	}
	oldKey := e.recv.key
	rot, err := e.api.RotatePushKey(ctx, "test", e.partner.ID)
	if err != nil || rot.KeyID == e.keyID || rot.EncryptionKey == "" {
		t.Fatalf("RotatePushKey: %+v, %v", rot, err)
	}
	if err := e.recv.setKey(rot.EncryptionKey); err != nil {
		t.Fatal(err)
	}
	e.complete("ses-y", 1, central.FlowCompleted)
	e.pass()
	gs = e.recv.all()
	if len(gs) != 2 || gs[1].openErr != nil || gs[1].env.KeyID != rot.KeyID {
		t.Fatalf("after rotation: %d pushes, kid %s, %v", len(gs), gs[len(gs)-1].env.KeyID, gs[len(gs)-1].openErr)
	}
	if _, err := push.Open(oldKey, gs[1].env); !errors.Is(err, push.ErrOpen) {
		t.Errorf("the old key opened a push after rotation: %v", err)
	}
	if _, err := e.api.RemovePush(ctx, "test", e.partner.ID); err != nil {
		t.Fatal(err)
	}
	e.complete("ses-z", 1, central.FlowCompleted)
	e.pass()
	if n := len(e.pushEvents()); n != 2 {
		t.Errorf("%d push events after the push was removed, want still 2", n)
	}
}

// TestEnvelope: Seal and Open round-trip; another key, a changed byte or
// a wrong-size key are refused.
func TestEnvelope(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	env, err := push.Seal(key, "pek_1", "psh_1", "ptn_1", []byte(`{"hello":"partner"}`))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := push.Open(key, env)
	if err != nil || string(pt) != `{"hello":"partner"}` {
		t.Fatalf("Open: %q, %v", pt, err)
	}
	other := make([]byte, 32)
	rand.Read(other)
	if _, err := push.Open(other, env); !errors.Is(err, push.ErrOpen) {
		t.Errorf("another key: %v", err)
	}
	env.Ciphertext[0] ^= 1
	if _, err := push.Open(key, env); !errors.Is(err, push.ErrOpen) {
		t.Errorf("a changed byte: %v", err)
	}
	if _, err := push.Seal(key[:16], "k", "i", "p", nil); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

// TestPushContentLength checks that a push announces its length
// (Content-Length, no chunked Transfer-Encoding), which the receiver,
// like an endpoint that refuses chunked bodies, requires, and that it is
// the length of the body received, whatever the images' sizes (base64's
// padding) and content types; a body resent through GetBody (net/http's
// retry on a new connection) announces it as well.
func TestPushContentLength(t *testing.T) {
	e := newEnv(t, centraltest.BoltStore(t))
	check := func(t *testing.T, g got) {
		t.Helper()
		if g.status != http.StatusOK || g.openErr != nil {
			t.Fatalf("the push was answered %d, %v", g.status, g.openErr)
		}
		if g.length != int64(len(g.raw)) || len(g.te) != 0 {
			t.Errorf("Content-Length %d, Transfer-Encoding %q; want the %d bytes received, none", g.length, g.te, len(g.raw))
		}
		if b, err := json.Marshal(g.sub); err != nil || !bytes.Equal(b, g.plain) {
			t.Errorf("the plaintext is not json.Marshal's:\n%.300s", g.plain)
		}
	}
	rng := mrand.NewChaCha8([32]byte{5})
	for i, size := range []int{1, 2, 3, 4, 511, 512, 513, 100 << 10} {
		t.Run(fmt.Sprintf("a selfie of %d bytes", size), func(t *testing.T) {
			e.images["selfie"] = make([]byte, size)
			rng.Read(e.images["selfie"])
			e.complete(fmt.Sprintf("ses-%d", i), 1, central.FlowCompleted)
			e.pass()
			gs := e.recv.all()
			g := gs[len(gs)-1]
			check(t, g)
			if len(g.sub.Images) != 2 || !bytes.Equal(g.sub.Images[1].Data, e.images["selfie"]) ||
				g.sub.Images[0].ContentType != "image/jpeg" || g.sub.Images[1].ContentType != "application/octet-stream" {
				t.Errorf("images %+v", g.sub.Images)
			}
		})
	}
	t.Run("resent through GetBody", func(t *testing.T) {
		ctx := context.Background()
		rt := &resendTransport{base: e.recv.srv.Client().Transport}
		sender, err := push.New(push.Config{Source: e.api, Client: &http.Client{Transport: rt}})
		if err != nil {
			t.Fatal(err)
		}
		e.complete("ses-resent", 1, central.FlowCompleted)
		if _, err := e.emitter.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		evs := e.pushEvents()
		status, _, err := sender.Send(ctx, e.partner, evs[len(evs)-1], e.clk.Now())
		if err != nil || status != http.StatusOK || rt.resent.Load() != 1 {
			t.Fatalf("Send: %d, %v after %d resends; want 200 after 1", status, err, rt.resent.Load())
		}
		gs := e.recv.all()
		check(t, gs[len(gs)-1])
	})
}

// resendTransport sends each push's body anew: it reads the start of the
// body, drops it as a lost connection would, and sends the one GetBody
// gives instead, as net/http's transport does when it retries a request
// on a new connection.
type resendTransport struct {
	base   http.RoundTripper
	resent atomic.Int32
}

func (rt *resendTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Idempotency-Key") == "" {
		return rt.base.RoundTrip(req) // the token request
	}
	io.CopyN(io.Discard, req.Body, 1000)
	req.Body.Close()
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	again := req.Clone(req.Context())
	again.Body = body
	rt.resent.Add(1)
	return rt.base.RoundTrip(again)
}

// dropImages is a store whose images retention drops (ExpireImages)
// right before the read that comes once the push has counted its length
// (sniffing each image), as it can while a push is being sent.
type dropImages struct {
	central.Store
	expire func(ctx context.Context) error
	reads  atomic.Int32
	dropAt int32 // the ImageChunks call before which the images go
}

func (s *dropImages) ImageChunks(ctx context.Context, deviceID, key, image string, yield func([]byte) error) error {
	if s.reads.Add(1) == s.dropAt {
		if err := s.expire(ctx); err != nil {
			return err
		}
	}
	return s.Store.ImageChunks(ctx, deviceID, key, image, yield)
}

// TestPushImageDroppedWhileSent checks that a push whose images the store
// drops between counting its length and writing it is a failed attempt
// saying the submission changed while it was sent, and that the partner
// gets nothing that opens (before, the images were left out and the
// envelope was whole); the retry sends the submission without images.
func TestPushImageDroppedWhileSent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dropAt int32 // sniffs of front and selfie are calls 1 and 2
	}{{"before the front", 3}, {"after the front", 4}} {
		t.Run(tc.name, func(t *testing.T) {
			var ds *dropImages
			e := newEnvWith(t, centraltest.BoltStore(t), func(s central.Store) central.Store {
				ds = &dropImages{Store: s, dropAt: tc.dropAt}
				return ds
			})
			ds.expire = func(ctx context.Context) error {
				now := e.clk.Now()
				_, err := e.store.(central.Eraser).Expire(ctx, central.ExpireImages, now.Add(time.Hour), now, 100)
				return err
			}
			e.complete("ses-d", 1, central.FlowCompleted)
			e.pass()
			ev := e.pushEvents()[0]
			as := e.attempts(ev.ID)
			if !ev.DeliveredAt.IsZero() || len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Excerpt, "the submission changed while it was sent") {
				t.Fatalf("push with an image dropped: delivered at %v, attempts %+v; want one failed attempt saying why", ev.DeliveredAt, as)
			}
			for _, g := range e.recv.all() {
				if g.openErr == nil {
					t.Errorf("the partner opened a push whose images were dropped while it was sent: %d images", len(g.sub.Images))
				}
			}
			e.clk.Advance(time.Minute)
			e.pass()
			if ev := e.pushEvents()[0]; ev.DeliveredAt.IsZero() {
				t.Fatalf("the retry was not delivered: %+v, attempts %+v", ev, e.attempts(ev.ID))
			}
			var opened []got
			for _, g := range e.recv.all() {
				if g.openErr == nil {
					opened = append(opened, g)
				}
			}
			if len(opened) != 1 || len(opened[0].sub.Images) != 0 || opened[0].length != int64(len(opened[0].raw)) {
				t.Errorf("the partner opened %d pushes, want one without images (the retry)", len(opened))
			}
		})
	}
}

// TestPushLongFailureConfirmation: a 2xx whose confirmation says failure
// is a failed attempt however long its details run, the status before
// them or after; before, one past ConfirmationBytes no longer parsed as
// JSON once cut there and counted as delivered, and the partner never got
// the submission.
func TestPushLongFailureConfirmation(t *testing.T) {
	long := `"errors":["` + strings.Repeat("field missing; ", 200) + `"]`
	for _, c := range []struct {
		name, answer string
		delivered    bool
	}{
		{"status first", `{"status":"failure",` + long + `}`, false},
		{"status last", `{` + long + `,"status":"error"}`, false},
		{"named twice", `{"status":"success",` + long + `,"status":"failure"}`, false},
		{"success", `{"status":"success",` + long + `}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, centraltest.BoltStore(t))
			e.recv.answer = func(int) (int, string) { return http.StatusOK, c.answer }
			e.complete("ses-long", 1, central.FlowCompleted)
			e.pass()
			ev := e.pushEvents()[0]
			if delivered := !ev.DeliveredAt.IsZero(); delivered != c.delivered {
				t.Errorf("delivered %v, want %v: %+v", delivered, c.delivered, ev)
			}
			as := e.attempts(ev.ID)
			if len(as) != 1 || as[0].Status != 200 || len(as[0].Excerpt) > push.ConfirmationBytes {
				t.Errorf("attempts %+v, want one 200 with an excerpt of at most %d bytes", as, push.ConfirmationBytes)
			}
		})
	}
}
