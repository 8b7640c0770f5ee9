package console

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Audit actions of the account page. AuditPassword is the action
// `kyc-central user passwd` records too.
const (
	AuditPassword     = "user_password"
	AuditSessionsEnds = "sessions_ended"
)

// The account page (ASVS 2.1.5 and 3.3.4): every user changes their own
// password, giving the current one, and ends their other sessions (a
// browser left signed in elsewhere). Both end every other session and
// rotate this one.
func (c *Console) routeAccount() {
	c.route("GET /console/account", central.RoleAuditor, c.accountPage)
	c.route("POST /console/account/password", central.RoleAuditor, c.changePassword)
	c.route("POST /console/account/sessions", central.RoleAuditor, c.endOtherSessions)
}

type accountData struct {
	Error string // a catalogue key
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	return c.render(w, r, v, http.StatusOK, "account.html", accountData{})
}

// changePassword checks the current password as sign-in does (a slot, the
// address's budget, a wrong one counted towards the lockout), then stores
// the new one's hash.
func (c *Console) changePassword(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	release, err := c.passwordSlot(r)
	if err != nil {
		return err
	}
	defer release()
	ctx := r.Context()
	current, next, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("repeat")
	refuse := func(status int, key string) error {
		return c.render(w, r, v, status, "account.html", accountData{Error: key})
	}
	pairLocked, err := c.pairLocked(r, v.User.Name)
	if err != nil {
		return err
	}
	if auth.Locked(v.User, c.cfg.Now()) || pairLocked {
		// Wrong current passwords locked it: a stolen session guesses no
		// further.
		return refuse(http.StatusUnauthorized, "account.locked")
	}
	if len(current) > auth.MaxPasswordLen || auth.CheckPassword(v.User.PasswordHash, current) != nil {
		if err := c.addrs.Fail(ctx, httpx.ClientAddr(r)); err != nil {
			return err
		}
		if err := c.failUser(r, v.User.Name); err != nil {
			return err
		}
		return refuse(http.StatusUnauthorized, "account.wrong_password")
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

func (c *Console) endOtherSessions(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if err := c.renewSessions(w, r, v); err != nil {
		return err
	}
	if err := c.audit(r.Context(), v, AuditSessionsEnds, "user:"+v.User.Name, nil, nil); err != nil {
		return err
	}
	return c.seeOther(w, r, "/console/account", "msg.sessions_ended")
}

// renewSessions ends every session of v's user and gives this browser a
// new one (ASVS 3.3.3: after a password change no other session lives).
func (c *Console) renewSessions(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	ctx := r.Context()
	if err := c.cfg.Store.DeleteSessions(ctx, v.User.Name); err != nil {
		return fmt.Errorf("ending the sessions: %w", err)
	}
	tok, sess := auth.NewSession(v.User.Name, c.cfg.Now(), false)
	// A new token, not a new lifetime: else a stolen session would live on
	// past auth.AbsoluteTimeout by renewing itself.
	sess.CreatedAt, sess.ExpiresAt = v.Session.CreatedAt, v.Session.ExpiresAt
	if err := c.cfg.Store.PutSession(ctx, sess); err != nil {
		return fmt.Errorf("recording the session: %w", err)
	}
	c.setCookie(w, sessionCookie, tok, 0)
	return nil
}
