package hostedflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// Roles of a bound browser.
const (
	roleBrowser = "browser" // opened the launch URL
	rolePhone   = "phone"   // continued through the Smart QR
)

// Steps and stages.
const (
	stepDocument = "document"
	stepBack     = "back"
	stepSelfie   = "selfie"
	// stepChallenge holds the frames that met the selfie's challenges
	// (not a step the page captures).
	stepChallenge   = "challenge"
	stageProcessing = central.HostedStageProcessing
)

// sess is one request's session: the stored one, who asks, and the
// session's memory.
type sess struct {
	fs     central.FlowSession
	cfg    partnerapi.FlowConfig
	role   string
	secret string
	live   *live
}

// live is what this instance keeps of a session in memory: the guidance
// (engine/capture's guides, which hold the history of the last frames)
// and the bytes of guidance frames received here. It is a cache: on another instance a session's
// guides start again from its next frames (a couple of seconds of
// guidance), and what a verification needs (the captures, the challenges
// done, the stage) is in the store.
type live struct {
	key     string
	partner string // the session's partner id (Flow.livePartner)

	// gmu serialises guidance (a guide is used by one goroutine at a time).
	gmu    sync.Mutex
	guides map[string]guide
	start  map[string]time.Time
	recent map[string][]rawFrame // the step's last frames as received (keepFrame)
	// recentBytes are recent's bytes, counted in held (the Flow's
	// framesHeld) too.
	recentBytes int64
	held        *atomic.Int64
	pend        map[string][]byte  // a step's chosen frame until the step is complete
	pendCh      []challengeCapture // the challenges done so far, with their frames
	// pendBytes are pend's and pendCh's bytes, counted in held too: a
	// frame waiting there outlives recent (the selfie's, while its turns
	// are made), and without them 500 sessions held gigabytes uncounted.
	pendBytes int64

	mu      sync.Mutex
	seq     int
	frames  int64 // bytes of guidance frames received here
	expires time.Time
	touched time.Time
}

type rawFrame struct {
	seq  int
	data []byte
}

// guide is engine/capture's DocumentGuide or SelfieGuide.
type guide interface {
	Analyse(ctx context.Context, f capture.Frame) (capture.Overlay, error)
	Captures() []capture.Capture
	Done() bool
	Close() error
}

func liveKey(partnerID, sessionID string) string { return partnerID + "\x00" + sessionID }

// liveOf returns the session's memory, made on first use: 503 past
// Config.MaxLive, or past its partner's share of them (half), so that one
// partner's sessions (a script of its own reading each one's state now
// and then is enough) cannot take every place from the others'.
func (f *Flow) liveOf(fs central.FlowSession) (*live, error) {
	k := liveKey(fs.PartnerID, fs.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.live[k]; ok {
		return l, nil
	}
	if len(f.live) >= f.cfg.MaxLive || f.livePartner[fs.PartnerID] >= max(f.cfg.MaxLive/2, 1) {
		return nil, &httpx.Error{Status: http.StatusServiceUnavailable, Code: "busy", Message: "too many sessions at once; try again in a minute", RetryAfter: 30 * time.Second}
	}
	now := f.now()
	l := &live{key: k, partner: fs.PartnerID, guides: map[string]guide{}, start: map[string]time.Time{}, recent: map[string][]rawFrame{},
		held: &f.framesHeld, pend: map[string][]byte{}, expires: fs.ExpiresAt, touched: now}
	f.live[k] = l
	f.livePartner[fs.PartnerID]++
	return l, nil
}

// drop frees a session's memory.
func (f *Flow) drop(k string) {
	f.mu.Lock()
	l, ok := f.live[k]
	delete(f.live, k)
	if ok {
		if f.livePartner[l.partner]--; f.livePartner[l.partner] <= 0 {
			delete(f.livePartner, l.partner)
		}
	}
	f.mu.Unlock()
	if ok {
		l.release()
	}
}

func (l *live) release() {
	l.gmu.Lock()
	for _, g := range l.guides {
		closeGuide(g)
	}
	l.dropAllRecent()
	l.guides = map[string]guide{}
	l.dropAllPending()
	l.gmu.Unlock()
}

func closeGuide(g guide) {
	for _, c := range g.Captures() {
		c.Image.Close()
	}
	_ = g.Close()
}

// resetStep forgets a step's guide and frames (a retake).
func (l *live) resetStep(step string) {
	l.gmu.Lock()
	defer l.gmu.Unlock()
	if g, ok := l.guides[step]; ok {
		closeGuide(g)
		delete(l.guides, step)
	}
	l.dropRecent(step)
	l.takePending(step)
	if step == stepSelfie {
		l.takeChallenges()
	}
}

// dropSession frees a session's memory, if this instance holds any, and
// its captures in the store.
func (f *Flow) dropSession(ctx context.Context, fs central.FlowSession) {
	f.drop(liveKey(fs.PartnerID, fs.ID))
	f.deleteCaptures(ctx, fs, stepDocument, stepBack, stepSelfie, stepChallenge)
}

// resetGuides forgets the steps' guides of a session, if this instance
// holds any (their captures are being taken again).
func (f *Flow) resetGuides(fs central.FlowSession, steps ...string) {
	f.mu.Lock()
	l, ok := f.live[liveKey(fs.PartnerID, fs.ID)]
	f.mu.Unlock()
	if !ok {
		return
	}
	for _, st := range steps {
		l.resetStep(st)
	}
}

// processingTimeout is how long a verification may hold a session in
// "processing": past it the instance running it is taken for dead and
// the person may submit again.
const processingTimeout = central.HostedProcessingTimeout

// DefaultQueueHeartbeat is Config.QueueHeartbeat's default: a third of
// processingTimeout, so two renewals may fail before it passes.
const DefaultQueueHeartbeat = processingTimeout / 3

// processing reports whether an attempt of the session is being verified
// (by any instance).
func (f *Flow) processing(_ context.Context, fs central.FlowSession) bool {
	return fs.Hosted.Verifying(f.now())
}

func (f *Flow) dropAll() {
	f.mu.Lock()
	keys := make([]string, 0, len(f.live))
	for k := range f.live {
		keys = append(keys, k)
	}
	f.mu.Unlock()
	for _, k := range keys {
		f.drop(k)
	}
}

// sweep drops the memory of sessions past their expiry or idle for ten
// minutes, and the store's expired hosted state (captures, short codes).
func (f *Flow) sweep(ctx context.Context) {
	now := f.now()
	f.mu.Lock()
	var old []string
	for k, l := range f.live {
		l.mu.Lock()
		if !now.Before(l.expires) || now.Sub(l.touched) > 10*time.Minute {
			old = append(old, k)
		}
		l.mu.Unlock()
	}
	f.mu.Unlock()
	for _, k := range old {
		f.drop(k)
	}
	for {
		n, err := f.hs.ExpireHostedState(ctx, now, 500)
		if err != nil {
			f.log.LogAttrs(ctx, slog.LevelWarn, "hosted flow: expiring state", slog.String("cause", err.Error()))
			return
		}
		if n < 500 {
			return
		}
	}
}

// withSession resolves the cookie to the session and its role; POSTs need
// the CSRF header. Sessions that are finished or expired refuse all but
// the state (409, 410).
func (f *Flow) withSession(fn func(http.ResponseWriter, *http.Request, *sess) error, post bool) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := f.session(w, r)
		if err != nil {
			return err
		}
		if post {
			if got := r.Header.Get(csrfHeader); got == "" || !sameHash([]byte(got), []byte(csrfToken(s.secret))) {
				return httpx.Errorf(http.StatusForbidden, "csrf", "missing or wrong "+csrfHeader+" header")
			}
			switch st := f.status(s.fs); {
			case st == central.FlowExpired:
				return httpx.Errorf(http.StatusGone, "session_expired", "this verification has expired")
			case r.URL.Path == "/flow/api/finish", r.URL.Path == "/flow/api/lang":
			case st == central.FlowCompleted || st == central.FlowError || s.fs.Hosted.FinishedAt.After(time.Time{}):
				if !(r.URL.Path == "/flow/api/retry" && s.fs.NextAction == "RETRY" && st != central.FlowError) {
					return httpx.Errorf(http.StatusConflict, "session_finished", "this verification is finished")
				}
			}
		}
		if s.live, err = f.liveOf(s.fs); err != nil {
			return err
		}
		s.live.mu.Lock()
		s.live.touched, s.live.expires = f.now(), s.fs.ExpiresAt
		s.live.mu.Unlock()
		return fn(w, r, s)
	}
}

// session reads the cookie's session; one proven by the legacy cookie
// moves to the __Host- one (moveCookie). The legacy cookie proves only a
// session created before this instance started: a later one was never
// given it, so one sent for it was planted.
func (f *Flow) session(w http.ResponseWriter, r *http.Request) (*sess, error) {
	v, legacy := sessionCookie(r)
	pid, sid, secret, ok := parseRef(v)
	if !ok {
		return nil, httpx.Errorf(http.StatusUnauthorized, "no_session", "open the verification link again")
	}
	// A session that does not exist and one whose secret is not the
	// cookie's answer alike, and the owner's access (admit) is told only
	// to a browser of the session: the ids are the sender's to write, and
	// a partner's session ids may be guessed (partner_session_id).
	noSession := httpx.Errorf(http.StatusUnauthorized, "no_session", "open the verification link again")
	fs, err := f.cfg.Store.Flow(r.Context(), pid, sid)
	if errors.Is(err, central.ErrNotFound) {
		return nil, noSession
	}
	if err != nil {
		return nil, fmt.Errorf("reading the session: %w", err)
	}
	h := fs.Hosted
	s := &sess{fs: fs, secret: secret}
	switch {
	case h == nil, legacy && !fs.CreatedAt.Before(f.started):
		return nil, noSession
	case sameHash(hashOf(secret), h.BrowserHash):
		s.role = roleBrowser
	case sameHash(hashOf(secret), h.PhoneHash):
		s.role = rolePhone
	default:
		return nil, noSession
	}
	if err := f.admit(r.Context(), fs); err != nil {
		return nil, err
	}
	s.cfg = flowConfig(fs)
	if legacy {
		f.moveCookie(w, s)
	}
	return s, nil
}

// errUnavailable means the session's owner may no longer use the flow:
// its partner was disabled, or the kiosk that handed it off was revoked.
// Every step of the session is refused with it (410 link_unavailable, as
// a link that is gone, saying nothing of why) and changes nothing, so the
// session goes on once the partner is enabled again.
var errUnavailable = errors.New("hostedflow: the verification link is no longer available")

// flow reads a session for one of its requests, refusing it with
// errUnavailable when its owner lost access (admit): the short code's,
// which names the session once the code proved right. The cookie's
// session and the phone link call admit themselves once the request
// proved it holds the session's secret, the launch URL once found by its
// hash.
func (f *Flow) flow(ctx context.Context, partnerID, sessionID string) (central.FlowSession, error) {
	fs, err := f.cfg.Store.Flow(ctx, partnerID, sessionID)
	if err != nil {
		return fs, fmt.Errorf("reading the session: %w", err)
	}
	return fs, f.admit(ctx, fs)
}

// admit checks that fs's owner may still use the flow: its partner exists
// and is not disabled (a kiosk's hand-off belongs to the partner of the
// kiosk's branch), and the kiosk of a hand-off is enrolled and not
// revoked. The partner API and the device API refuse them on their own;
// this carries the refusal to the links and sessions they opened.
func (f *Flow) admit(ctx context.Context, fs central.FlowSession) error {
	if fs.PartnerID != KioskPartner {
		p, err := f.cfg.Store.Partner(ctx, fs.PartnerID)
		if errors.Is(err, central.ErrNotFound) || err == nil && p.Disabled {
			return errUnavailable
		}
		if err != nil {
			return fmt.Errorf("reading the session's partner: %w", err)
		}
	}
	if fs.Hosted != nil && fs.Hosted.KioskDevice != "" {
		d, err := f.cfg.Store.Device(ctx, fs.Hosted.KioskDevice)
		if errors.Is(err, central.ErrNotFound) || err == nil && d.Revoked() {
			return errUnavailable
		}
		if err != nil {
			return fmt.Errorf("reading the session's kiosk: %w", err)
		}
	}
	return nil
}

// flowConfig reads a session's configuration (partner API defaults for
// what is missing).
func flowConfig(fs central.FlowSession) partnerapi.FlowConfig {
	// allow_upload is on unless the partner turned it off (sessions
	// stored before the setting existed have no member).
	c := partnerapi.FlowConfig{LivenessType: "passive", MaxRetries: partnerapi.DefaultMaxRetries, AllowUpload: true}
	_ = json.Unmarshal(fs.Config, &c)
	if c.MaxRetries < 1 {
		c.MaxRetries = partnerapi.DefaultMaxRetries
	}
	return c
}

// status is the session's status at now (central.FlowSession.StatusAt).
func (f *Flow) status(fs central.FlowSession) central.FlowStatus { return fs.StatusAt(f.now()) }

// docSides is 2 when every accepted document is a card with a back the
// engine reads (national ID cards, driving licences), else 1.
func docSides(c partnerapi.FlowConfig) int {
	if len(c.AcceptedDocuments) == 0 {
		return 1
	}
	for _, d := range c.AcceptedDocuments {
		if d != "id_card" && d != "driving_licence" {
			return 1
		}
	}
	return 2
}

// challenges are the active liveness prompts of a session: the kiosk's
// turns, in the order drawn for the session (h.ChallengeOrder), when
// liveness_type is active, or once an attempt's passive liveness was in
// doubt (h.DoubtChallenge).
func challenges(c partnerapi.FlowConfig, h *central.HostedFlow) []string {
	if c.LivenessType != "active" && (h == nil || !h.DoubtChallenge) {
		return []string{}
	}
	if h != nil && len(h.ChallengeOrder) > 0 {
		return slices.Clone(h.ChallengeOrder)
	}
	return turns()
}

// turns are the head turns a challenge asks for.
func turns() []string { return []string{string(capture.TurnLeft), string(capture.TurnRight)} }

// challengeOrder draws the order of a session's turns (Config.ChallengeOrder
// in tests).
func (f *Flow) challengeOrder() []string {
	if f.cfg.ChallengeOrder != nil {
		return f.cfg.ChallengeOrder(turns())
	}
	var out []string
	for _, m := range capture.ShuffleChallenges([]capture.Message{capture.TurnLeft, capture.TurnRight}) {
		out = append(out, string(m))
	}
	return out
}

// State is /flow/api/state's answer (the wire contract).
type State struct {
	Stage        string   `json:"stage"`
	Lang         string   `json:"lang"`
	DocSides     int      `json:"doc_sides"`
	LivenessType string   `json:"liveness_type"`
	Challenges   []string `json:"challenges"`
	Attempt      int      `json:"attempt"`
	MaxRetries   int      `json:"max_retries"`
	AllowUpload  bool     `json:"allow_upload"`
	SmartQR      bool     `json:"smart_qr"`
	NextAction   string   `json:"next_action,omitempty"`
	RetryStep    string   `json:"retry_step,omitempty"`
	Message      string   `json:"message,omitempty"`
	// MessageKey names Message in the engine's catalogue (liveness_challenge:
	// the retry is the doubt's one more step, not a failed capture).
	MessageKey  string `json:"message_key,omitempty"`
	Status      string `json:"status,omitempty"`
	ErrorCode   string `json:"error_code,omitempty"`
	HideCTA     bool   `json:"hide_cta"`
	RedirectURL string `json:"redirect_url,omitempty"`
	// EmbedOrigins are the partner's origins that may frame the page; a
	// framed page posts its result to them (postMessage with each as
	// the target origin, so no other parent receives it).
	EmbedOrigins []string  `json:"embed_origins"`
	Callback     Callback  `json:"callback"`
	Handoff      Handoff   `json:"handoff"`
	Captures     Captures  `json:"captures"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// Callback is what the partner's front end receives at the end.
type Callback struct {
	Status    string `json:"status"`
	ErrorCode string `json:"error_code"`
	SessionID string `json:"session_id"`
}

// Handoff tells whether the Smart QR hand-off is on and who captures.
type Handoff struct {
	Active bool   `json:"active"`
	Device string `json:"device"` // "phone" once the phone took over, else "this"
}

// Captures says which steps hold a capture.
type Captures struct {
	Document bool `json:"document"`
	Back     bool `json:"back"`
	Selfie   bool `json:"selfie"`
}

// state builds the session's state as s's browser sees it.
func (f *Flow) state(s *sess) State {
	fs, h := s.fs, s.fs.Hosted
	st := State{Lang: h.Lang, DocSides: docSides(s.cfg), LivenessType: s.cfg.LivenessType, Challenges: challenges(s.cfg, s.fs.Hosted),
		Attempt: fs.Attempts + 1, MaxRetries: s.cfg.MaxRetries, AllowUpload: s.cfg.AllowUpload, SmartQR: s.cfg.SmartQR,
		NextAction: fs.NextAction, RetryStep: h.RetryStep, Message: h.Message, ErrorCode: fs.ErrorCode,
		HideCTA: s.cfg.HideCTA, RedirectURL: s.cfg.RedirectURL, EmbedOrigins: []string{}, ExpiresAt: fs.ExpiresAt}
	if o := embedOrigins(s.cfg); s.role == roleBrowser && o != nil {
		st.EmbedOrigins = o
	}
	if st.Lang == "" {
		st.Lang = "en"
	}
	st.Message, st.MessageKey = resultMessage(h, st.Lang), h.MessageKey
	status := f.status(fs)
	st.Status = callbackStatus(status)
	if status == central.FlowExpired && st.ErrorCode == "" {
		st.ErrorCode = "session_expired"
	}
	st.Callback = Callback{Status: st.Status, ErrorCode: st.ErrorCode, SessionID: fs.ID}
	st.Handoff = Handoff{Active: len(h.PhoneHash) > 0 || len(h.HandoffHash) > 0, Device: "this"}
	if len(h.PhoneHash) > 0 {
		st.Handoff.Device = rolePhone
	}
	processing := f.processing(context.Background(), fs)
	st.Captures = Captures{Document: slices.Contains(h.Captured, stepDocument), Back: slices.Contains(h.Captured, stepBack),
		Selfie: slices.Contains(h.Captured, stepSelfie)}
	switch {
	case status == central.FlowExpired:
		st.Stage = "expired"
	case !h.FinishedAt.IsZero() && !(s.role == roleBrowser && len(h.PhoneHash) > 0):
		// After a hand-off the phone finishing first must not end the
		// first page before it has sent the partner its own callback: it
		// keeps seeing the result.
		st.Stage = "done"
	case processing:
		st.Stage = "processing"
	case s.role == roleBrowser && len(h.PhoneHash) > 0 && h.Stage != "result":
		st.Stage = "handoff"
	case h.Stage == "result" || status == central.FlowCompleted || status == central.FlowError:
		st.Stage = "result"
	default:
		st.Stage = h.Stage
		if st.Stage == "" {
			st.Stage = stepDocument
		}
		if st.Stage == stageProcessing {
			// A verification whose instance died: the captures stay, the
			// person submits again.
			st.Stage = stepSelfie
		}
		if st.Stage == stepDocument && st.Captures.Document {
			st.Stage = stepBack
			if st.DocSides < 2 {
				st.Stage = stepSelfie
			}
		}
		if st.Stage == stepBack && (st.Captures.Back || st.DocSides < 2) {
			st.Stage = stepSelfie
		}
	}
	if st.Stage == "result" || st.Stage == "done" {
		st.Attempt = max(1, fs.Attempts) // the attempt the result is of
	}
	if st.Stage != "result" && st.Stage != "done" && st.Stage != "expired" {
		st.NextAction, st.Message, st.MessageKey = "", "", ""
		if st.Stage != stepDocument && st.Stage != stepSelfie && st.Stage != stepBack {
			st.RetryStep = ""
		}
	}
	return st
}

// resultMessage is the last result's message in lang (as stored when its
// key is unknown).
func resultMessage(h *central.HostedFlow, lang string) string {
	if h.MessageKey == "" {
		return h.Message
	}
	if t, err := risk.MessageKey(h.MessageKey).Text(risk.Language(lang)); err == nil {
		return t
	}
	return h.Message
}

// callbackStatus is the front end's status: COMPLETED for a decision,
// ERROR for anything that ended without one (expired included), "" while
// the session goes on.
func callbackStatus(s central.FlowStatus) string {
	switch s {
	case central.FlowCompleted:
		return "COMPLETED"
	case central.FlowError, central.FlowExpired:
		return "ERROR"
	}
	return ""
}

// setLang is the page's language switch: the session's language becomes
// the one chosen, so the guidance of the next frame and the result's
// message are in it (the page translates its own words).
func (f *Flow) setLang(w http.ResponseWriter, r *http.Request, s *sess) error {
	var req struct {
		Lang string `json:"lang"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256)).Decode(&req); err != nil || (req.Lang != "en" && req.Lang != "id") {
		return httpx.Errorf(http.StatusBadRequest, "bad_lang", `the body must be {"lang": "en"} or {"lang": "id"}`)
	}
	if err := f.spendAction(r.Context(), s); err != nil {
		return err
	}
	if s.fs.Hosted.Lang != req.Lang {
		fs, err := f.cfg.Store.UpdateFlow(r.Context(), s.fs.PartnerID, s.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
			if fs.Hosted != nil {
				fs.Hosted.Lang = req.Lang
			}
			return nil, nil
		})
		if err != nil {
			return fmt.Errorf("recording the language: %w", err)
		}
		s.fs = fs
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		State State `json:"state"`
	}{f.state(s)})
	return nil
}

func (f *Flow) stateHandler(w http.ResponseWriter, _ *http.Request, s *sess) error {
	httpx.WriteJSON(w, http.StatusOK, f.state(s))
	return nil
}

// spendAction takes one of the session's actions (ActionBurst), or
// answers 429 with the time until one is back.
func (f *Flow) spendAction(ctx context.Context, s *sess) error {
	ok, wait, err := f.actions.Allow(ctx, handoffID(s.fs.PartnerID, s.fs.ID))
	if err != nil {
		return err
	}
	if !ok {
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests for this verification; wait a moment",
			RetryAfter: max(wait, time.Second)}
	}
	return nil
}

// validStep checks ?step= against what the session captures.
func validStep(s *sess, step string) error {
	ok := slices.Contains([]string{stepDocument, stepSelfie}, step) || (step == stepBack && docSides(s.cfg) == 2)
	if !ok {
		return httpx.Errorf(http.StatusBadRequest, "bad_step", "step must be document, back (two-sided documents) or selfie")
	}
	return nil
}
