// Command partner is an example partner backend of kyc-central's partner
// API (docs/partner-api.md): it gets a partner token, initiates a flow,
// receives webhooks and verifies them (Standard Webhooks, deduping by
// webhook-id), fetches each completed session's details and calls the
// Face Match API; with --push-key-file it also takes the enterprise push
// (seed 003): it is then its own OAuth2 token endpoint (client
// credentials) and the push endpoint, which decrypts each push
// (AES-256-GCM, docs/partner-api.md) and confirms it. It prints one JSON
// line per thing it did, and never a person's data: decisions, scores and
// counts only.
//
//	go run ./examples/partner --central https://127.0.0.1:8443 --ca ca.crt \
//	    --client-id cli_... --pass-key-file pass.key \
//	    --webhook-listen 127.0.0.1:9000 --webhook-secret-file whsec.txt \
//	    [--selfie selfie.jpg --reference reference.jpg] \
//	    [--push-key-file push.key --push-client-id central --push-client-secret-file push-client.secret]
//
// The partner's webhook URL (kyc-central partner add --webhook) is
// http://<--webhook-listen>/webhooks here; the push's URL
// http://<--webhook-listen>/kyc and its token URL .../oauth/token
// (kyc-central partner push); real ones are HTTPS.
package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openkyc/kyc/sync/central/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "partner:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	central, ca, clientID, passKey, listen, secret string
	userID, userIDType, selfie, reference          string
	maxEvents                                      int
	// The enterprise push: the AES-256 key central showed once, and the
	// client credentials central authenticates with here.
	pushKey                        []byte
	pushClientID, pushClientSecret string
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	var passFile, secretFile, pushKeyFile, pushSecretFile string
	fs := flag.NewFlagSet("partner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.central, "central", "", "central's base URL, e.g. https://127.0.0.1:8443")
	fs.StringVar(&c.ca, "ca", "", "the CA certificate central's TLS certificate chains to (PEM); empty: the system roots")
	fs.StringVar(&c.clientID, "client-id", "", "the partner's client id")
	fs.StringVar(&c.passKey, "pass-key", "", "the partner's pass key (prefer --pass-key-file)")
	fs.StringVar(&passFile, "pass-key-file", "", "a file holding the pass key")
	fs.StringVar(&c.listen, "webhook-listen", "127.0.0.1:9000", "where to receive webhooks (path /webhooks)")
	fs.StringVar(&c.secret, "webhook-secret", "", "the webhook signing secret, whsec_... (prefer --webhook-secret-file)")
	fs.StringVar(&secretFile, "webhook-secret-file", "", "a file holding the webhook signing secret")
	fs.StringVar(&c.userID, "user-id", "user-1", "the partner's user id to initiate a flow for")
	fs.StringVar(&c.userIDType, "user-id-type", "customer_id", "the kind of user id")
	fs.StringVar(&c.selfie, "selfie", "", "a selfie image for the Face Match API (with --reference)")
	fs.StringVar(&c.reference, "reference", "", "a reference image for the Face Match API")
	fs.IntVar(&c.maxEvents, "max-events", 0, "exit after handling this many distinct webhooks (0: run until interrupted)")
	fs.StringVar(&pushKeyFile, "push-key-file", "", "a file holding the enterprise push's encryption key (base64); takes pushes at /kyc")
	fs.StringVar(&c.pushClientID, "push-client-id", "central", "the client id central gets push tokens with")
	fs.StringVar(&pushSecretFile, "push-client-secret-file", "", "a file holding that client's secret")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, f := range []struct {
		file string
		dst  *string
	}{{passFile, &c.passKey}, {secretFile, &c.secret}, {pushSecretFile, &c.pushClientSecret}} {
		if f.file == "" {
			continue
		}
		b, err := os.ReadFile(f.file)
		if err != nil {
			return c, err
		}
		*f.dst = strings.TrimSpace(string(b))
	}
	switch {
	case c.central == "" || c.clientID == "" || c.passKey == "":
		return c, errors.New("--central, --client-id and --pass-key(-file) are required")
	case c.secret == "":
		return c, errors.New("--webhook-secret(-file) is required")
	case (c.selfie == "") != (c.reference == ""):
		return c, errors.New("--selfie and --reference go together")
	}
	if _, err := webhook.DecodeSecret(c.secret); err != nil {
		return c, fmt.Errorf("--webhook-secret: %w", err)
	}
	if pushKeyFile != "" {
		b, err := os.ReadFile(pushKeyFile)
		if err != nil {
			return c, err
		}
		if c.pushKey, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil || len(c.pushKey) != 32 {
			return c, errors.New("--push-key-file: not the base64 of a 32-byte key")
		}
		if c.pushClientSecret == "" {
			return c, errors.New("--push-key-file needs --push-client-secret-file")
		}
	}
	c.central = strings.TrimSuffix(c.central, "/")
	return c, nil
}

// partner is the running example.
type partner struct {
	cfg    config
	client *http.Client
	out    *json.Encoder
	outMu  sync.Mutex

	tokMu  sync.Mutex
	token  string
	tokExp time.Time

	seenMu sync.Mutex
	seen   map[string]bool // webhook-ids and push ids handled
	events chan event

	pushTokMu  sync.Mutex
	pushTokens map[string]time.Time // access tokens this example issued, with their expiry
}

// event is a verified webhook, handled after the answer.
type event struct {
	ID   string
	Body webhook.Body
}

// Line is one JSON line of output.
type Line map[string]any

func (p *partner) print(l Line) {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	l["at"] = time.Now().UTC().Format(time.RFC3339Nano)
	_ = p.out.Encode(l)
}

// run runs the example until ctx ends (or --max-events); ready, if not
// nil, receives the webhook listener's address.
func run(ctx context.Context, args []string, stdout io.Writer, ready chan<- string) error {
	cfg, err := parse(args, os.Stderr)
	if err != nil {
		return err
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.ca != "" {
		pem, err := os.ReadFile(cfg.ca)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no certificate", cfg.ca)
		}
		tlsCfg.RootCAs = pool
	}
	p := &partner{cfg: cfg, out: json.NewEncoder(stdout), seen: map[string]bool{}, events: make(chan event, 64), pushTokens: map[string]time.Time{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil}}}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks", p.receive)
	if cfg.pushKey != nil {
		mux.HandleFunc("POST /oauth/token", p.issueToken)
		mux.HandleFunc("POST /kyc", p.receivePush)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	go func() { defer wg.Done(); p.handle(ctx, cancel) }()
	defer func() {
		shut, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(shut)
		cancel()
		wg.Wait()
	}()
	p.print(Line{"step": "listening", "webhook_url": "http://" + ln.Addr().String() + "/webhooks"})
	if ready != nil {
		ready <- ln.Addr().String()
	}

	if err := p.initiate(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// receive is the webhook endpoint: verify, dedupe, answer at once, handle
// afterwards.
func (p *partner) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	id := r.Header.Get(webhook.HeaderID)
	if err := webhook.Verify(p.cfg.secret, r.Header, body); err != nil {
		reason := "bad_signature"
		switch {
		case errors.Is(err, webhook.ErrTooOld), errors.Is(err, webhook.ErrTooNew):
			reason = "stale_timestamp"
		case errors.Is(err, webhook.ErrMissingHeaders):
			reason = "missing_headers"
		}
		p.print(Line{"step": "webhook_refused", "webhook_id": id, "reason": reason})
		http.Error(w, "signature refused", http.StatusUnauthorized)
		return
	}
	var b webhook.Body
	if err := json.Unmarshal(body, &b); err != nil {
		p.print(Line{"step": "webhook_refused", "webhook_id": id, "reason": "malformed"})
		http.Error(w, "malformed", http.StatusBadRequest)
		return
	}
	p.seenMu.Lock()
	dup := p.seen[id]
	p.seen[id] = true
	p.seenMu.Unlock()
	if dup {
		p.print(Line{"step": "webhook_duplicate", "webhook_id": id, "type": b.Type})
		w.WriteHeader(http.StatusNoContent)
		return
	}
	p.print(Line{"step": "webhook", "webhook_id": id, "type": b.Type, "session_id": b.Data.SessionID,
		"status": b.Data.Status, "next_action": b.Data.NextAction, "decision": b.Data.Decision})
	select {
	case p.events <- event{ID: id, Body: b}:
	default:
		// A real backend would queue durably; the example drops the
		// follow-up work (the webhook itself is acknowledged).
		p.print(Line{"step": "backlog_full", "webhook_id": id})
	}
	w.WriteHeader(http.StatusNoContent)
}

// issueToken is the partner's OAuth2 token endpoint for central (client
// credentials, RFC 6749 4.4): HTTP Basic or form credentials in, a bearer
// token valid for an hour out.
func (p *partner) issueToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(p.cfg.pushClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(p.cfg.pushClientSecret)) != 1 {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_client"}`)
		return
	}
	tok := rand.Text()
	p.pushTokMu.Lock()
	p.pushTokens[tok] = time.Now().Add(time.Hour)
	p.pushTokMu.Unlock()
	p.print(Line{"step": "push_token_issued"})
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

// pushEnvelope is an enterprise push on the wire.
type pushEnvelope struct {
	ID         string `json:"id"`
	PartnerID  string `json:"partner_id"`
	Alg        string `json:"alg"`
	KeyID      string `json:"kid"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// maxPushBytes is the largest envelope taken. It carries the images base64
// twice over (in the plaintext's JSON, then the ciphertext's), about 1.8
// times their size: size it to twice what a submission's images weigh at
// most (central takes up to 32 of 64 MiB; kiosks send three of a few MB).
const maxPushBytes = 256 << 20

// receivePush is the push endpoint: check the bearer token, decrypt
// (AES-256-GCM with the additional data "openkyc-push-v1\n" + id + "\n" +
// partner_id), dedupe by the push id, confirm.
func (p *partner) receivePush(w http.ResponseWriter, r *http.Request) {
	confirm := func(status int, v map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.pushTokMu.Lock()
	exp, ok := p.pushTokens[tok]
	p.pushTokMu.Unlock()
	if !ok || time.Now().After(exp) {
		confirm(http.StatusUnauthorized, map[string]any{"status": "failure", "reason": "invalid_token"})
		return
	}
	var env pushEnvelope
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPushBytes))
	if err == nil {
		err = json.Unmarshal(body, &env)
	}
	var plain []byte
	if err == nil {
		plain, err = openPush(p.cfg.pushKey, env)
	}
	var sub struct {
		ID   string `json:"id"`
		User struct {
			SessionID string `json:"session_id"`
		} `json:"user"`
		Submission *struct {
			Decision string `json:"decision"`
			Document *struct {
				Fields map[string]json.RawMessage `json:"fields"`
			} `json:"document"`
		} `json:"submission"`
		Images []json.RawMessage `json:"images"`
	}
	if err == nil {
		err = json.Unmarshal(plain, &sub)
	}
	if err != nil || sub.ID != env.ID {
		p.print(Line{"step": "push_refused", "push_id": env.ID, "reason": "does not decrypt"})
		// The key may be newer than ours: a failure is retried by central.
		confirm(http.StatusUnprocessableEntity, map[string]any{"status": "failure", "reason": "cannot_decrypt"})
		return
	}
	p.seenMu.Lock()
	dup := p.seen[env.ID]
	p.seen[env.ID] = true
	p.seenMu.Unlock()
	l := Line{"step": "push", "push_id": env.ID, "kid": env.KeyID, "session_id": sub.User.SessionID, "images": len(sub.Images), "duplicate": dup}
	if s := sub.Submission; s != nil {
		l["decision"] = s.Decision
		if s.Document != nil {
			l["fields"] = len(s.Document.Fields)
		}
	}
	p.print(l)
	confirm(http.StatusOK, map[string]any{"status": "success", "reference": "acme-" + env.ID})
}

// openPush decrypts a push with the shared key.
func openPush(key []byte, env pushEnvelope) ([]byte, error) {
	if env.Alg != "A256GCM" {
		return nil, fmt.Errorf("unknown alg %q", env.Alg)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(env.Nonce) != gcm.NonceSize() {
		return nil, errors.New("bad nonce")
	}
	return gcm.Open(nil, env.Nonce, env.Ciphertext, []byte("openkyc-push-v1\n"+env.ID+"\n"+env.PartnerID))
}

// handle does the follow-up work of each webhook: the session's details,
// and a Face Match call.
func (p *partner) handle(ctx context.Context, stop context.CancelFunc) {
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-p.events:
			switch ev.Body.Type {
			case "submission.completed", "decision.changed", "resubmission.requested":
				p.details(ctx, ev.Body.Data)
				p.faceMatch(ctx)
			}
			n++
			if p.cfg.maxEvents > 0 && n >= p.cfg.maxEvents {
				stop()
				return
			}
		}
	}
}

// bearer returns a partner token, asking for one when there is none or it
// is about to expire.
func (p *partner) bearer(ctx context.Context) (string, error) {
	p.tokMu.Lock()
	defer p.tokMu.Unlock()
	if p.token != "" && time.Until(p.tokExp) > time.Minute {
		return p.token, nil
	}
	var tr struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	status, err := p.call(ctx, http.MethodPost, "/api/v1/partner-token", "",
		map[string]string{"client_id": p.cfg.clientID, "pass_key": p.cfg.passKey}, nil, &tr)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK || tr.Token == "" {
		return "", fmt.Errorf("partner-token answered %d", status)
	}
	p.token, p.tokExp = tr.Token, tr.ExpiresAt
	p.print(Line{"step": "token", "expires_at": tr.ExpiresAt})
	return p.token, nil
}

// authCall is call with the partner token. A 401 means the token ended
// before its expiry (central ends a partner's tokens when a rotated-out
// pass key's overlap ends): the cached one is dropped and the request
// made once more with a new one.
func (p *partner) authCall(ctx context.Context, method, path string, in any, h http.Header, out any) (int, error) {
	for try := 0; ; try++ {
		tok, err := p.bearer(ctx)
		if err != nil {
			return 0, err
		}
		var raw json.RawMessage
		status, err := p.call(ctx, method, path, tok, in, h, &raw)
		if status == http.StatusUnauthorized && try == 0 {
			p.tokMu.Lock()
			if p.token == tok {
				p.token = ""
			}
			p.tokMu.Unlock()
			continue
		}
		if err == nil && out != nil && len(raw) > 0 {
			err = json.Unmarshal(raw, out)
		}
		return status, err
	}
}

// initiate starts a verification flow for the configured user.
func (p *partner) initiate(ctx context.Context) error {
	req := map[string]any{"partner_user_id": p.cfg.userID, "partner_user_id_type": p.cfg.userIDType,
		"accepted_documents": []string{"passport", "national_id"}, "liveness_type": "passive", "max_retries": 3, "session_ttl": 1800}
	var fr struct {
		SessionID string `json:"session_id"`
		LaunchURL string `json:"launch_url"`
		Status    string `json:"status"`
	}
	status, err := p.authCall(ctx, http.MethodPost, "/api/v1/flows", req, nil, &fr)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("initiate flow answered %d", status)
	}
	p.print(Line{"step": "flow", "session_id": fr.SessionID, "status": fr.Status, "launch_url": fr.LaunchURL})
	return nil
}

// details fetches a session's submission details (Get Submission Details).
func (p *partner) details(ctx context.Context, d webhook.Data) {
	var det struct {
		Status     string `json:"status"`
		NextAction string `json:"next_action"`
		Result     *struct {
			Decision    string   `json:"decision"`
			Score       float64  `json:"score"`
			ReasonCodes []string `json:"reason_codes"`
			Document    *struct {
				Fields map[string]json.RawMessage `json:"fields"`
			} `json:"document"`
			Images []json.RawMessage `json:"images"`
		} `json:"result"`
	}
	h := http.Header{"X-Partner-Session-Id": {d.SessionID}, "X-Partner-User-Id": {d.PartnerUserID}, "X-Partner-User-Id-Type": {d.PartnerUserIDType}}
	status, err := p.authCall(ctx, http.MethodGet, "/api/v1/submission-details", nil, h, &det)
	l := Line{"step": "details", "session_id": d.SessionID, "http_status": status, "status": det.Status, "next_action": det.NextAction}
	if err != nil {
		l["error"] = err.Error()
	}
	if r := det.Result; r != nil {
		l["decision"], l["score"], l["reasons"], l["images"] = r.Decision, r.Score, len(r.ReasonCodes), len(r.Images)
		if r.Document != nil {
			l["fields"] = len(r.Document.Fields) // how many, never their values
		}
	}
	p.print(l)
}

// faceMatch compares --selfie with --reference through the Face Match
// API; central without face models answers 503, which is reported.
func (p *partner) faceMatch(ctx context.Context) {
	if p.cfg.selfie == "" {
		p.print(Line{"step": "face_match", "skipped": "no --selfie/--reference"})
		return
	}
	read := func(f string) string {
		b, err := os.ReadFile(f)
		if err != nil {
			return ""
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	req := map[string]any{"selfie_base64": read(p.cfg.selfie), "reference_base64": read(p.cfg.reference), "skip_liveness": true}
	var res struct {
		Score     float64 `json:"score"`
		Threshold float64 `json:"threshold"`
		Decision  string  `json:"decision"`
		Code      string  `json:"code"`
	}
	status, err := p.authCall(ctx, http.MethodPost, "/api/v1/face-match", req, nil, &res)
	l := Line{"step": "face_match", "http_status": status}
	switch {
	case err != nil:
		l["error"] = err.Error()
	case status == http.StatusServiceUnavailable:
		l["skipped"], l["code"] = "central has no face matcher", res.Code
	case status == http.StatusOK:
		l["decision"], l["score"], l["threshold"] = res.Decision, res.Score, res.Threshold
	default:
		l["code"] = res.Code
	}
	p.print(l)
}

// call sends a JSON request and decodes the JSON answer (an error object
// too) into out; it returns the status.
func (p *partner) call(ctx context.Context, method, path, token string, in any, h http.Header, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.cfg.central+path, body)
	if err != nil {
		return 0, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: answer is not JSON", method, path)
		}
	}
	return resp.StatusCode, nil
}
