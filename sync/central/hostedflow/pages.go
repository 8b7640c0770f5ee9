package hostedflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer"><title>{{.Title}}</title>
<link rel="stylesheet" href="/flow/static/flow.css"></head>
<body><main class="screen"><h1>{{.Title}}</h1><p id="state" data-state="{{.State}}">{{.Message}}</p>
{{if .Requester}}<p id="requester">{{.Requester}}</p>{{end}}
{{if .Form}}<form method="post" action="/flow/code"><label for="code">{{.Label}}</label>
<input id="code" name="code" autocomplete="one-time-code" autocapitalize="characters" maxlength="12" minlength="8" required inputmode="text">
<button type="submit">{{.Button}}</button></form>{{end}}
{{if .Start}}<form method="post" action="{{.Start}}" class="actions"><button id="begin" class="btn primary" type="submit">{{.Button}}</button></form>{{end}}</main></body></html>
`))

type page struct {
	Lang, Title, State, Message string
	Form                        bool
	Label, Button               string
	// Start is the link the landing page's Start button posts to.
	Start string
	// Requester names the partner asking for the verification, on the
	// landing page: a person sent someone else's link (a scam, a paid
	// "mule") sees whose verification they would be doing before they
	// start, as Stripe Identity and Onfido name the business.
	Requester string
}

var pageTexts = map[string]map[string]string{
	"en": {"title": "Identity verification", "used": "This link was already used. Continue in the browser where you first opened it, or ask for a new link.",
		"expired": "This verification link has expired. Ask for a new one.", "unknown": "This verification link is not valid.",
		"finished": "This verification is finished.", "code": "Type the 8-character code shown on the other screen.",
		"label": "Code", "button": "Continue", "badcode": "That code is not valid or has expired. Check it and try again.",
		"unavailable": "The verification service is not available right now. Please try again later.", "link_unavailable": "This verification link is no longer available.",
		"start_title": "Verify your identity", "start": "You will take a photo of your ID document, then a selfie.", "start_button": "Start",
		"requester": "%s asks you to verify your identity. Continue only if you are dealing with %s yourself."},
	"id": {"title": "Verifikasi identitas", "used": "Tautan ini sudah digunakan. Lanjutkan di peramban tempat Anda pertama kali membukanya, atau minta tautan baru.",
		"expired": "Tautan verifikasi ini sudah kedaluwarsa. Mintalah tautan baru.", "unknown": "Tautan verifikasi ini tidak valid.",
		"finished": "Verifikasi ini sudah selesai.", "code": "Ketik kode 8 karakter yang tampil di layar lain.",
		"label": "Kode", "button": "Lanjutkan", "badcode": "Kode tidak valid atau sudah kedaluwarsa. Periksa dan coba lagi.",
		"unavailable": "Layanan verifikasi sedang tidak tersedia. Silakan coba lagi nanti.", "link_unavailable": "Tautan verifikasi ini sudah tidak tersedia.",
		"start_title": "Verifikasi identitas Anda", "start": "Anda akan memotret dokumen identitas Anda, lalu swafoto.", "start_button": "Mulai",
		"requester": "%s meminta Anda memverifikasi identitas. Lanjutkan hanya jika Anda sendiri yang berurusan dengan %s."},
}

// pageLang is the session's language if set, else the browser's (en|id).
func pageLang(r *http.Request, configured string) string {
	if configured == "en" || configured == "id" {
		return configured
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case tag == "id" || strings.HasPrefix(tag, "id-") || tag == "in":
			return "id"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			return "en"
		}
	}
	return "en"
}

// writeUnavailable is the page of a session whose owner lost access
// (errUnavailable).
func (f *Flow) writeUnavailable(w http.ResponseWriter, lang string) error {
	return f.writePage(w, http.StatusGone, lang, "link_unavailable", false, "link_unavailable")
}

func (f *Flow) writePage(w http.ResponseWriter, status int, lang, state string, form bool, msgKey string) error {
	t := pageTexts[lang]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return pageTmpl.Execute(w, page{Lang: lang, Title: t["title"], State: state, Message: t[msgKey], Form: form, Label: t["label"], Button: t["button"]})
}

// writeStart is the landing page of a launch or phone link: what will
// happen and a Start button that posts back to the link. Opening a link
// changes nothing; link previews and mail scanners fetch every link in a
// message before the person taps it, and would otherwise use it up.
func (f *Flow) writeStart(w http.ResponseWriter, r *http.Request, lang string, fs central.FlowSession) error {
	t := pageTexts[lang]
	name, err := f.requester(r.Context(), fs)
	if err != nil {
		return err
	}
	p := page{Lang: lang, Title: t["start_title"], State: "start", Message: t["start"], Button: t["start_button"],
		Start: r.URL.EscapedPath()}
	if name != "" {
		p.Requester = fmt.Sprintf(t["requester"], name, name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return pageTmpl.Execute(w, p)
}

// maxRequesterName bounds the partner's name on the landing page, in runes.
const maxRequesterName = 80

// requester is the name of the partner whose session fs is, for the
// landing page; "" for a kiosk's own session (the person stands at the
// branch that asks).
func (f *Flow) requester(ctx context.Context, fs central.FlowSession) (string, error) {
	if fs.PartnerID == KioskPartner {
		return "", nil
	}
	p, err := f.cfg.Store.Partner(ctx, fs.PartnerID)
	if err != nil {
		return "", fmt.Errorf("reading the session's partner: %w", err)
	}
	name := p.Name // 1-128 printable characters (partnerapi)
	if r := []rune(name); len(r) > maxRequesterName {
		name = string(r[:maxRequesterName-1]) + "…"
	}
	return name, nil
}

// holdsCookie reports whether r carries the cookie of fs's browser whose
// secret hashes to bound: the person reloading a link already started.
func holdsCookie(r *http.Request, fs central.FlowSession, bound []byte) bool {
	v, _ := sessionCookie(r)
	pid, sid, secret, ok := parseRef(v)
	return ok && pid == fs.PartnerID && sid == fs.ID && sameHash(hashOf(secret), bound)
}

// launch is the launch URL. GET shows the landing page (writeStart);
// POST, its Start button, binds the browser to the session (single use).
// The link then only says it was used, except to the browser bound, which
// goes on to the page.
func (f *Flow) launch(w http.ResponseWriter, r *http.Request) error {
	tok := r.PathValue("token")
	lang := pageLang(r, "")
	if len(tok) > 64 || len(tok) < 16 {
		return f.writePage(w, http.StatusNotFound, lang, "unknown", false, "unknown")
	}
	fs, err := f.cfg.Store.FlowByLaunch(r.Context(), hashOf(tok))
	if errors.Is(err, central.ErrNotFound) {
		return f.writePage(w, http.StatusNotFound, lang, "unknown", false, "unknown")
	}
	if err != nil {
		return fmt.Errorf("reading the session: %w", err)
	}
	lang = pageLang(r, configLang(fs))
	if err := f.admit(r.Context(), fs); errors.Is(err, errUnavailable) {
		return f.writeUnavailable(w, lang)
	} else if err != nil {
		return err
	}
	allowFraming(w, embedOrigins(flowConfig(fs)))
	switch f.status(fs) {
	case central.FlowExpired:
		return f.writePage(w, http.StatusGone, lang, "expired", false, "expired")
	case central.FlowCompleted, central.FlowError:
		return f.writePage(w, http.StatusGone, lang, "used", false, "used")
	}
	if launchUsed(fs) {
		if holdsCookie(r, fs, fs.Hosted.BrowserHash) {
			http.Redirect(w, r, "/flow/app", http.StatusSeeOther)
			return nil
		}
		return f.writePage(w, http.StatusGone, lang, "used", false, "used")
	}
	if r.Method != http.MethodPost {
		// GET, and HEAD (which the GET route serves too): mail scanners
		// and link checkers send HEAD before or instead of a GET, and only
		// the person's Start may bind.
		return f.writeStart(w, r, lang, fs)
	}
	secret := newSecret()
	now := f.now()
	fs, err = f.cfg.Store.UpdateFlow(r.Context(), fs.PartnerID, fs.ID, func(s *central.FlowSession) ([]central.WebhookEvent, error) {
		if launchUsed(*s) {
			return nil, errUsed
		}
		s.Hosted = &central.HostedFlow{BrowserHash: hashOf(secret), LaunchUsedAt: now, Stage: stepDocument, Lang: lang,
			ChallengeOrder: f.challengeOrder()}
		if s.Status == central.FlowCreated {
			s.Status = central.FlowInProgress
		}
		s.UpdatedAt = now
		return nil, nil
	})
	if errors.Is(err, errUsed) {
		return f.writePage(w, http.StatusGone, lang, "used", false, "used")
	}
	if err != nil {
		return fmt.Errorf("binding the session: %w", err)
	}
	origins := embedOrigins(flowConfig(fs))
	allowFraming(w, origins)
	f.setCookie(w, cookieValue(fs.PartnerID, fs.ID, secret), fs.ExpiresAt.Add(cookieGrace), len(origins) > 0)
	http.Redirect(w, r, "/flow/app", http.StatusSeeOther)
	return nil
}

var errUsed = errors.New("hostedflow: link already used")

// launchUsed reports whether fs's launch link was started: a browser is
// bound, or was (an erasure drops the binding, central.ScrubFlow, and
// keeps LaunchUsedAt), so the link stays single-use whatever became of
// the binding.
func launchUsed(fs central.FlowSession) bool {
	h := fs.Hosted
	return h != nil && (len(h.BrowserHash) > 0 || !h.LaunchUsedAt.IsZero())
}

// configLang is a session configuration's language member, if any.
func configLang(fs central.FlowSession) string {
	var c struct {
		Language string `json:"language"`
	}
	_ = jsonUnmarshal(fs.Config, &c)
	return c.Language
}

// app serves the page with the session's CSRF token and language.
func (f *Flow) app(w http.ResponseWriter, r *http.Request) error {
	s, err := f.session(w, r)
	if errors.Is(err, errUnavailable) {
		return f.writeUnavailable(w, pageLang(r, ""))
	}
	if err != nil {
		return f.writePage(w, http.StatusUnauthorized, pageLang(r, ""), "unknown", false, "unknown")
	}
	lang := s.fs.Hosted.Lang
	if lang == "" {
		lang = pageLang(r, configLang(s.fs))
	}
	if f.cfg.Engines == nil {
		return f.writePage(w, http.StatusServiceUnavailable, lang, "unavailable", false, "unavailable")
	}
	b, err := webFS.ReadFile("web/app.html")
	if err != nil {
		return fmt.Errorf("reading the page: %w", err)
	}
	b = bytes.Replace(b, []byte(`data-csrf=""`), []byte(`data-csrf="`+csrfToken(s.secret)+`"`), 1)
	b = bytes.Replace(b, []byte(`data-lang=""`), []byte(`data-lang="`+lang+`"`), 1)
	b = bytes.Replace(b, []byte(`lang="en"`), []byte(`lang="`+lang+`"`), 1)
	if s.role == roleBrowser {
		allowFraming(w, embedOrigins(s.cfg))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
	return nil
}

// HandoffLink is /flow/api/handoff's answer.
type HandoffLink struct {
	URL       string    `json:"url"`
	ShortCode string    `json:"short_code"`
	QRSVG     string    `json:"qr_svg"`
	ExpiresAt time.Time `json:"expires_at"`
}

// shortAlphabet leaves out look-alikes (0/O, 1/I/L).
const shortAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// shortCodeLen: 31^8 (8.5e11) codes. Guesses are limited per address
// only, and a code lives 10 minutes: at 6 characters (8.9e8) a botnet of
// ten thousand addresses had a few per cent chance of one of a hundred
// live codes; at 8, a thousand times less.
const shortCodeLen = 8

func newShortCode() string {
	out := make([]byte, 0, shortCodeLen)
	var b [16]byte
	for len(out) < shortCodeLen {
		_, _ = rand.Read(b[:])
		for _, c := range b {
			// Bytes past the last whole multiple of the alphabet would
			// favour its first letters.
			if int(c) < 256/len(shortAlphabet)*len(shortAlphabet) && len(out) < shortCodeLen {
				out = append(out, shortAlphabet[int(c)%len(shortAlphabet)])
			}
		}
	}
	return string(out)
}

// handoff issues the phone's one-time link and short code (a new pair
// replaces the previous one while no phone took over).
func (f *Flow) handoff(w http.ResponseWriter, r *http.Request, s *sess) error {
	if s.role != roleBrowser {
		return httpx.Errorf(http.StatusConflict, "handoff_not_here", "the hand-off starts on the first screen")
	}
	if !s.cfg.SmartQR {
		return httpx.Errorf(http.StatusForbidden, "smart_qr_off", "this verification does not offer the phone hand-off")
	}
	if len(s.fs.Hosted.PhoneHash) > 0 {
		return httpx.Errorf(http.StatusConflict, "handoff_used", "the verification already continues on a phone")
	}
	if err := f.spendAction(r.Context(), s); err != nil {
		return err
	}
	secret := newSecret()
	now := f.now()
	exp := now.Add(codeTTL)
	if exp.After(s.fs.ExpiresAt) {
		exp = s.fs.ExpiresAt
	}
	_, err := f.cfg.Store.UpdateFlow(r.Context(), s.fs.PartnerID, s.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		if fs.Hosted == nil || len(fs.Hosted.PhoneHash) > 0 {
			return nil, errUsed
		}
		fs.Hosted.HandoffHash, fs.Hosted.HandoffAt, fs.UpdatedAt = hashOf(secret), now, now
		return nil, nil
	})
	if errors.Is(err, errUsed) {
		return httpx.Errorf(http.StatusConflict, "handoff_used", "the verification already continues on a phone")
	}
	if err != nil {
		return fmt.Errorf("recording the hand-off: %w", err)
	}
	link, err := f.handoffLink(r.Context(), s.fs.PartnerID, s.fs.ID, secret, exp)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, link)
	return nil
}

// handoffLink makes the phone's one-time link for secret (whose hash the
// session holds as HandoffHash) and a short code for it. A code issued
// before for the session stops working with the HandoffHash it stood for.
func (f *Flow) handoffLink(ctx context.Context, partnerID, sessionID, secret string, exp time.Time) (HandoffLink, error) {
	link := f.base.String() + "/flow/h/" + cookieValue(partnerID, sessionID, secret)
	code, err := f.newCode(ctx, codeRef{PartnerID: partnerID, SessionID: sessionID, Secret: secret}, exp)
	if err != nil {
		return HandoffLink{}, err
	}
	svg, err := partnerapi.QRSVG(link)
	if err != nil {
		return HandoffLink{}, err
	}
	return HandoffLink{URL: link, ShortCode: code, QRSVG: string(svg), ExpiresAt: exp}, nil
}

// phoneLink is the hand-off link: GET shows the landing page, POST (its
// Start button) binds the phone (single use).
func (f *Flow) phoneLink(w http.ResponseWriter, r *http.Request) error {
	pid, sid, secret, ok := parseRef(r.PathValue("token"))
	if !ok {
		return f.writePage(w, http.StatusNotFound, pageLang(r, ""), "unknown", false, "unknown")
	}
	return f.bindPhone(w, r, pid, sid, secret)
}

// bindPhone binds the phone holding the hand-off's secret; a GET (the link
// opened) only shows the landing page. A phone already bound that opens
// the link again goes on to the page.
func (f *Flow) bindPhone(w http.ResponseWriter, r *http.Request, pid, sid, secret string) error {
	lang := pageLang(r, "")
	// Only the phone bound or a holder of the hand-off's secret learns
	// anything of the session (its owner's access, its state, its
	// language): a link naming a session that does not exist, or with
	// another secret, is "used" alike. Its ids are the sender's to write,
	// and a partner's session ids may be guessed (partner_session_id).
	fs, err := f.cfg.Store.Flow(r.Context(), pid, sid)
	if err != nil && !errors.Is(err, central.ErrNotFound) {
		return fmt.Errorf("reading the session: %w", err)
	}
	h := fs.Hosted
	bound := err == nil && h != nil && holdsCookie(r, fs, h.PhoneHash)
	if !bound && (err != nil || h == nil || !sameHash(hashOf(secret), h.HandoffHash)) {
		return f.writePage(w, http.StatusGone, lang, "used", false, "used")
	}
	if err := f.admit(r.Context(), fs); errors.Is(err, errUnavailable) {
		return f.writeUnavailable(w, lang)
	} else if err != nil {
		return err
	}
	if h.Lang != "" {
		lang = h.Lang
	}
	switch f.status(fs) {
	case central.FlowExpired:
		return f.writePage(w, http.StatusGone, lang, "expired", false, "expired")
	case central.FlowCompleted, central.FlowError:
		return f.writePage(w, http.StatusGone, lang, "used", false, "used")
	}
	if bound {
		http.Redirect(w, r, "/flow/app", http.StatusSeeOther)
		return nil
	}
	// A hand-off dated more than a minute ahead was made by a clock since
	// put back: its link would work for as long as the clock was off.
	if now := f.now(); !now.Before(h.HandoffAt.Add(codeTTL)) || h.HandoffAt.After(now.Add(central.FlowClockSlack)) {
		return f.writePage(w, http.StatusGone, lang, "used", false, "used")
	}
	if r.Method != http.MethodPost {
		return f.writeStart(w, r, lang, fs) // GET or HEAD: see launch
	}
	phone := newSecret()
	now := f.now()
	fs, err = f.cfg.Store.UpdateFlow(r.Context(), pid, sid, func(s *central.FlowSession) ([]central.WebhookEvent, error) {
		if s.Hosted == nil || !sameHash(hashOf(secret), s.Hosted.HandoffHash) {
			return nil, errUsed
		}
		s.Hosted.HandoffHash, s.Hosted.PhoneHash, s.UpdatedAt = nil, hashOf(phone), now
		return nil, nil
	})
	if errors.Is(err, errUsed) {
		return f.writePage(w, http.StatusGone, lang, "used", false, "used")
	}
	if err != nil {
		return fmt.Errorf("binding the phone: %w", err)
	}
	// The phone opens its link as a page of its own, never framed.
	f.setCookie(w, cookieValue(pid, sid, phone), fs.ExpiresAt.Add(cookieGrace), false)
	http.Redirect(w, r, "/flow/app", http.StatusSeeOther)
	return nil
}

func (f *Flow) codeForm(w http.ResponseWriter, r *http.Request) error {
	return f.writePage(w, http.StatusOK, pageLang(r, ""), "code", true, "code")
}

// codeSubmit looks a short code up: at most 10 codes per address, then
// one every 30 s (429). Each try spends its unit before the lookup, right
// or wrong: a budget read first and spent once a code proved wrong let
// every request sent at once past it (all read it before any spent).
func (f *Flow) codeSubmit(w http.ResponseWriter, r *http.Request) error {
	ok, after, err := f.codes.Allow(r.Context(), httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	if !ok {
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many codes; wait a moment", RetryAfter: after}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1024)
	if err := r.ParseForm(); err != nil {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "bad form")
	}
	// As shown, or typed in groups ("ABCD EFGH", "ABCD-EFGH").
	code := strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(r.PostForm.Get("code")))
	var ref codeRef
	err = central.ErrNotFound
	if len(code) == shortCodeLen && !strings.ContainsFunc(code, func(c rune) bool { return !strings.ContainsRune(shortAlphabet, c) }) {
		ref, err = f.lookupCode(r.Context(), code)
	}
	if err == nil {
		// A code stays stored until it expires; once its link was used
		// (or replaced) it is as wrong as any other.
		var fs central.FlowSession
		fs, err = f.flow(r.Context(), ref.PartnerID, ref.SessionID)
		if err == nil && (fs.Hosted == nil || !sameHash(hashOf(ref.Secret), fs.Hosted.HandoffHash)) {
			err = central.ErrNotFound
		}
	}
	if errors.Is(err, errUnavailable) {
		// A right code: it stays for when the session may go on.
		return f.writeUnavailable(w, pageLang(r, ""))
	}
	if errors.Is(err, central.ErrNotFound) {
		return f.writePage(w, http.StatusNotFound, pageLang(r, ""), "badcode", true, "badcode")
	}
	if err != nil {
		return err
	}
	if err := f.hs.DeleteHostedState(r.Context(), codeKey(code)); err != nil {
		return fmt.Errorf("deleting the short code: %w", err)
	}
	return f.bindPhone(w, r, ref.PartnerID, ref.SessionID, ref.Secret)
}

// finish is the STATUS screen's call to action: the partner's redirect
// URL with status, error_code and session_id.
func (f *Flow) finish(w http.ResponseWriter, r *http.Request, s *sess) error {
	st := f.state(s)
	if st.Stage != "result" && st.Stage != "done" && st.Stage != "expired" {
		return httpx.Errorf(http.StatusConflict, "not_finished", "the verification is not finished")
	}
	// Finishing at a RETRY is the person choosing to exit instead of
	// trying again (seed 000): the session ends in ERROR user_exit.
	userExit := st.Stage == "result" && st.NextAction == "RETRY"
	now := f.now()
	if st.Stage == "result" {
		fs, err := f.cfg.Store.UpdateFlow(r.Context(), s.fs.PartnerID, s.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
			h := fs.Hosted
			if h == nil || !h.FinishedAt.IsZero() {
				return nil, nil
			}
			// The result read above may be gone: another tab took the
			// RETRY and submitted again. Ending the session then would
			// have the verification's result stored over the exit.
			final := fs.Status == central.FlowCompleted || fs.Status == central.FlowError
			if f.processing(r.Context(), *fs) || (h.Stage != "result" && !final) {
				return nil, errUsed
			}
			h.FinishedAt, fs.UpdatedAt = now, now
			if userExit = fs.NextAction == "RETRY" && !final; userExit {
				fs.Status, fs.ErrorCode, fs.NextAction = central.FlowError, "user_exit", "EXIT"
				return endedEvent(*fs, now)
			}
			return nil, nil
		})
		if errors.Is(err, errUsed) {
			return httpx.Errorf(http.StatusConflict, "not_finished", "the verification is not finished")
		}
		if err != nil {
			return fmt.Errorf("finishing the session: %w", err)
		}
		f.dropSession(r.Context(), s.fs)
		if userExit {
			s.fs = fs
			st = f.state(s)
		}
	}
	out := struct {
		Redirect string   `json:"redirect"`
		Callback Callback `json:"callback"`
	}{Callback: st.Callback}
	if s.cfg.RedirectURL != "" {
		u, err := url.Parse(s.cfg.RedirectURL)
		if err == nil {
			q := u.Query()
			q.Set("status", st.Callback.Status)
			q.Set("error_code", st.Callback.ErrorCode)
			q.Set("session_id", st.Callback.SessionID)
			u.RawQuery = q.Encode()
			out.Redirect = u.String()
		}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}
