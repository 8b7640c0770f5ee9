package auth

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// Session lifetimes.
const (
	// IdleTimeout ends a session nobody used for this long.
	IdleTimeout = 30 * time.Minute
	// AbsoluteTimeout ends a session this long after sign-in, used or not.
	AbsoluteTimeout = 12 * time.Hour
	// PendingTimeout is how long the TOTP step (or enrolment) may take
	// after the password was accepted.
	PendingTimeout = 10 * time.Minute
)

// NewSession makes a session for user at now: the token for the cookie
// (32 random bytes, base64url) and the record to store, which holds only
// the token's hash, and an id to name it on the account page, random and
// unrelated to the token. A pending session is past the password and waiting
// for the second factor. Every sign-in step makes a new session (the
// token rotates), so a token seen before sign-in is worth nothing after.
func NewSession(user string, now time.Time, pending bool) (token string, s central.ConsoleSession) {
	token = randomString()
	now = now.UTC()
	exp := now.Add(AbsoluteTimeout)
	if pending {
		exp = now.Add(PendingTimeout)
	}
	return token, central.ConsoleSession{
		Hash: HashToken(token), User: user, CSRF: randomString(),
		CreatedAt: now, ExpiresAt: exp, SeenAt: now, Pending: pending,
		ID: randomID(),
	}
}

// Live reports whether s may still be used at now: before its absolute
// end and not idle for IdleTimeout. A session made more than
// sessionClockSlack after now was made while central's clock read later
// than it does now (put back since): its ends were reckoned by that
// clock, and its idle time, negative, would not count until the clock
// caught up, possibly years; it is not live.
func Live(s central.ConsoleSession, now time.Time) bool {
	return now.Before(s.ExpiresAt) && now.Sub(s.SeenAt) < IdleTimeout && !s.CreatedAt.After(now.Add(sessionClockSlack))
}

// sessionClockSlack is how far after central's clock a session may be
// dated (the clocks of instances sharing the store differ by less).
const sessionClockSlack = time.Minute

func randomString() string { return randomBytes(32) }

// randomID is a session's id: 16 random bytes, base64url, enough to be
// unique and unguessable, and no credential whatever its length.
func randomID() string { return randomBytes(16) }

func randomBytes(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
