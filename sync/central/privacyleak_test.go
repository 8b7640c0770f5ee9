package central_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/central/push"
	"github.com/openkyc/kyc/sync/central/webhook"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// The person of the sweep: values found nowhere else, so finding one in an
// output is a leak, not a coincidence.
const (
	leakGiven   = "QUILLAN ZEPHYRINE"
	leakSurname = "VORTMANNSKY"
	leakNIK     = "3174091234987650"
	leakDocNo   = "XQ7Z4K2P9"
	leakDOB     = "1961-07-23"
	leakNote    = "called Ms Vortmannsky, DOB matches"
)

// outbound records the requests central sends out (webhooks, the
// enterprise push and its OAuth2 token requests), whole but for the
// partner's own query where it belongs.
type outbound struct {
	mu   sync.Mutex
	reqs []string // method, path, headers and body as text
	more chan struct{}
	// own is the query (a credential of the partner's) each path's URL
	// was set with: a request that carries it whole is recorded with
	// ownQuery in its place, any other query as it came.
	own map[string]string
}

// ownQuery stands in outbound's record for the partner's own query, come
// whole.
const ownQuery = "?<the partner's own query>"

func (o *outbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var b strings.Builder
	uri := r.URL.RequestURI()
	if q, ok := o.own[r.URL.Path]; ok && r.URL.RawQuery == q {
		uri = r.URL.Path + ownQuery
	}
	b.WriteString(r.Method + " " + uri + "\n")
	h := r.Header.Clone()
	if r.URL.Path == "/kyc" && h.Get("Authorization") == "Bearer push-access-token-leakcheck" {
		h.Del("Authorization") // the partner's own token, where it belongs
	}
	h.Write(&b)
	b.Write(body)
	o.mu.Lock()
	o.reqs = append(o.reqs, b.String())
	o.mu.Unlock()
	select {
	case o.more <- struct{}{}:
	default:
	}
	if r.URL.Path == "/oauth/token" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"push-access-token-leakcheck","token_type":"Bearer","expires_in":3600}`)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// wait waits until some recorded request contains every one of parts.
func (o *outbound) wait(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		o.mu.Lock()
		for _, r := range o.reqs {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(r, p)
			}
			if ok {
				o.mu.Unlock()
				return r
			}
		}
		o.mu.Unlock()
		select {
		case <-o.more:
		case <-deadline:
			t.Fatalf("no outbound request with %q within 30s; got %d: %q", parts, len(o.reqs), o.reqs)
		}
	}
}

func (o *outbound) all() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.reqs, "\n----\n")
}

// sweepPayload is the console's real device payload with the sweep's
// person in it and the attestation of att (a synctest submission's).
func sweepPayload(t *testing.T, session string, att json.RawMessage) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("console", "testdata", "payload_device.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("TEST VOID", leakGiven, "SPECIMEN", leakSurname, "000000003", leakDocNo, "1958-08-17", leakDOB,
		"sess-e2e-2", session).Replace(string(b))
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	m["nik"] = leakNIK
	m["attestation"] = att
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoPersonalDataLeaks drives a whole run through a real central on
// loopback TLS (a device's sync by the real agent, the partner API, the
// webhooks and the enterprise push, a reviewer's decision with a note,
// refused credentials, a search and an erasure) and holds everything
// central emits that is not the encrypted store or an answer meant to carry
// the person (its log at debug level, the agent's log, /metrics, the audit
// trail, webhook and push requests, error bodies, the URLs it makes) to
// carrying none of the person's data and none of the secrets used (OWASP
// ASVS 4.0 V7.1.1, V7.1.2, V8.3.1). Answers that carry the person must not
// be cached (V8.2.1) nor leak through a Referer.
func TestNoPersonalDataLeaks(t *testing.T) {
	ctx := context.Background()
	c := start(t, central.Config{Store: sealedBolt(t)})
	// Everything of central logs into c.Log at debug level; the partner
	// API and the webhook service are mounted as serve mounts them (a
	// ServeMux takes routes while it serves).
	logger := jsonLogger(c.Log)

	pkey := make([]byte, partnerapi.SecretKeySize)
	rand.Read(pkey)
	api, err := partnerapi.New(partnerapi.Config{Store: c.Cfg.Store, SecretKey: pkey, PublicURL: c.URL, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(c.Server)
	sender, err := push.New(push.Config{Source: api, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := webhook.New(c.Cfg.Store, webhook.Config{
		Senders: map[string]webhook.Sender{push.SenderPrefix: sender},
		Open: func(pid string, sealed []byte) ([]byte, error) {
			s, err := partnerapi.OpenWebhookSecret(pkey, pid, sealed)
			return []byte(s), err
		},
		Logger:   logger,
		Timeout:  2 * time.Second,
		Schedule: []time.Duration{20 * time.Millisecond, 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.Mount(c.Server.MountAdmin)
	wctx, cancel := context.WithCancel(ctx)
	stopWebhooks := svc.Start(wctx)
	t.Cleanup(func() { cancel(); stopWebhooks() })

	// The partner's URLs carry credentials of its own in their queries,
	// which central calls whole and shows and audits masked.
	hookQuery, pushQuery, tokenQuery := "token=hook-query-secret-leakcheck&v=2", "key=push-query-secret-leakcheck", "tenant=token-query-secret-leakcheck"
	out := &outbound{more: make(chan struct{}, 1), own: map[string]string{"/hook": hookQuery, "/kyc": pushQuery, "/oauth/token": tokenQuery}}
	recv := httptest.NewServer(out)
	t.Cleanup(recv.Close)

	// What may appear nowhere but the store and the answers meant for it.
	personal := []string{leakGiven, leakSurname, "QUILLAN", "ZEPHYRINE", leakNIK, leakDocNo, leakDOB, "19610723", leakNote}
	secrets := []string{c.Cfg.AdminToken, "hook-query-secret-leakcheck", "push-query-secret-leakcheck", "token-query-secret-leakcheck", "push-client-secret-leakcheck", "push-access-token-leakcheck", "wrong-pass-key-leakcheck", "wrong-admin-token-leakcheck"}
	// answers collects every answer's headers and body that must carry
	// none of either (error bodies, URLs central made).
	var answers []string
	call := func(req *http.Request, out any) *http.Response {
		t.Helper()
		resp, _ := c.sendWith(t, c.Admins, req, out)
		return resp
	}
	bodyOf := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return string(b)
	}
	jsonBody := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// A partner for the device's branch, with a webhook and the push.
	var created partnerapi.Created
	if resp, e := c.admin(t, http.MethodPost, "/admin/v1/partners", jsonBody(partnerapi.NewPartner{Name: "Acme", Branches: []string{"LEAK-BR"},
		WebhookURL: recv.URL + "/hook?" + hookQuery}), &created); resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating the partner: %d %+v", resp.StatusCode, e)
	}
	secrets = append(secrets, created.PassKey, created.WebhookSecret)
	var pc partnerapi.PushConfiguredResult
	if resp, e := c.admin(t, http.MethodPut, "/admin/v1/partners/"+created.Partner.ID+"/push", jsonBody(partnerapi.PushRequest{URL: recv.URL + "/kyc?" + pushQuery,
		TokenURL: recv.URL + "/oauth/token?" + tokenQuery, ClientID: "central", ClientSecret: "push-client-secret-leakcheck"}), &pc); resp.StatusCode != http.StatusOK {
		t.Fatalf("configuring the push: %d %+v", resp.StatusCode, e)
	}
	secrets = append(secrets, pc.EncryptionKey)
	// The webhook URL set again, and the partner as the admin API shows
	// and lists it: masked, its parameters' names kept.
	var ws partnerapi.WebhookSet
	if resp, e := c.admin(t, http.MethodPut, "/admin/v1/partners/"+created.Partner.ID+"/webhook", jsonBody(map[string]string{"url": recv.URL + "/hook?" + hookQuery}), &ws); resp.StatusCode != http.StatusOK {
		t.Fatalf("setting the webhook URL: %d %+v", resp.StatusCode, e)
	}
	if want := recv.URL + "/hook?token=" + partnerapi.URLMask + "&v=" + partnerapi.URLMask; ws.WebhookURL != want {
		t.Errorf("webhook URL shown as %q, want %q", ws.WebhookURL, want)
	}
	answers = append(answers, string(jsonBody(created.Partner)), string(jsonBody(pc.Partner)), string(jsonBody(ws)))
	for _, path := range []string{"/admin/v1/partners", "/admin/v1/partners/" + created.Partner.ID} {
		resp, e := c.admin(t, http.MethodGet, path, nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(bodyOf(resp), "/kyc?key="+partnerapi.URLMask) {
			t.Errorf("GET %s: %d %+v, want the partner with its push URL masked: %s", path, resp.StatusCode, e, bodyOf(resp))
		}
		answers = append(answers, bodyOf(resp))
	}

	// The partner's token, a refused pass key, and a flow with a reference.
	var tok partnerapi.TokenResponse
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/api/v1/partner-token", bytes.NewReader(jsonBody(map[string]string{"client_id": created.ClientID, "pass_key": created.PassKey})))
	req.Header.Set("Content-Type", "application/json")
	if resp := call(req, &tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("partner token: %d", resp.StatusCode)
	}
	secrets = append(secrets, tok.Token)
	req, _ = http.NewRequest(http.MethodPost, c.URL+"/api/v1/partner-token", bytes.NewReader(jsonBody(map[string]string{"client_id": created.ClientID, "pass_key": "wrong-pass-key-leakcheck"})))
	req.Header.Set("Content-Type", "application/json")
	resp := call(req, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong pass key: %d", resp.StatusCode)
	}
	answers = append(answers, bodyOf(resp))
	var flow partnerapi.FlowCreated
	req, _ = http.NewRequest(http.MethodPost, c.URL+"/api/v1/flows", bytes.NewReader(jsonBody(map[string]any{"partner_user_id": "ref-leakcheck-42", "smart_qr": true})))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if resp := call(req, &flow); resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("initiate flow: %d %s", resp.StatusCode, bodyOf(resp))
	}
	for _, u := range []string{flow.LaunchURL, flow.QRPNGURL, flow.QRSVGURL} {
		answers = append(answers, u)
		if strings.Contains(u, "ref-leakcheck-42") {
			t.Errorf("a URL central made carries the partner's user id: %s", u)
		}
	}
	// A careless partner: the person's name as its user id, and fields the
	// API does not take. Refused; the answer may quote its own request
	// back, central's log may not.
	for _, body := range []map[string]any{
		{"partner_user_id": leakGiven + " " + leakSurname},
		{"partner_user_id": "ref-leakcheck-43", "full_name": leakGiven, "date_of_birth": leakDOB},
		{"partner_user_id": "ref-leakcheck-44", "accepted_documents": []string{leakDocNo}},
		{"partner_user_id": "ref-leakcheck-45", "redirect_url": "https://partner.example/done?nik=" + leakNIK},
	} {
		req, _ = http.NewRequest(http.MethodPost, c.URL+"/api/v1/flows", bytes.NewReader(jsonBody(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp := call(apitest.Invalid(req), nil)
		answers = append(answers, resp.Header.Get("Location"))
	}
	// A wrong admin token.
	resp, _ = c.sendWith(t, c.Admins, synctest.AdminRequest(t, http.MethodGet, c.URL, "/admin/v1/submissions", "wrong-admin-token-leakcheck", nil), nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong admin token: %d", resp.StatusCode)
	}
	answers = append(answers, bodyOf(resp))

	// The device: enrolled at the partner's branch, its real agent syncing
	// a submission of the person from its vault.
	var et central.TokenResponse
	if resp, e := c.admin(t, http.MethodPost, "/admin/v1/enroll-tokens?branch=LEAK-BR", nil, &et); resp.StatusCode != http.StatusCreated {
		t.Fatalf("enrolment token: %d %+v", resp.StatusCode, e)
	}
	secrets = append(secrets, et.Token)
	id := identity.Generate()
	enr, err := identity.EnrollWithCA(ctx, c.CA, c.URL, et.Token, id, "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := vault.GenerateKeyFile(filepath.Join(dir, "vault.key")); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(ctx, filepath.Join(dir, "vault.db"), vault.KeyFile(filepath.Join(dir, "vault.key")), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	sub := synctest.Submission(t, id, 1, 4<<10)
	var base struct {
		Attestation json.RawMessage `json:"attestation"`
	}
	if err := json.Unmarshal(sub.Payload, &base); err != nil {
		t.Fatal(err)
	}
	sub.Payload = sweepPayload(t, "kiosk-leakcheck-1", base.Attestation)
	var imageMarks []string
	for _, img := range sub.Images {
		// A run of each image's bytes, as base64 (at a multiple of 3
		// bytes, so it is a run of the whole image's base64 too) and hex:
		// image bytes belong in the store and the image answers only.
		imageMarks = append(imageMarks, base64.StdEncoding.EncodeToString(img[63:111]), hex.EncodeToString(img[64:96]))
	}
	personal = append(personal, imageMarks...)
	if err := v.PutSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	edgeLog := &centraltest.LogBuffer{}
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr, RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ag := agent.New(up, v, agent.Options{Logger: jsonLogger(edgeLog)})
	if p, err := ag.RunOnce(ctx); err != nil || p.LastError != "" {
		t.Fatalf("sync pass %+v: %v\n%s\n%s", p, err, edgeLog, c.Log)
	}
	synctest.CheckDelivered(t, c.Cfg.Store, id.DeviceID(), []vault.Submission{sub})
	svc.Notify()
	// Delivered to the URLs as set, their queries whole.
	out.wait(t, "POST /hook"+ownQuery, "submission.completed", "kiosk-leakcheck-1")
	out.wait(t, "POST /kyc"+ownQuery, "Idempotency-Key")
	out.wait(t, "POST /oauth/token"+ownQuery)

	// The answers meant to carry the person: not cached, no Referer.
	ref := central.SubmissionRef{DeviceID: id.DeviceID(), Key: protocol.SubmissionKey(sub.ID)}
	req, _ = http.NewRequest(http.MethodGet, c.URL+"/api/v1/submission-details", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("x-partner-session-id", "kiosk-leakcheck-1")
	req.Header.Set("x-partner-user-id", id.DeviceID())
	req.Header.Set("x-partner-user-id-type", "kiosk_device")
	details := call(req, nil)
	// Its image links: capability URLs, no person in them.
	links := regexp.MustCompile(`https://[^"]*/api/v1/images/[^"]*`).FindAllString(bodyOf(details), -1)
	if len(links) == 0 {
		t.Fatalf("submission details without image links: %s", bodyOf(details))
	}
	answers = append(answers, links...)
	req, _ = http.NewRequest(http.MethodGet, links[0], nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	image := call(req, nil)
	if image.StatusCode != http.StatusOK {
		t.Fatalf("image link: %d %s", image.StatusCode, bodyOf(image))
	}
	adminSub := call(c.adminRequest(t, http.MethodGet, "/admin/v1/devices/"+id.DeviceID()+"/submissions/"+sub.ID, nil), nil)
	for name, resp := range map[string]*http.Response{"submission details": details, "admin submission": adminSub, "image": image} {
		if name != "image" && !strings.Contains(bodyOf(resp), leakSurname) {
			t.Errorf("%s: the answer does not carry the person; the sweep checks nothing", name)
		}
		if name == "admin submission" && !strings.Contains(bodyOf(resp), imageMarks[0]) {
			t.Errorf("the admin answer's images do not hold the image marker; the sweep would not see image bytes")
		}
		checkPrivateHeaders(t, name, resp)
		if resp.StatusCode != http.StatusOK {
			answers = append(answers, bodyOf(resp))
		}
	}

	// The device's own answers (its reviews' outcomes, its configuration).
	d := &dev{c: c, id: id, enr: enr}
	devResp, e := d.do(t, http.MethodGet, protocol.PathConfig, nil, nil)
	if devResp.StatusCode != http.StatusOK {
		t.Fatalf("device config: %d %+v", devResp.StatusCode, e)
	}
	checkPrivateHeaders(t, "device config", devResp)

	// A reviewer's decision with a note about the person.
	if _, err := c.Cfg.Store.UpdateReview(ctx, ref, func(cs central.Case) (central.Review, central.AuditEvent, error) {
		now := time.Now().UTC()
		rv := cs.Review
		rv.State, rv.Outcome, rv.Reason, rv.Note, rv.DecidedBy, rv.DecidedAt = central.ReviewDecided, central.OutcomeReject, "document_expired", leakNote, "ana", now
		return rv, central.AuditEvent{ID: "decide-leakcheck", At: now, Actor: "user:ana", Action: "case.decide", Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
	}); err != nil {
		t.Fatal(err)
	}
	svc.Notify()
	out.wait(t, "POST /hook", "decision.changed", "kiosk-leakcheck-1")

	// A search by the person, by POST, and their erasure.
	searches := func() int {
		t.Helper()
		evs, err := c.Cfg.Store.Audit(ctx, central.AuditFilter{Action: central.AuditSearch})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	var found []central.Submission
	if resp, e := c.admin(t, http.MethodPost, "/admin/v1/submissions/search", jsonBody(central.SearchRequest{NIK: leakNIK, Name: leakGiven + " " + leakSurname}), &found); resp.StatusCode != http.StatusOK || len(found) != 1 {
		t.Fatalf("search: %d %+v, found %d", resp.StatusCode, e, len(found))
	}
	// The person in a GET's URL, which proxies' access logs and shell
	// histories keep (V8.3.1): refused, pointing to the POST, before
	// anything is searched or audited; its answer and central's log (held
	// below) name no value.
	before := searches()
	for _, q := range []string{
		"nik=" + leakNIK + "&document_number=" + leakDocNo,
		"name=" + url.QueryEscape(leakGiven+" "+leakSurname),
		"limit=5&document_number=" + leakDocNo,
		"date_of_birth=" + leakDOB,
	} {
		resp, e := c.badAdmin(t, http.MethodGet, "/admin/v1/submissions/search?"+q, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || e.Code != "identifier_in_url" || !strings.Contains(e.Message, "POST /admin/v1/submissions/search") {
			t.Errorf("search by GET ?%s: %d %+v, want 400 identifier_in_url pointing to the POST", q, resp.StatusCode, e)
		}
		answers = append(answers, bodyOf(resp))
	}
	// The list of submissions takes no person to filter by; one put in
	// its query anyway is not carried into the log of its read.
	if resp, e := c.badAdmin(t, http.MethodGet, "/admin/v1/submissions?limit=5&nik="+leakNIK, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("listing with a NIK in the query: %d %+v", resp.StatusCode, e)
	}
	if n := searches(); n != before {
		t.Errorf("GET searches with the person in the URL recorded %d searches, want none (they must not run)", n-before)
	}
	// Careless admin requests with the person in them: refused, and the
	// refusal's logged cause names no value.
	for _, body := range []string{
		`{"nik":"` + leakNIK + `","date_of_birth":"` + leakDOB + `"}`,
		`{"nik":` + leakNIK + `}`,
		`{"name":"` + leakGiven + `",}`,
	} {
		for _, path := range []string{"/admin/v1/erasures", "/admin/v1/submissions/search"} {
			resp, _ := c.badAdmin(t, http.MethodPost, path, []byte(body), nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("POST %s %s: %d, want 400", path, body, resp.StatusCode)
			}
		}
	}
	var erasure central.Erasure
	if resp, e := c.admin(t, http.MethodPost, "/admin/v1/erasures", jsonBody(central.ErasureRequest{NIK: leakNIK, DocumentNumber: leakDocNo}), &erasure); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("erasure: %d %+v", resp.StatusCode, e)
	}
	answers = append(answers, erasure.StatusURL)
	for deadline := time.Now().Add(30 * time.Second); erasure.Status != central.ErasureDone; {
		if time.Now().After(deadline) || erasure.Status == central.ErasureFailed {
			t.Fatalf("erasure %+v", erasure)
		}
		<-time.After(20 * time.Millisecond)
		c.admin(t, http.MethodGet, "/admin/v1/erasures/"+erasure.ID, nil, &erasure)
	}

	// Everything central emitted.
	var auditTrail json.RawMessage
	if resp, e := c.admin(t, http.MethodGet, "/admin/v1/audit", nil, &auditTrail); resp.StatusCode != http.StatusOK {
		t.Fatalf("audit: %d %+v", resp.StatusCode, e)
	}
	var events json.RawMessage
	if resp, e := c.admin(t, http.MethodGet, "/admin/v1/partners/"+created.Partner.ID+"/events", nil, &events); resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d %+v", resp.StatusCode, e)
	}
	outputs := map[string]string{
		"central's log":     c.Log.String(),
		"the agent's log":   edgeLog.String(),
		"/metrics":          synctest.Metrics(t, c.Server),
		"the audit trail":   string(auditTrail),
		"webhook events":    string(events),
		"outbound requests": out.all(),
		"answers and URLs":  strings.Join(answers, "\n"),
	}
	for where, text := range outputs {
		for _, m := range append(append([]string{}, personal...), secrets...) {
			if m != "" && strings.Contains(strings.ToUpper(text), strings.ToUpper(m)) {
				i := strings.Index(strings.ToUpper(text), strings.ToUpper(m))
				t.Errorf("%s carries %q: …%s…", where, m, text[max(0, i-200):min(len(text), i+len(m)+100)])
			}
		}
	}
}

// checkPrivateHeaders holds an answer that carries a person's data (or a
// device's or admin's) to what keeps it out of caches, content sniffing
// and Referer headers (ASVS V8.2.1, V14.4.3-V14.4.6), over HTTPS.
func checkPrivateHeaders(t *testing.T, name string, resp *http.Response) {
	t.Helper()
	for h, want := range map[string]string{
		"Cache-Control":             "no-store",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "no-referrer",
		"Strict-Transport-Security": "max-age=",
	} {
		if got := resp.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s (%d): %s %q, want %q", name, resp.StatusCode, h, got, want)
		}
	}
}
