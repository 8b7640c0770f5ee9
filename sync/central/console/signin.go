package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Audit actions of sign-in.
const (
	AuditSignIn  = "signin"
	AuditSignOut = "signout"
	AuditLocked  = "account_locked"
	// AuditBlocked: wrong second-factor codes locked an account until an
	// administrator sets a new password (auth.SecondFactorMaxFailures).
	AuditBlocked   = "account_blocked"
	AuditTOTPEnrol = "totp_enrolled"
	// AuditTOTPReused: a TOTP code already used was sent again (refused):
	// someone who knows the password saw the code (ASVS 2.8.5).
	AuditTOTPReused = "totp_reused"
)

// routeSignIn registers sign-in (password, then the TOTP code, or TOTP
// enrolment on an account without one), sign-out and the language switch.
func (c *Console) routeSignIn() {
	c.public("GET /console/signin", c.signInPage)
	c.public("POST /console/signin", c.signIn)
	c.pending("GET /console/signin/totp", c.totpPage)
	c.pending("POST /console/signin/totp", c.totpCheck)
	c.pending("GET /console/enrol", c.enrolPage)
	c.pending("POST /console/enrol", c.enrolConfirm)
	c.route("POST /console/signout", central.RoleAuditor, c.signOut)
	c.handle("POST /console/lang", http.HandlerFunc(c.switchLang))
}

// dummyHash is checked against when the account does not exist, so that
// an unknown name takes as long as a wrong password.
// It is made on first use: hashing costs 64 MiB and tens of milliseconds.
var dummyHash = sync.OnceValue(func() string { return auth.HashPassword("not a password of anyone", auth.DefaultParams) })

type signInData struct {
	Error, Next, Name string
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request, _ *Viewer) error {
	// A signed-in browser goes on to the console.
	if v, err := c.viewer(w, r); err == nil && v != nil {
		http.Redirect(w, r, localTarget(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	return c.render(w, r, nil, http.StatusOK, "signin.html", signInData{Next: localTarget(r.URL.Query().Get("next"))})
}

// signInSlots is how many sign-ins check a password at once. Each check
// of a stored hash takes auth.DefaultParams' 64 MiB, so an unbounded burst
// of concurrent sign-ins would exhaust the server's memory; and each
// would read the account's lockout and the address's budget before any
// failure was counted, trying far more than auth.MaxFailures passwords.
const signInSlots = 4

// errBusy answers a password check that found no slot (signInSlots).
var errBusy = &httpx.Error{Status: http.StatusServiceUnavailable, Code: "busy", Message: "busy", RetryAfter: time.Second}

// passwordSlot takes one of the signInSlots for a password check, then
// checks the address's budget: the slot comes first, so a burst passes
// the budget and the account's lockout only signInSlots at a time. The
// caller calls release when done.
func (c *Console) passwordSlot(r *http.Request) (release func(), err error) {
	if !c.signIns.Acquire() {
		return nil, errBusy
	}
	if err := c.rateLimited(r); err != nil {
		c.signIns.Release()
		return nil, err
	}
	return c.signIns.Release, nil
}

// rateLimited answers 429 when the client's address failed too often.
func (c *Console) rateLimited(r *http.Request) error {
	blocked, wait, err := c.addrs.Blocked(r.Context(), httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	if blocked {
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "rate_limited", RetryAfter: wait}
	}
	return nil
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request, _ *Viewer) error {
	release, err := c.passwordSlot(r)
	if err != nil {
		return err
	}
	defer release()
	ctx := r.Context()
	name, pw := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	next := localTarget(r.PostFormValue("next"))
	known := false // an unknown name is not logged: it may be a password typed in the wrong field
	refuse := func() error {
		if err := c.addrs.Fail(r.Context(), httpx.ClientAddr(r)); err != nil {
			return err
		}
		who := slog.Bool("unknown_user", true)
		if known {
			who = slog.String("user", name)
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "console sign-in refused", who, slog.String("addr", httpx.ClientAddr(r)))
		return c.render(w, r, nil, http.StatusUnauthorized, "signin.html", signInData{Error: "signin.failed", Next: next, Name: name})
	}
	if len(pw) > auth.MaxPasswordLen || len(name) > 128 || !storable(name) {
		return refuse()
	}
	// Whether the name is locked at this address is read before the name
	// is looked up, so a known name and an unknown one take the same steps.
	pairLocked, err := c.pairLocked(r, name)
	if err != nil {
		return err
	}
	u, err := c.cfg.Store.User(ctx, name)
	if errors.Is(err, central.ErrNotFound) {
		_ = auth.CheckPassword(dummyHash(), pw)
		if err := c.signInFailure(r, name, nil, false, pairLocked); err != nil {
			return err
		}
		return refuse()
	}
	if err != nil {
		return fmt.Errorf("reading user: %w", err)
	}
	known = true
	c.setStandIn(u.Name)
	now := c.cfg.Now()
	if u.Disabled || auth.Locked(u, now) || pairLocked {
		_ = auth.CheckPassword(dummyHash(), pw)
		// Not counted (a locked pair adds nothing towards the account's
		// lock, which would let one address lock it everywhere), but the
		// same steps as a counted failure.
		if err := c.signInFailure(r, u.Name, &u, false, pairLocked); err != nil {
			return err
		}
		return refuse()
	}
	if err := auth.CheckPassword(u.PasswordHash, pw); err != nil {
		if !errors.Is(err, auth.ErrMismatch) {
			c.log.LogAttrs(ctx, slog.LevelError, "unreadable password hash", slog.String("user", u.Name), slog.String("cause", err.Error()))
		}
		if err := c.signInFailure(r, u.Name, &u, true, false); err != nil {
			return err
		}
		return refuse()
	}
	// The password is right: a pending session for the second factor,
	// within the account's budget of them (passedBurst).
	if ok, wait, err := c.passed.Allow(ctx, "user:"+u.Name); err != nil {
		return err
	} else if !ok {
		c.log.LogAttrs(ctx, slog.LevelWarn, "console sign-in throttled: too many accepted passwords", slog.String("user", u.Name),
			slog.String("addr", httpx.ClientAddr(r)))
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "signin_throttled", Message: "signin_throttled", RetryAfter: wait}
	}
	tok, sess := auth.NewSession(u.Name, now, true)
	if err := c.cfg.Store.PutSession(ctx, sess); err != nil {
		return fmt.Errorf("recording the session: %w", err)
	}
	c.dropSession(r)
	c.setCookie(w, sessionCookie, tok, 0)
	step := "/console/signin/totp"
	if len(u.TOTPSecret) == 0 {
		step = "/console/enrol"
	}
	http.Redirect(w, r, step+"?next="+urlQuery(next), http.StatusSeeOther)
	return nil
}

// passedBurst is how many password steps of one account are accepted at
// once, then one per auth.PendingTimeout/passedBurst. Each opens a pending
// session, a record in the store until auth.PendingTimeout, and a client
// that drops the cookie is never asked to end the one before: without a
// bound, anyone holding an account's password (any auditor, their own)
// could sign in as fast as the password slots allow and fill the store
// with pending sessions, each of which the embedded store's next session
// write reads (tens of thousands within PendingTimeout, a write of
// central's single writer slowed to a crawl). A person signs in far less
// often; past the bound the step is answered 429, as the address's limit
// is.
const passedBurst = 10

// failUser counts a failed sign-in of the account name from r's client
// address: towards the lock of that pair and the account's ceiling
// (auth.Fail). A lock this failure sets is audited.
func (c *Console) failUser(r *http.Request, name string) error {
	if err := c.countAccount(r, name); err != nil {
		return err
	}
	return c.failPair(r, name, true, false, nil)
}

// countAccount counts a failed sign-in of the account name towards its
// ceiling (auth.Fail), auditing the lock it sets.
func (c *Console) countAccount(r *http.Request, name string) error {
	ctx := r.Context()
	now := c.cfg.Now()
	locked := false
	_, err := c.cfg.Store.UpdateUser(ctx, name, func(u *central.User) error {
		auth.Fail(u, now)
		locked = auth.Locked(*u, now)
		return nil
	})
	if err != nil {
		return fmt.Errorf("counting a failed sign-in: %w", err)
	}
	if locked {
		return c.auditLock(ctx, name, "account", auth.LockDuration, nil)
	}
	return nil
}

// signInFailure records a refused password step the same way whatever
// refused it, so that the time a refusal takes (each step is a store
// round trip, a write an fsync) does not tell an unknown name from a
// wrong password, a disabled or locked account, or one locked at this
// address: one write for the account (u; nil for a name that is
// nobody's): the failure counted when count, else the account rewritten
// as it is, or for an unknown name another account's (standInName);
// then the pair's failure and lock, audited when this failure
// sets it (pairLocked: it was locked before). A lock of an unknown name's
// pair is audited too, without the name, which may be a password typed
// into the wrong field.
func (c *Console) signInFailure(r *http.Request, name string, u *central.User, count, pairLocked bool) error {
	ctx := r.Context()
	switch {
	case u == nil:
		// Another account rewritten as it is: the same store step as a
		// known name's, which finds and writes a record.
		stand, err := c.standInName(ctx)
		if err != nil {
			return err
		}
		if stand != "" {
			if _, err := c.cfg.Store.UpdateUser(ctx, stand, func(*central.User) error { return nil }); err != nil && !errors.Is(err, central.ErrNotFound) {
				return fmt.Errorf("refusing a sign-in: %w", err)
			}
		}
	case count:
		if err := c.countAccount(r, u.Name); err != nil {
			return err
		}
	default:
		if _, err := c.cfg.Store.UpdateUser(ctx, u.Name, func(*central.User) error { return nil }); err != nil {
			return fmt.Errorf("reading the account of a refused sign-in: %w", err)
		}
	}
	return c.failPair(r, name, u != nil, pairLocked, nil)
}

// standInName returns the stand-in account of signInFailure: the last
// account a sign-in named, else the first in the store; "" when there is
// no account at all (then no name is anyone's, and nothing to hide).
func (c *Console) standInName(ctx context.Context) (string, error) {
	c.standMu.Lock()
	name := c.standIn
	c.standMu.Unlock()
	if name != "" {
		return name, nil
	}
	us, err := c.cfg.Store.Users(ctx)
	if err != nil {
		return "", fmt.Errorf("listing accounts: %w", err)
	}
	if len(us) > 0 {
		c.setStandIn(us[0].Name)
		return us[0].Name, nil
	}
	return "", nil
}

func (c *Console) setStandIn(name string) {
	c.standMu.Lock()
	c.standIn = name
	c.standMu.Unlock()
}

// pairKey is the key of the failures of the account name from r's client
// address (an IPv6 one by its /64): the address first, as it has no
// space, then the name keyed with nameKey, never the name as typed (a
// password in the wrong field would stay in the store in clear).
func (c *Console) pairKey(r *http.Request, name string) string {
	m := hmac.New(sha256.New, c.nameKey)
	m.Write([]byte(name))
	return httpx.AddrKey(httpx.ClientAddr(r)) + " " + hex.EncodeToString(m.Sum(nil)[:16])
}

// pairLocked reports whether the account name is locked at r's client
// address (auth.MaxFailures failures from it).
func (c *Console) pairLocked(r *http.Request, name string) (bool, error) {
	locked, _, err := c.pairs.Blocked(r.Context(), c.pairKey(r, name))
	return locked, err
}

// failPair counts a failure of the name from r's client address and
// audits the lock of that pair when this failure sets it (wasLocked: the
// pair was locked before; a locked pair's budget is spent, so the
// failure changes nothing). known says whether the name is an account's:
// an unknown name's lock is audited without it. detail is added to the
// audit event.
func (c *Console) failPair(r *http.Request, name string, known, wasLocked bool, detail map[string]any) error {
	if err := c.pairs.Fail(r.Context(), c.pairKey(r, name)); err != nil {
		return err
	}
	locked, err := c.pairLocked(r, name)
	if err != nil || !locked || wasLocked {
		return err
	}
	if detail == nil {
		detail = map[string]any{}
	}
	detail["address"] = httpx.AddrKey(httpx.ClientAddr(r))
	if !known {
		detail["unknown_user"] = true
		name = ""
	}
	return c.auditLock(r.Context(), name, "address", auth.LockDuration, detail)
}

// auditLock audits a lock of the account name for d: of the whole account
// (scope "account") or of the account at one address (scope "address").
// A name that is nobody's ("") is audited as the sign-in's, subject
// "signin", by nobody.
func (c *Console) auditLock(ctx context.Context, name, scope string, d time.Duration, detail map[string]any) error {
	after := map[string]any{"locked_minutes": int(d.Minutes()), "scope": scope}
	maps.Copy(after, detail)
	if name == "" {
		b, _ := json.Marshal(after) // strings, numbers and booleans
		e := central.AuditEvent{ID: httpx.NewRequestID(), At: c.cfg.Now().UTC(), Actor: "console sign-in", Action: AuditLocked,
			Subject: "signin", Count: 1, After: b}
		if err := c.cfg.Store.AppendAudit(ctx, e); err != nil {
			return fmt.Errorf("recording audit event %s: %w", AuditLocked, err)
		}
		return nil
	}
	return c.audit(ctx, &Viewer{User: central.User{Name: name}}, AuditLocked, "user:"+name, nil, after)
}

// auditBlocked audits and logs the block of the account name after
// failures wrong second-factor codes in a row: whoever sent them knew its
// password, which must now be changed (that alone unblocks it).
func (c *Console) auditBlocked(r *http.Request, name string, failures int) error {
	c.log.LogAttrs(r.Context(), slog.LevelError, "console account blocked: its password is known to someone failing its second factor",
		slog.String("user", name), slog.Int("consecutive_failures", failures), slog.String("addr", httpx.ClientAddr(r)))
	after := map[string]any{
		"consecutive_failures": failures, "password_known": true, "address": httpx.AddrKey(httpx.ClientAddr(r)),
		"reason": "someone who knows the password failed the second factor " + strconv.Itoa(failures) + " times in a row",
		"remedy": "the account stays locked until an administrator sets a new password (kyc-central user passwd)",
	}
	return c.audit(r.Context(), &Viewer{User: central.User{Name: name}}, AuditBlocked, "user:"+name, nil, after)
}

// auditReused audits and logs a TOTP code of the account name sent again
// within its window after it was used (ASVS 2.8.5): whoever sent it knows
// the password and saw a code, looking over a shoulder or through a
// page that asked for it. It is refused and counted as a wrong code.
func (c *Console) auditReused(r *http.Request, name string) error {
	c.log.LogAttrs(r.Context(), slog.LevelError, "console TOTP code reused: refused; its sender knows the password and saw the code",
		slog.String("user", name), slog.String("addr", httpx.ClientAddr(r)))
	after := map[string]any{"address": httpx.AddrKey(httpx.ClientAddr(r)), "password_known": true,
		"reason": "a TOTP code already used to sign in was sent again within its window"}
	return c.audit(r.Context(), &Viewer{User: central.User{Name: name}}, AuditTOTPReused, "user:"+name, nil, after)
}

// dropSession deletes the session of r's cookie, if any (sign-in rotates
// the session at each step).
func (c *Console) dropSession(r *http.Request) {
	if ck, err := r.Cookie(c.cookieName(sessionCookie)); err == nil && ck.Value != "" {
		_ = c.cfg.Store.DeleteSession(r.Context(), auth.HashToken(ck.Value))
	}
}

// pending registers a step of sign-in after the password: the handler
// gets a Viewer whose session is Pending (the user's account as stored).
// Without one, the browser goes back to the sign-in page.
func (c *Console) pending(pattern string, h handlerFunc) {
	c.handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok, err := c.session(r)
		if err == nil && ok && !sess.Pending {
			http.Redirect(w, r, "/console/queue", http.StatusSeeOther)
			return
		}
		if err != nil || !ok {
			if err == nil {
				err = fail(http.StatusUnauthorized, "signin")
				if r.Method == http.MethodGet {
					http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
					return
				}
			}
			c.errorPage(w, r, nil, err)
			return
		}
		u, err := c.cfg.Store.User(r.Context(), sess.User)
		if err != nil {
			c.errorPage(w, r, nil, fmt.Errorf("reading the session's user: %w", err))
			return
		}
		v := &Viewer{User: u, Session: sess, Lang: c.lang(r, u.Lang)}
		if r.Method == http.MethodPost {
			if err := c.checkCSRF(w, r, sess.CSRF); err != nil {
				c.errorPage(w, r, nil, err)
				return
			}
		}
		if err := h(w, r, v); err != nil {
			c.errorPage(w, r, nil, err)
		}
	}))
}

func (c *Console) totpPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if len(v.User.TOTPSecret) == 0 {
		http.Redirect(w, r, "/console/enrol?next="+urlQuery(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	return c.render(w, r, v, http.StatusOK, "totp.html", signInData{Next: localTarget(r.URL.Query().Get("next"))})
}

func (c *Console) totpCheck(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if err := c.rateLimited(r); err != nil {
		return err
	}
	ctx := r.Context()
	next := localTarget(r.PostFormValue("next"))
	code := strings.TrimSpace(r.PostFormValue("code"))
	now := c.cfg.Now()
	pairLocked, err := c.pairLocked(r, v.User.Name)
	if err != nil {
		return err
	}
	ok, counted, blocked, reused := false, false, false, false
	var lock time.Duration
	failures := 0
	// The check and LastTOTPStep move in one transaction, so a code is
	// accepted once even when two requests race with it.
	_, err = c.cfg.Store.UpdateUser(ctx, v.User.Name, func(u *central.User) error {
		ok, counted, blocked, reused, lock = false, false, false, false, 0 // the function may run again
		if u.Disabled || auth.Locked(*u, now) || pairLocked || len(u.TOTPSecret) == 0 {
			return nil
		}
		secret, err := c.sealer.Open(u.TOTPSecret, u.Name)
		if err != nil {
			return fmt.Errorf("opening the TOTP secret of %s: %w", u.Name, err)
		}
		step, good := auth.CheckTOTP(string(secret), code, now, u.LastTOTPStep)
		if !good {
			reused = auth.ReusedTOTP(string(secret), code, now, u.LastTOTPStep)
			lock, blocked = auth.FailSecondFactor(u, now)
			counted, failures = true, u.SecondFactorFailures
			return nil
		}
		u.LastTOTPStep = step
		auth.SignedIn(u)
		ok = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking the TOTP code: %w", err)
	}
	// A code used before is refused as a wrong one is, and recorded: its
	// sender knows the password and saw the code.
	if reused {
		if err := c.auditReused(r, v.User.Name); err != nil {
			return err
		}
	}
	// Wrong codes in a row lock the account everywhere, ever longer
	// (auth.FailSecondFactor), audited as the password's lockout is.
	if lock > 0 {
		if err := c.auditLock(ctx, v.User.Name, "account", lock, map[string]any{"step": "totp", "consecutive_failures": failures}); err != nil {
			return err
		}
	}
	if blocked {
		if err := c.auditBlocked(r, v.User.Name, failures); err != nil {
			return err
		}
	}
	if counted {
		if err := c.failPair(r, v.User.Name, true, pairLocked, map[string]any{"step": "totp"}); err != nil {
			return err
		}
	}
	if !ok {
		if err := c.addrs.Fail(r.Context(), httpx.ClientAddr(r)); err != nil {
			return err
		}
		return c.render(w, r, v, http.StatusUnauthorized, "totp.html", signInData{Error: "totp.failed", Next: next})
	}
	return c.completeSignIn(w, r, v, next)
}

// completeSignIn replaces the pending session with a full one (a new
// token: the session rotates at sign-in) and audits the sign-in.
func (c *Console) completeSignIn(w http.ResponseWriter, r *http.Request, v *Viewer, next string) error {
	ctx := r.Context()
	if err := c.cfg.Store.DeleteSession(ctx, v.Session.Hash); err != nil {
		return fmt.Errorf("ending the pending session: %w", err)
	}
	tok, sess := auth.NewSession(v.User.Name, c.cfg.Now(), false)
	// The browser family and system only, for the account page's list.
	sess.Browser, sess.OS = auth.DescribeClient(r.UserAgent())
	if err := c.cfg.Store.PutSession(ctx, sess); err != nil {
		return fmt.Errorf("recording the session: %w", err)
	}
	c.setCookie(w, sessionCookie, tok, 0)
	if err := c.audit(ctx, v, AuditSignIn, "user:"+v.User.Name, nil, nil); err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

type enrolData struct {
	Error, Next    string
	Secret, Sealed string
	QR             template.URL
	// NeedsEnrolCode asks for the account's one-time enrolment code.
	NeedsEnrolCode bool
}

// enrolContext binds an enrolment secret (sealed in the form) to the
// pending session, so it is confirmed only by the browser it was shown to.
func enrolContext(v *Viewer) string {
	return "enrol:" + v.User.Name + ":" + base64.RawURLEncoding.EncodeToString(v.Session.Hash)
}

// enrolPage shows a new TOTP secret, as text and QR code. The secret is
// not stored until the user confirms a code from it; meanwhile it travels
// sealed in the form.
func (c *Console) enrolPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if len(v.User.TOTPSecret) > 0 {
		http.Redirect(w, r, "/console/signin/totp", http.StatusSeeOther)
		return nil
	}
	e, err := auth.NewTOTP(c.cfg.Issuer, v.User.Name)
	if err != nil {
		return err
	}
	return c.renderEnrol(w, r, v, http.StatusOK, e, localTarget(r.URL.Query().Get("next")), "")
}

func (c *Console) renderEnrol(w http.ResponseWriter, r *http.Request, v *Viewer, status int, e auth.Enrolment, next, msg string) error {
	png, err := e.QRPNG(240)
	if err != nil {
		return err
	}
	d := enrolData{
		Error: msg, Next: next, Secret: e.Secret,
		Sealed:         base64.RawURLEncoding.EncodeToString(c.sealer.Seal([]byte(e.Secret), enrolContext(v))),
		QR:             template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		NeedsEnrolCode: len(v.User.EnrolCodeHash) > 0,
	}
	return c.render(w, r, v, status, "enrol.html", d)
}

func (c *Console) enrolConfirm(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if err := c.rateLimited(r); err != nil {
		return err
	}
	ctx := r.Context()
	next := localTarget(r.PostFormValue("next"))
	raw, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("sealed"))
	if err != nil {
		return fail(http.StatusBadRequest, "bad_request")
	}
	secret, err := c.sealer.Open(raw, enrolContext(v))
	if err != nil {
		return fail(http.StatusBadRequest, "bad_request")
	}
	e, err := auth.EnrolmentFor(c.cfg.Issuer, v.User.Name, string(secret))
	if err != nil {
		return err
	}
	now := c.cfg.Now()
	// The one-time enrolment code `user add` printed: the password alone
	// does not enrol a phone. A wrong one counts as a failed sign-in, and
	// a locked account is refused as at the other steps (so the pending
	// session opened before the lock tries no more codes).
	pairLocked, err := c.pairLocked(r, v.User.Name)
	if err != nil {
		return err
	}
	if auth.Locked(v.User, now) || pairLocked || v.User.Disabled {
		if err := c.addrs.Fail(r.Context(), httpx.ClientAddr(r)); err != nil {
			return err
		}
		return c.renderEnrol(w, r, v, http.StatusUnauthorized, e, next, "enrol.code_failed")
	}
	if !auth.CheckEnrolCode(v.User, r.PostFormValue("enrol_code"), now) {
		if err := c.addrs.Fail(r.Context(), httpx.ClientAddr(r)); err != nil {
			return err
		}
		if err := c.failUser(r, v.User.Name); err != nil {
			return err
		}
		return c.renderEnrol(w, r, v, http.StatusUnauthorized, e, next, "enrol.code_failed")
	}
	step, ok := auth.CheckTOTP(string(secret), strings.TrimSpace(r.PostFormValue("code")), now, 0)
	if !ok {
		if err := c.addrs.Fail(r.Context(), httpx.ClientAddr(r)); err != nil {
			return err
		}
		return c.renderEnrol(w, r, v, http.StatusUnauthorized, e, next, "enrol.failed")
	}
	enrolled, locked := false, false
	_, err = c.cfg.Store.UpdateUser(ctx, v.User.Name, func(u *central.User) error {
		if len(u.TOTPSecret) > 0 { // enrolled meanwhile by another browser
			return nil
		}
		// Locked (or disabled) meanwhile: by wrong codes sent alongside
		// this one, say.
		if locked = auth.Locked(*u, now) || u.Disabled; locked {
			return nil
		}
		u.TOTPSecret = c.sealer.Seal(secret, u.Name)
		u.LastTOTPStep = step
		u.EnrolCodeHash, u.EnrolCodeExpires = nil, time.Time{}
		auth.SignedIn(u)
		enrolled = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording the TOTP secret: %w", err)
	}
	if locked {
		return c.renderEnrol(w, r, v, http.StatusUnauthorized, e, next, "enrol.code_failed")
	}
	if !enrolled {
		return fail(http.StatusConflict, "enrolled")
	}
	if err := c.audit(ctx, v, AuditTOTPEnrol, "user:"+v.User.Name, nil, nil); err != nil {
		return err
	}
	return c.completeSignIn(w, r, v, next)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	ctx := r.Context()
	if err := c.cfg.Store.DeleteSession(ctx, v.Session.Hash); err != nil {
		return fmt.Errorf("ending the session: %w", err)
	}
	c.setCookie(w, sessionCookie, "", -1)
	if err := c.audit(ctx, v, AuditSignOut, "user:"+v.User.Name, nil, nil); err != nil {
		return err
	}
	return c.seeOther(w, r, "/console/signin", "msg.signed_out")
}

// switchLang sets the language: the account's setting when signed in,
// and a cookie (for the sign-in pages) in any case. Its CSRF token is the
// session's when there is one, else the sign-in forms'.
func (c *Console) switchLang(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		sess, ok, err := c.session(r)
		if err != nil {
			return err
		}
		// The form carries the session's token on console pages and the
		// sign-in forms' token on public ones: either will do.
		err = fail(http.StatusForbidden, "csrf")
		if ok {
			err = c.checkCSRF(w, r, sess.CSRF)
		}
		if ck, cerr := r.Cookie(c.cookieName(preCookie)); err != nil && cerr == nil {
			err = c.checkCSRF(w, r, ck.Value)
		}
		if err != nil {
			return err
		}
		lang := r.PostFormValue("lang")
		if !validLang(lang) {
			return fail(http.StatusBadRequest, "bad_request")
		}
		if ok && !sess.Pending {
			if _, err := c.cfg.Store.UpdateUser(r.Context(), sess.User, func(u *central.User) error {
				u.Lang = lang
				return nil
			}); err != nil {
				return fmt.Errorf("recording the language: %w", err)
			}
		}
		c.setCookie(w, langCookie, lang, 365*24*3600)
		http.Redirect(w, r, localTarget(r.PostFormValue("next")), http.StatusSeeOther)
		return nil
	}()
	if err != nil {
		c.errorPage(w, r, nil, err)
	}
}

func urlQuery(s string) string { return template.URLQueryEscaper(s) }
