package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/push"
	"github.com/openkyc/kyc/sync/central/webhook"
	"github.com/openkyc/kyc/sync/protocol"
)

// env is a real kyc-central on loopback over TLS, as serve builds it: a
// sealed bbolt store, the partner API, the webhook service (with a short
// retry schedule and timeout, so the test's failures retry in
// milliseconds).
type env struct {
	t       *testing.T
	base    string
	caFile  string
	admin   string
	client  *http.Client
	store   central.Store
	service *webhook.Service
}

func startCentral(t *testing.T) *env {
	t.Helper()
	c := centraltest.New(t, centraltest.BoltStore(t), centraltest.Options{})
	pkey := make([]byte, partnerapi.SecretKeySize)
	rand.Read(pkey)
	api, err := partnerapi.New(partnerapi.Config{Store: c.Store, SecretKey: pkey, PublicURL: c.Base})
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(c.Server)
	sender, err := push.New(push.Config{Source: api})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := webhook.New(c.Store, webhook.Config{
		Senders: map[string]webhook.Sender{push.SenderPrefix: sender},
		Open: func(pid string, sealed []byte) ([]byte, error) {
			s, err := partnerapi.OpenWebhookSecret(pkey, pid, sealed)
			return []byte(s), err
		},
		Timeout:  500 * time.Millisecond,
		Schedule: []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.Mount(c.Server.MountAdmin)
	c.Serve(t, func(ctx context.Context) error {
		stopWebhooks := svc.Start(ctx)
		<-ctx.Done()
		stopWebhooks()
		return nil
	})
	return &env{t: t, base: c.Base, caFile: c.CAFile, admin: c.Admin, store: c.Store, service: svc,
		client: &http.Client{Timeout: 30 * time.Second, Transport: c.Transport()}}
}

// adminCall calls the admin API and decodes its answer.
func (e *env) adminCall(method, path string, in, out any) int {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.base+path, body)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v (%s)", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// enrol records a kiosk device of branch.
func (e *env) enrol(id, branch string) {
	e.t.Helper()
	ctx := context.Background()
	h := sha256.Sum256([]byte("token-" + id))
	now := time.Now().UTC()
	if err := e.store.CreateEnrollToken(ctx, central.EnrollToken{Hash: h, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Branch: branch}); err != nil {
		e.t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if err := e.store.Enroll(ctx, h, central.Device{ID: id, PublicKey: pub, Branch: branch, EnrolledAt: now}); err != nil {
		e.t.Fatal(err)
	}
}

// submit stores a kiosk submission as central's ingest does: a payload a
// real `kyc verify` produced (the console's testdata), complete at once.
func (e *env) submit(device, id, session string) central.SubmissionRef {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "sync", "central", "console", "testdata", "payload_device.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatal(err)
	}
	m["session_id"] = session
	pl, _ := json.Marshal(m)
	now := time.Now().UTC()
	sum := central.Summarize(pl)
	key := protocol.SubmissionKey(id)
	sub := central.Submission{DeviceID: device, Key: key, ID: id, ManifestHash: []byte(id), CreatedAt: now.Add(-time.Minute),
		ReceivedAt: now, Verdict: "ok", AttestationFresh: true, Payload: pl, Summary: &sum}
	if _, _, err := e.store.BeginSubmission(context.Background(), sub); err != nil {
		e.t.Fatal(err)
	}
	e.service.Notify() // what ingest's hook would do; the emitter also polls every second
	return central.SubmissionRef{DeviceID: device, Key: key}
}

// lines collects the example's JSON lines.
type lines struct {
	mu   sync.Mutex
	all  []map[string]any
	more chan struct{}
	buf  bytes.Buffer
}

func newLines() *lines { return &lines{more: make(chan struct{}, 1)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	consumed := 0
	for sc.Scan() {
		line := sc.Bytes()
		if consumed+len(line)+1 > l.buf.Len() {
			break // no newline yet
		}
		consumed += len(line) + 1
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			l.all = append(l.all, m)
		}
	}
	l.buf.Next(consumed)
	select {
	case l.more <- struct{}{}:
	default:
	}
	return len(p), nil
}

// match counts the lines with every key/value of want.
func (l *lines) match(want map[string]any) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.all {
		ok := true
		for k, v := range want {
			if fmt.Sprint(m[k]) != fmt.Sprint(v) {
				ok = false
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// wait returns the first n lines matching want, failing after d.
func (l *lines) wait(t *testing.T, want map[string]any, n int, d time.Duration) []map[string]any {
	t.Helper()
	deadline := time.After(d)
	for {
		if got := l.match(want); len(got) >= n {
			return got
		}
		select {
		case <-l.more:
		case <-deadline:
			l.mu.Lock()
			all, _ := json.MarshalIndent(l.all, "", " ")
			l.mu.Unlock()
			t.Fatalf("no %d line(s) %v within %v; the example printed:\n%s", n, want, d, all)
		}
	}
}

// flakyProxy stands in front of the example's receiver: an event's first
// attempt gets a 500, its second is passed on but answered only after
// central gave up waiting (a timeout after the receiver processed it), the
// rest are passed on.
type flakyProxy struct {
	target string
	mu     sync.Mutex
	tries  map[string]int
}

func (f *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(webhook.HeaderID)
	f.mu.Lock()
	f.tries[id]++
	n := f.tries[id]
	f.mu.Unlock()
	if n == 1 {
		http.Error(w, "temporarily broken", http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequestWithContext(context.WithoutCancel(r.Context()), http.MethodPost, f.target, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, "receiver down", http.StatusBadGateway)
		return
	}
	resp.Body.Close()
	if n == 2 {
		<-r.Context().Done() // central times out
		return
	}
	w.WriteHeader(resp.StatusCode)
}

func TestPartnerEndToEnd(t *testing.T) {
	e := startCentral(t)
	dir := t.TempDir()

	// The example's webhook address, and the flaky proxy in front of it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	exampleAddr := ln.Addr().String()
	ln.Close()
	proxy := httptest.NewServer(&flakyProxy{target: "http://" + exampleAddr + "/webhooks", tries: map[string]int{}})
	t.Cleanup(proxy.Close)
	// Partner B's endpoint hangs on every request.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })

	var a, b partnerapi.Created
	if st := e.adminCall("POST", "/admin/v1/partners", partnerapi.NewPartner{Name: "Acme", Branches: []string{"JKT-Selatan"},
		WebhookURL: proxy.URL + "/webhooks"}, &a); st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("creating partner A: %d", st)
	}
	if st := e.adminCall("POST", "/admin/v1/partners", partnerapi.NewPartner{Name: "Deadco", Branches: []string{"BDG"},
		WebhookURL: hang.URL + "/webhooks"}, &b); st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("creating partner B: %d", st)
	}
	if a.WebhookSecret == "" || a.PassKey == "" {
		t.Fatalf("partner A created without secrets: %+v", a)
	}
	passFile, secretFile := filepath.Join(dir, "pass.key"), filepath.Join(dir, "whsec.txt")
	os.WriteFile(passFile, []byte(a.PassKey+"\n"), 0o600)
	os.WriteFile(secretFile, []byte(a.WebhookSecret+"\n"), 0o600)
	// Partner A takes the enterprise push too: the example is its token
	// endpoint and its push endpoint (plain HTTP on loopback here).
	var pc partnerapi.PushConfiguredResult
	if st := e.adminCall("PUT", "/admin/v1/partners/"+a.Partner.ID+"/push", partnerapi.PushRequest{URL: "http://" + exampleAddr + "/kyc",
		TokenURL: "http://" + exampleAddr + "/oauth/token", ClientID: "central", ClientSecret: "push-client-secret-1"}, &pc); st != http.StatusOK || pc.EncryptionKey == "" {
		t.Fatalf("configuring partner A's push: %d %+v", st, pc)
	}
	pushKeyFile, pushSecretFile := filepath.Join(dir, "push.key"), filepath.Join(dir, "push-client.secret")
	os.WriteFile(pushKeyFile, []byte(pc.EncryptionKey+"\n"), 0o600)
	os.WriteFile(pushSecretFile, []byte("push-client-secret-1\n"), 0o600)
	// Images for the Face Match call (central here runs without face
	// models, so it answers 503, which the example reports and goes on).
	selfie, reference := filepath.Join(dir, "selfie.jpg"), filepath.Join(dir, "reference.jpg")
	os.WriteFile(selfie, centraltest.JPEG(t, 128, 160), 0o600)
	os.WriteFile(reference, centraltest.JPEG(t, 200, 126), 0o600)

	// The example partner.
	out := newLines()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	exited := make(chan error, 1)
	go func() {
		exited <- run(ctx, []string{"--central", e.base, "--ca", e.caFile, "--client-id", a.ClientID, "--pass-key-file", passFile,
			"--webhook-listen", exampleAddr, "--webhook-secret-file", secretFile, "--selfie", selfie, "--reference", reference,
			"--push-key-file", pushKeyFile, "--push-client-id", "central", "--push-client-secret-file", pushSecretFile}, out, ready)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-exited; err != nil {
			t.Errorf("example: %v", err)
		}
	})
	<-ready
	out.wait(t, map[string]any{"step": "token"}, 1, 10*time.Second)
	out.wait(t, map[string]any{"step": "flow", "status": "CREATED"}, 1, 10*time.Second)

	// Kiosk submissions: partner B's first (its endpoint hangs), then A's.
	e.enrol("dev-a", "JKT-Selatan")
	e.enrol("dev-b", "BDG")
	e.submit("dev-b", "sub-b1", "kiosk-b1")
	// That B's endpoint does not hold A's events back is
	// webhook.TestDeadEndpointDoesNotSlowOthers's to show, without a clock.
	refA := e.submit("dev-a", "sub-a1", "kiosk-a1")
	got := out.wait(t, map[string]any{"step": "webhook", "type": "submission.completed", "session_id": "kiosk-a1"}, 1, 15*time.Second)
	completedID := got[0]["webhook_id"].(string)
	det := out.wait(t, map[string]any{"step": "details", "session_id": "kiosk-a1", "http_status": 200}, 1, 10*time.Second)[0]
	if det["decision"] == nil || det["status"] != "COMPLETED" {
		t.Fatalf("details %v", det)
	}
	fm := out.wait(t, map[string]any{"step": "face_match"}, 1, 10*time.Second)[0]
	if fm["http_status"] != float64(http.StatusServiceUnavailable) || fm["skipped"] == nil {
		t.Fatalf("face match %v", fm)
	}
	// The attempt that timed out had reached the receiver: it dedupes.
	out.wait(t, map[string]any{"step": "webhook_duplicate", "webhook_id": completedID}, 1, 10*time.Second)
	// The enterprise push of the same submission: a token from the
	// example's token endpoint, decrypted there, the document's fields in
	// it, confirmed.
	pl := out.wait(t, map[string]any{"step": "push", "session_id": "kiosk-a1", "kid": pc.KeyID, "duplicate": false}, 1, 10*time.Second)[0]
	if pl["decision"] == nil || pl["fields"] == nil || pl["fields"].(float64) < 1 {
		t.Errorf("push %v: no decision or fields", pl)
	}
	if n := len(out.match(map[string]any{"step": "push_token_issued"})); n != 1 {
		t.Errorf("%d push tokens issued, want 1", n)
	}

	// A reviewer's decision.
	if _, err := e.store.UpdateReview(context.Background(), refA, func(c central.Case) (central.Review, central.AuditEvent, error) {
		now := time.Now().UTC()
		rv := c.Review
		rv.State, rv.Outcome, rv.Reason, rv.DecidedBy, rv.DecidedAt = central.ReviewDecided, central.OutcomeReject, "document_expired", "ana", now
		return rv, central.AuditEvent{ID: "decide-1", At: now, Actor: "user:ana", Action: "case.decide", Subject: "case:dev-a/" + c.Ref.Key}, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.service.Notify()
	dc := out.wait(t, map[string]any{"step": "webhook", "type": "decision.changed", "session_id": "kiosk-a1", "decision": "reject"}, 1, 15*time.Second)[0]
	out.wait(t, map[string]any{"step": "details", "session_id": "kiosk-a1", "http_status": 200}, 2, 10*time.Second)

	// The attempts central logged for the first event: 500, timeout, 204.
	var attempts []central.DeliveryAttempt
	if st := e.adminCall("GET", "/admin/v1/events/"+completedID+"/attempts", nil, &attempts); st != http.StatusOK {
		t.Fatalf("attempts: %d", st)
	}
	var statuses []int
	for _, at := range attempts {
		statuses = append(statuses, at.Status)
	}
	if len(attempts) != 3 || statuses[0] != 500 || statuses[1] != 0 || !strings.HasPrefix(attempts[1].Excerpt, "timed out") || statuses[2] != 204 {
		t.Fatalf("attempts %+v", attempts)
	}

	// An admin replays it: delivered again with the same webhook-id, and
	// deduped.
	if st := e.adminCall("POST", "/admin/v1/events/"+completedID+"/replay", nil, nil); st != http.StatusOK {
		t.Fatalf("replay: %d", st)
	}
	out.wait(t, map[string]any{"step": "webhook_duplicate", "webhook_id": completedID}, 2, 10*time.Second)
	if evs, err := e.store.Audit(context.Background(), central.AuditFilter{Action: webhook.AuditReplay}); err != nil || len(evs) != 1 ||
		evs[0].Subject != "webhook_event:"+completedID || evs[0].Actor == "" {
		t.Errorf("replay audit %+v, %v", evs, err)
	}

	// The admin endpoints' refusals.
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/admin/v1/events/evt_nope/attempts", http.StatusNotFound},
		{"POST", "/admin/v1/events/evt_nope/replay", http.StatusNotFound},
		{"GET", "/admin/v1/partners/ptn_nope/events", http.StatusNotFound},
		{"GET", "/admin/v1/partners/" + a.Partner.ID + "/events?after=-1", http.StatusBadRequest},
	} {
		if st := e.adminCall(tc.method, tc.path, nil, nil); st != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, st, tc.want)
		}
	}
	resp, err := e.client.Post(e.base+"/admin/v1/events/"+completedID+"/replay", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("replay without the admin token: %d", resp.StatusCode)
	}

	// Every event delivered, none handled twice.
	var list webhook.EventList
	if st := e.adminCall("GET", "/admin/v1/partners/"+a.Partner.ID+"/events", nil, &list); st != http.StatusOK {
		t.Fatalf("events: %d", st)
	}
	var hooks []webhook.EventView
	for _, ev := range list.Events {
		if ev.Type != webhook.EventPush {
			hooks = append(hooks, ev)
			continue
		}
		var pushAttempts []central.DeliveryAttempt
		e.adminCall("GET", "/admin/v1/events/"+ev.ID+"/attempts", nil, &pushAttempts)
		if ev.State != "delivered" || ev.SessionID != "push/kiosk-a1" || len(pushAttempts) != 1 || !strings.Contains(pushAttempts[0].Excerpt, "acme-"+ev.ID) {
			t.Errorf("push event %+v, attempts %+v: want delivered once with the confirmation", ev, pushAttempts)
		}
		if n := len(out.match(map[string]any{"step": "push", "push_id": ev.ID})); n != 1 {
			t.Errorf("push %s handled %d times", ev.ID, n)
		}
	}
	if len(hooks) != 2 || len(list.Events) != 3 {
		t.Fatalf("partner A's events %+v", list.Events)
	}
	for _, ev := range hooks {
		if n := len(out.match(map[string]any{"step": "webhook", "webhook_id": ev.ID})); n != 1 {
			t.Errorf("event %s (%s) handled %d times", ev.ID, ev.Type, n)
		}
	}
	if dc["webhook_id"] != hooks[1].ID {
		t.Errorf("decision.changed id %v, listed %s", dc["webhook_id"], hooks[1].ID)
	}
	// Partner B's hanging endpoint held only its own session.
	var listB webhook.EventList
	e.adminCall("GET", "/admin/v1/partners/"+b.Partner.ID+"/events", nil, &listB)
	if len(listB.Events) != 1 || listB.Events[0].State != "pending" || listB.Events[0].Attempts == 0 {
		t.Errorf("partner B's events %+v", listB.Events)
	}

	// Forged and stale webhooks are refused by the example's receiver.
	body := []byte(`{"type":"decision.changed","timestamp":"2026-12-01T00:00:00Z","data":{"session_id":"kiosk-a1","status":"COMPLETED","attempts":1}}`)
	wrong, _ := webhook.NewSecret()
	for _, tc := range []struct {
		name, secret, reason string
		ts                   time.Time
	}{
		{"wrong secret", wrong, "bad_signature", time.Now()},
		{"stale timestamp", a.WebhookSecret, "stale_timestamp", time.Now().Add(-10 * time.Minute)},
	} {
		key, _ := webhook.DecodeSecret(tc.secret)
		req, _ := http.NewRequest(http.MethodPost, "http://"+exampleAddr+"/webhooks", bytes.NewReader(body))
		id := "evt_forged_" + strconv.Itoa(len(tc.name))
		if err := webhook.SetHeaders(req.Header, [][]byte{key}, id, tc.ts, body); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: answered %d", tc.name, resp.StatusCode)
		}
		out.wait(t, map[string]any{"step": "webhook_refused", "webhook_id": id, "reason": tc.reason}, 1, 5*time.Second)
	}
}
