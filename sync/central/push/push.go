package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// SenderPrefix is the key of webhook.Config.Senders that routes push
// events (webhook.EventPush) to a Sender.
const SenderPrefix = "push."

// ConfirmationBytes is how much of the partner's confirmation an attempt
// keeps.
const ConfirmationBytes = 1024

// drainBytes is how much more of an answer is read (and dropped) so the
// connection can be reused.
const drainBytes = 64 << 10

// Source is where a Sender gets each partner's push settings and the
// submission to send: *partnerapi.API.
type Source interface {
	PushTarget(p central.Partner) (partnerapi.PushTarget, error)
	PushSubmission(ctx context.Context, p central.Partner, sessionID string, attempt int, pushID string) (*partnerapi.PushBody, error)
}

// Config configures a Sender.
type Config struct {
	Source Source // required
	// Client sends the token requests and the pushes; nil means one on the
	// system roots that follows no redirect (a 3xx is a failed attempt).
	Client *http.Client
	// UserAgent of the requests ("kyc-central-push").
	UserAgent string
	// Logger receives the sender's log; nil discards it.
	Logger *slog.Logger
}

// Sender sends push events (webhook.Sender). Safe for concurrent use.
type Sender struct {
	cfg Config

	mu     sync.Mutex
	tokens map[string]*tokenEntry // by partner id
}

// tokenEntry is one partner's cached token; mu is held while fetching,
// so concurrent pushes of a partner wait for one token request.
type tokenEntry struct {
	mu  sync.Mutex
	fp  string // the settings the token was got with
	tok *oauth2.Token
}

// New returns a Sender.
func New(cfg Config) (*Sender, error) {
	if cfg.Source == nil {
		return nil, errors.New("push: Config needs a Source")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Transport:     httpx.OutboundTransport(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	// The worker's attempt bounds each request by its size (the push's
	// images), not by one Timeout: webhook.Config.MinRate.
	cfg.Client = webhook.PacedClient(cfg.Client)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "kyc-central-push"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sender{cfg: cfg, tokens: map[string]*tokenEntry{}}, nil
}

// Send pushes ev's submission to partner p once: the answer's status and
// the start of its confirmation, or an error when there was no usable
// answer (it implements webhook.Sender; ctx bounds it, each request by its
// size).
func (s *Sender) Send(ctx context.Context, p central.Partner, ev central.WebhookEvent, at time.Time) (int, string, error) {
	status, excerpt, _, err := s.SendRetryAfter(ctx, p, ev, at)
	return status, excerpt, err
}

var _ webhook.RetryAfterSender = (*Sender)(nil)

// SendRetryAfter is Send that also returns the wait the answer's
// Retry-After asks for (a 429's, a 503's; zero when none): it implements
// webhook.RetryAfterSender, so the worker retries a push no sooner than
// the endpoint asks, as it does a webhook.
func (s *Sender) SendRetryAfter(ctx context.Context, p central.Partner, ev central.WebhookEvent, at time.Time) (int, string, time.Duration, error) {
	var d webhook.Body
	if err := json.Unmarshal(ev.Payload, &d); err != nil || d.Type != webhook.EventPush || d.Data.SessionID == "" {
		return 0, "", 0, errors.New("the event is not a push")
	}
	target, err := s.cfg.Source.PushTarget(p)
	if errors.Is(err, partnerapi.ErrNoPush) {
		return 0, "", 0, fmt.Errorf("the partner has no enterprise push: %w", webhook.ErrGiveUp)
	}
	if err != nil {
		return 0, "", 0, err
	}
	sub, err := s.cfg.Source.PushSubmission(ctx, p, d.Data.SessionID, d.Data.Attempt, ev.ID)
	if errors.Is(err, central.ErrNotFound) {
		return 0, "", 0, fmt.Errorf("the submission no longer exists (erased): %w", webhook.ErrGiveUp)
	}
	if err != nil {
		return 0, "", 0, fmt.Errorf("building the submission: %w", err)
	}
	plainLen, err := sub.Len()
	if err != nil {
		return 0, "", 0, fmt.Errorf("building the submission: %w", err)
	}
	length, err := envelopeLen(target.KeyID, ev.ID, p.ID, plainLen)
	if err != nil {
		return 0, "", 0, fmt.Errorf("building the submission: %w", err)
	}
	body := &envelopeBody{ctx: ctx, target: target, id: ev.ID, partnerID: p.ID, plain: sub, length: length}
	defer body.wait()
	status, excerpt, failed, wait, err := s.post(ctx, p.ID, target, ev.ID, body, false, at)
	if err == nil && status == http.StatusUnauthorized {
		// The token may have been revoked before its expiry: one more try
		// with a fresh one.
		status, excerpt, failed, wait, err = s.post(ctx, p.ID, target, ev.ID, body, true, at)
	}
	if err != nil {
		return status, "", 0, err
	}
	if status >= 200 && status < 300 && failed != "" {
		return status, "", wait, fmt.Errorf("the partner's confirmation says %s: %s", failed, excerpt)
	}
	s.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "push sent", slog.String("partner", p.ID), slog.String("event", ev.ID),
		slog.Int("status", status))
	return status, excerpt, wait, nil
}

// post sends the envelope with a token (a new one when fresh) and reads
// the answer's start: its excerpt, and failed, the confirmation's status
// when it says failure or error ("" otherwise), and the wait its
// Retry-After asks for at at.
func (s *Sender) post(ctx context.Context, partnerID string, t partnerapi.PushTarget, id string, body *envelopeBody, fresh bool, at time.Time) (int, string, string, time.Duration, error) {
	tok, err := s.token(ctx, partnerID, t, fresh)
	if err != nil {
		return 0, "", "", 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, nil)
	if err != nil {
		return 0, "", "", 0, errors.New("the push URL is invalid")
	}
	// The envelope is written as it is sent, read anew from the store
	// each time the request is (GetBody: a retry on a new connection). Its
	// length is announced: some endpoints refuse a chunked body (411).
	req.Body, _ = body.open()
	req.GetBody, req.ContentLength = body.open, body.length
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	req.Header.Set("Idempotency-Key", id)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		if werr := body.err(); errors.Is(werr, errChanged) {
			return 0, "", "", 0, werr
		} else if werr != nil {
			return 0, "", "", 0, fmt.Errorf("building the submission: %w", werr)
		}
		return 0, "", "", 0, webhook.DescribeTransport(err)
	}
	defer resp.Body.Close()
	// The status is read from up to drainBytes of the answer, not from
	// the excerpt kept: a failure whose details run past
	// ConfirmationBytes was no JSON once cut there, and counted as
	// delivered.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, drainBytes))
	_, _ = io.CopyN(io.Discard, resp.Body, drainBytes)
	excerpt := webhook.Excerpt(string(head[:min(len(head), ConfirmationBytes)]), ConfirmationBytes)
	return resp.StatusCode, excerpt, failedStatus(head), httpx.ParseRetryAfter(resp.Header.Get("Retry-After"), at), nil
}

// envelopeBody is a push's request body: each open starts a goroutine
// writing the envelope into a pipe as the request reads it, so a push
// holds about a segment of it, not its images. wait ends them all.
type envelopeBody struct {
	ctx       context.Context
	target    partnerapi.PushTarget
	id        string
	partnerID string
	plain     *partnerapi.PushBody
	length    int64 // announced (Content-Length): envelopeLen of plain's Len

	mu      sync.Mutex
	readers []*io.PipeReader
	lastErr error // the last writer's failure but a closed pipe
	wg      sync.WaitGroup
}

func (b *envelopeBody) open() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	b.mu.Lock()
	b.readers = append(b.readers, pr)
	b.mu.Unlock()
	b.wg.Go(func() {
		lw := &lengthWriter{w: pw, left: b.length}
		err := writeEnvelope(lw, b.target.Key, b.target.KeyID, b.id, b.partnerID, func(w io.Writer) error {
			return b.plain.Write(b.ctx, w)
		})
		err = lw.end(err)
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			b.mu.Lock()
			b.lastErr = err
			b.mu.Unlock()
		}
		// The reader sees err (or EOF) only after it is recorded.
		pw.CloseWithError(err)
	})
	return pr, nil
}

// err is why the body could not be written, nil if it could or if only
// its reader went away.
func (b *envelopeBody) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastErr
}

// wait stops the writers (their next write fails) and waits for them.
func (b *envelopeBody) wait() {
	b.mu.Lock()
	for _, r := range b.readers {
		r.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// errChanged means the envelope came out of another length than the one
// announced: the store dropped an image between the count and the write.
var errChanged = errors.New("the submission changed while it was sent (an image dropped from the store meanwhile?), so the push was cut off")

// lengthWriter passes the envelope on a byte behind: the last byte
// written so far is held, and end writes it only if the envelope came
// out whole and of the announced length. So a partner never gets an
// envelope that is whole (its closing brace) unless it is the one
// announced, whatever it makes of a body cut short. A write past the
// length is refused (errChanged).
type lengthWriter struct {
	w    io.Writer
	left int64   // announced bytes not yet taken
	last [1]byte // the last byte taken, held
	held bool
	over error // a write past the length
}

func (l *lengthWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		l.over = fmt.Errorf("%w: it is longer than the %d bytes announced", errChanged, l.left)
		return 0, l.over
	}
	if len(p) == 0 {
		return 0, nil
	}
	if l.held {
		if _, err := l.w.Write(l.last[:]); err != nil {
			return 0, err
		}
	}
	l.left -= int64(len(p))
	l.last[0], l.held = p[len(p)-1], true
	if len(p) > 1 {
		if n, err := l.w.Write(p[:len(p)-1]); err != nil {
			return n, err
		}
	}
	return len(p), nil
}

// end finishes an envelope whose writing returned werr: it writes the
// held byte when the envelope was whole and of the announced length, else
// returns why not (errChanged for another length, whatever the write's
// error says of it).
func (l *lengthWriter) end(werr error) error {
	switch {
	case l.over != nil:
		return l.over
	case werr != nil:
		return werr
	case l.left != 0 || !l.held:
		return fmt.Errorf("%w: it is %d bytes short of the length announced", errChanged, l.left)
	}
	_, err := l.w.Write(l.last[:])
	return err
}

// token returns a valid access token for the partner: the cached one,
// else (or when fresh) a new one from its token endpoint.
func (s *Sender) token(ctx context.Context, partnerID string, t partnerapi.PushTarget, fresh bool) (string, error) {
	fp := fingerprint(t)
	s.mu.Lock()
	e := s.tokens[partnerID]
	if e == nil {
		e = &tokenEntry{}
		s.tokens[partnerID] = e
	}
	s.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !fresh && e.fp == fp && e.tok.Valid() {
		return e.tok.AccessToken, nil
	}
	cc := clientcredentials.Config{ClientID: t.ClientID, ClientSecret: t.ClientSecret, TokenURL: t.TokenURL, Scopes: t.Scopes}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, s.cfg.Client))
	if err != nil {
		e.tok = nil
		return "", fmt.Errorf("getting the OAuth2 token: %s", webhook.Excerpt(tokenError(err), 200))
	}
	e.fp, e.tok = fp, tok
	return tok.AccessToken, nil
}

// fingerprint identifies the settings a token was got with, so a change
// of endpoint, client or secret fetches a new one.
func fingerprint(t partnerapi.PushTarget) string {
	h := sha256.New()
	for _, s := range append([]string{t.TokenURL, t.ClientID, t.ClientSecret}, t.Scopes...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

// tokenError describes a failed token request: the endpoint's status and
// error code, never the request's URL.
func tokenError(err error) string {
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		msg := "the token endpoint answered"
		if re.Response != nil {
			msg += " " + re.Response.Status
		}
		if re.ErrorCode != "" {
			msg += ": " + re.ErrorCode
		}
		return msg
	}
	return webhook.DescribeTransport(err).Error()
}

// failedStatus is the "status" member of a confirmation JSON, lower case,
// when it says failure or error; "" otherwise. The object's members are
// read in turn up to the first that does not parse (body may be cut
// short), so a status before long details counts however long they are;
// a status named twice that once says failure is a failure.
func failedStatus(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		var st string
		if name, _ := t.(string); name != "status" || json.Unmarshal(v, &st) != nil {
			continue
		}
		if st = strings.ToLower(st); st == "failure" || st == "error" {
			return st
		}
	}
	return ""
}
