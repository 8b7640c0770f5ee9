package central

import (
	"context"
	"errors"
	"slices"
	"time"
)

// User errors, returned (wrapped) by every Users implementation.
var (
	// ErrUserExists means an account with that name already exists.
	ErrUserExists = errors.New("central: user already exists")
)

// Role is what a console account may do.
type Role string

// Roles of console accounts.
const (
	// RoleAdmin manages accounts, devices, watchlists, risk settings and
	// erasure, and reviews.
	RoleAdmin Role = "admin"
	// RoleReviewer claims and decides cases in scope.
	RoleReviewer Role = "reviewer"
	// RoleAuditor reads everything in scope and changes nothing.
	RoleAuditor Role = "auditor"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleReviewer || r == RoleAuditor }

// User is a console account. Secrets are stored as given: the password as
// an argon2id hash (PHC string), the TOTP secret sealed by the console.
type User struct {
	Name         string `json:"name"`
	Role         Role   `json:"role"`
	PasswordHash string `json:"password_hash"`
	// TOTPSecret is the second factor's secret, sealed; empty until the
	// user enrols a second factor.
	TOTPSecret []byte `json:"totp_secret,omitempty"`
	// EnrolCodeHash is the SHA-256 of the one-time enrolment code `user add`
	// and `user reset-totp` print: the second factor is enrolled only with
	// it, so the password alone (an initial password sent by mail, say)
	// cannot enrol somebody else's phone. Cleared once used; it ends at
	// EnrolCodeExpires.
	EnrolCodeHash    []byte    `json:"enrol_code_hash,omitempty"`
	EnrolCodeExpires time.Time `json:"enrol_code_expires,omitzero"`
	// LastTOTPStep is the last time step accepted, so a code is used once.
	LastTOTPStep int64 `json:"last_totp_step,omitempty"`
	// Scopes are the branches (or regions) the user works on; empty means
	// every branch.
	Scopes []string `json:"scopes,omitempty"`
	// FailedLogins counts password (and enrolment code) failures from any
	// address in the window that began at FailedSince; LockedUntil is set
	// when they reach the account's ceiling (auth.AccountMaxFailures).
	FailedLogins int       `json:"failed_logins,omitempty"`
	FailedSince  time.Time `json:"failed_since,omitzero"`
	LockedUntil  time.Time `json:"locked_until,omitzero"`
	// SecondFactorFailures counts wrong second-factor codes in a row,
	// whatever locks expired meanwhile; only a complete sign-in or a new
	// password clears it. Only someone who knows the password can make
	// one, so each lock it sets is longer (auth.FailSecondFactor), and at
	// auth.SecondFactorMaxFailures SecondFactorBlocked locks the account
	// until an administrator sets a new password.
	SecondFactorFailures int       `json:"second_factor_failures,omitempty"`
	SecondFactorBlocked  bool      `json:"second_factor_blocked,omitempty"`
	Disabled             bool      `json:"disabled,omitempty"`
	Lang                 string    `json:"lang,omitempty"` // "en" or "id"
	CreatedAt            time.Time `json:"created_at"`
}

// InScope reports whether the user may see a device of branch.
func (u User) InScope(branch string) bool {
	return len(u.Scopes) == 0 || slices.Contains(u.Scopes, branch)
}

// ConsoleSession is a signed-in browser. Only the hash of its token is
// stored, so a copy of the store signs nobody in.
type ConsoleSession struct {
	Hash      []byte    `json:"hash"` // SHA-256 of the cookie's token
	User      string    `json:"user"`
	CSRF      string    `json:"csrf"` // the session's anti-CSRF token
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is the absolute end; SeenAt, with the idle timeout, ends
	// it sooner.
	ExpiresAt time.Time `json:"expires_at"`
	SeenAt    time.Time `json:"seen_at"`
	// Pending marks a session past the password and waiting for the TOTP
	// code: it authorises nothing but the second step.
	Pending bool `json:"pending,omitempty"`
	// ID names the session on the account page, where its user may end
	// it (ASVS 3.3.4): random, unrelated to the token, so it is no
	// credential and the page never holds the token or its hash. Empty on
	// sessions made before it existed.
	ID string `json:"id,omitempty"`
	// Browser and OS coarsely describe the client that signed in
	// ("Firefox", "Linux"; auth.DescribeClient), for the user to
	// recognise the session: never the User-Agent itself, nor the
	// client's address, which the account page does not need.
	Browser string `json:"browser,omitempty"`
	OS      string `json:"os,omitempty"`
}

// Users is the console's store of accounts and sessions.
type Users interface {
	// CreateUser records a new account; ErrUserExists if the name is taken.
	CreateUser(ctx context.Context, u User) error
	// UpdateUser changes an account in one transaction: fn gets it as
	// stored and changes it; an error from fn aborts and is returned as is.
	// ErrNotFound for an unknown name.
	UpdateUser(ctx context.Context, name string, fn func(*User) error) (User, error)
	// User returns an account; ErrNotFound if absent.
	User(ctx context.Context, name string) (User, error)
	// Users lists accounts by name.
	Users(ctx context.Context) ([]User, error)
	// PutSession records (or replaces) a session.
	PutSession(ctx context.Context, s ConsoleSession) error
	// Session returns the session with that hash; ErrNotFound if absent
	// or expired at now.
	Session(ctx context.Context, hash []byte, now time.Time) (ConsoleSession, error)
	// UserSessions lists user's sessions not expired at now (ExpiresAt;
	// idle ones are the caller's to judge), oldest sign-in first.
	UserSessions(ctx context.Context, user string, now time.Time) ([]ConsoleSession, error)
	// TouchSession records that a session was seen at seenAt, only if it
	// is still stored: ErrNotFound once it was deleted (a sign-out racing
	// the renewal does not bring the session back, as PutSession would).
	TouchSession(ctx context.Context, hash []byte, seenAt time.Time) error
	// DeleteSession ends one session; DeleteSessions every session of a
	// user (on a password change, a disabled account). Deleting what is
	// absent is no error.
	DeleteSession(ctx context.Context, hash []byte) error
	DeleteSessions(ctx context.Context, user string) error
}
