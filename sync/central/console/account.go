package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Audit actions of the account page. AuditPassword is the action
// `kyc-central user passwd` records too.
const (
	AuditPassword     = "user_password"
	AuditSessionsEnds = "sessions_ended"
	AuditSessionEnded = "session_ended"
)

// The account page (ASVS 2.1.5 and 3.3.4): every user changes their own
// password, giving the current one; sees their sessions (when signed in,
// last seen, which browser on which system); and, giving the password
// again, ends one of the others or all of them (a browser left signed in
// elsewhere). A password change and ending all the others end every
// other session and rotate this one.
func (c *Console) routeAccount() {
	c.route("GET /console/account", central.RoleAuditor, c.accountPage)
	c.route("POST /console/account/password", central.RoleAuditor, c.changePassword)
	c.route("POST /console/account/sessions", central.RoleAuditor, c.endOtherSessions)
	c.route("POST /console/account/sessions/end", central.RoleAuditor, c.endSession)
}

type accountData struct {
	Error string // a catalogue key, of the password form
	// SessionsError is a catalogue key, of the session forms.
	SessionsError string
	Sessions      []sessionRow
}

// sessionRow is a session as the account page shows it: never its token
// or hash, only its id, which is no credential.
type sessionRow struct {
	ID             string // empty on a session from before ids: ended only with all the others
	Browser, OS    string // "" when unknown
	SignedIn, Seen time.Time
	Current        bool // this browser's
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	return c.renderAccount(w, r, v, http.StatusOK, accountData{})
}

// renderAccount shows the account page with d and the viewer's sessions.
func (c *Console) renderAccount(w http.ResponseWriter, r *http.Request, v *Viewer, status int, d accountData) error {
	ss, err := c.liveSessions(r.Context(), v)
	if err != nil {
		return err
	}
	for _, s := range ss {
		d.Sessions = append(d.Sessions, sessionRow{
			ID: s.ID, Browser: s.Browser, OS: s.OS, SignedIn: s.CreatedAt, Seen: s.SeenAt,
			Current: bytes.Equal(s.Hash, v.Session.Hash),
		})
	}
	return c.render(w, r, v, status, "account.html", d)
}

// liveSessions are v's user's sessions that sign in: not pending (a
// pending one authorises nothing and ends within auth.PendingTimeout),
// neither expired nor idle. v's own is among them.
func (c *Console) liveSessions(ctx context.Context, v *Viewer) ([]central.ConsoleSession, error) {
	now := c.cfg.Now()
	ss, err := c.cfg.Store.UserSessions(ctx, v.User.Name, now)
	if err != nil {
		return nil, fmt.Errorf("listing the sessions: %w", err)
	}
	var out []central.ConsoleSession
	for _, s := range ss {
		if !s.Pending && auth.Live(s, now) {
			out = append(out, s)
		}
	}
	return out, nil
}

// confirmPassword checks the current password given on the account page
// as sign-in does: the address's budget, a wrong one counted towards the
// lockout, and a locked account refused even the right one (a stolen
// session guesses no further). The caller holds a password slot
// (passwordSlot). It returns the refusal's status and catalogue key, or
// key "" for the right password.
func (c *Console) confirmPassword(r *http.Request, v *Viewer, pw string) (status int, key string, err error) {
	pairLocked, err := c.pairLocked(r, v.User.Name)
	if err != nil {
		return 0, "", err
	}
	if auth.Locked(v.User, c.cfg.Now()) || pairLocked {
		return http.StatusUnauthorized, "account.locked", nil
	}
	if len(pw) > auth.MaxPasswordLen || auth.CheckPassword(v.User.PasswordHash, pw) != nil {
		if err := c.addrs.Fail(r.Context(), httpx.ClientAddr(r)); err != nil {
			return 0, "", err
		}
		if err := c.failUser(r, v.User.Name); err != nil {
			return 0, "", err
		}
		return http.StatusUnauthorized, "account.wrong_password", nil
	}
	return 0, "", nil
}

// changePassword checks the current password as sign-in does
// (confirmPassword), then stores the new one's hash.
func (c *Console) changePassword(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	release, err := c.passwordSlot(r)
	if err != nil {
		return err
	}
	defer release()
	ctx := r.Context()
	current, next, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("repeat")
	refuse := func(status int, key string) error {
		return c.renderAccount(w, r, v, status, accountData{Error: key})
	}
	if status, key, err := c.confirmPassword(r, v, current); err != nil {
		return err
	} else if key != "" {
		return refuse(status, key)
	}
	switch {
	case next != again:
		return refuse(http.StatusUnprocessableEntity, "account.mismatch")
	case next == current:
		return refuse(http.StatusUnprocessableEntity, "account.same")
	case auth.CheckStrength(next, v.User.Name) != nil:
		return refuse(http.StatusUnprocessableEntity, "account.weak")
	}
	hash := auth.HashPassword(next, auth.DefaultParams)
	if _, err := c.cfg.Store.UpdateUser(ctx, v.User.Name, func(u *central.User) error {
		if u.PasswordHash != v.User.PasswordHash {
			return errPasswordChanged // changed meanwhile: checked against another
		}
		u.PasswordHash = hash
		return nil
	}); errors.Is(err, errPasswordChanged) {
		return refuse(http.StatusConflict, "account.wrong_password")
	} else if err != nil {
		return fmt.Errorf("storing the new password: %w", err)
	}
	if err := c.renewSessions(w, r, v); err != nil {
		return err
	}
	if err := c.audit(ctx, v, AuditPassword, "user:"+v.User.Name, nil, nil); err != nil {
		return err
	}
	return c.seeOther(w, r, "/console/account", "msg.password_changed")
}

// errPasswordChanged aborts a password change whose account's password
// changed after the current one was checked.
var errPasswordChanged = errors.New("console: the password changed meanwhile")

// endOtherSessions ends every session of the user but this one, which
// it rotates, once the password is given again (ASVS 3.3.4).
func (c *Console) endOtherSessions(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	release, err := c.passwordSlot(r)
	if err != nil {
		return err
	}
	defer release()
	if status, key, err := c.confirmPassword(r, v, r.PostFormValue("password")); err != nil {
		return err
	} else if key != "" {
		return c.renderAccount(w, r, v, status, accountData{SessionsError: key})
	}
	if err := c.renewSessions(w, r, v); err != nil {
		return err
	}
	if err := c.audit(r.Context(), v, AuditSessionsEnds, "user:"+v.User.Name, nil, nil); err != nil {
		return err
	}
	return c.seeOther(w, r, "/console/account", "msg.sessions_ended")
}

// endSession ends one other session of the user, named by its id, once
// the password is given again (ASVS 3.3.4). Only the user's own sessions
// are looked up, so another user's id, an ended session's, an unknown
// one, and this session's own (signing out is the way to end it) are all
// the same 404, and nothing is ended.
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	release, err := c.passwordSlot(r)
	if err != nil {
		return err
	}
	defer release()
	ctx := r.Context()
	if status, key, err := c.confirmPassword(r, v, r.PostFormValue("password")); err != nil {
		return err
	} else if key != "" {
		return c.renderAccount(w, r, v, status, accountData{SessionsError: key})
	}
	id := r.PostFormValue("id")
	ss, err := c.liveSessions(ctx, v)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ss, func(s central.ConsoleSession) bool {
		return id != "" && s.ID == id && !bytes.Equal(s.Hash, v.Session.Hash)
	})
	if i < 0 {
		return c.renderAccount(w, r, v, http.StatusNotFound, accountData{SessionsError: "account.no_session"})
	}
	s := ss[i]
	if err := c.cfg.Store.DeleteSession(ctx, s.Hash); err != nil {
		return fmt.Errorf("ending the session: %w", err)
	}
	after := map[string]any{"session": s.ID, "browser": s.Browser, "os": s.OS, "signed_in": s.CreatedAt}
	if err := c.audit(ctx, v, AuditSessionEnded, "user:"+v.User.Name, nil, after); err != nil {
		return err
	}
	return c.seeOther(w, r, "/console/account", "msg.session_ended")
}

// renewSessions ends every session of v's user and gives this browser a
// new one (ASVS 3.3.3: after a password change no other session lives).
func (c *Console) renewSessions(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	ctx := r.Context()
	if err := c.cfg.Store.DeleteSessions(ctx, v.User.Name); err != nil {
		return fmt.Errorf("ending the sessions: %w", err)
	}
	tok, sess := auth.NewSession(v.User.Name, c.cfg.Now(), false)
	sess.Browser, sess.OS = auth.DescribeClient(r.UserAgent())
	// A new token, not a new lifetime: else a stolen session would live on
	// past auth.AbsoluteTimeout by renewing itself.
	sess.CreatedAt, sess.ExpiresAt = v.Session.CreatedAt, v.Session.ExpiresAt
	if err := c.cfg.Store.PutSession(ctx, sess); err != nil {
		return fmt.Errorf("recording the session: %w", err)
	}
	c.setCookie(w, sessionCookie, tok, 0)
	return nil
}
