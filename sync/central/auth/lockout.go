package auth

import (
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// Lockout: an account whose sign-in failed MaxFailures times in a row is
// locked for LockDuration (the console also limits failures per client
// address, so spreading guesses over accounts gains nothing either).
const (
	MaxFailures  = 5
	LockDuration = 15 * time.Minute
)

// Locked reports whether u is locked at now.
func Locked(u central.User, now time.Time) bool { return now.Before(u.LockedUntil) }

// Fail records a failed sign-in of u at now, locking it at MaxFailures
// (the count starts again after the lock).
func Fail(u *central.User, now time.Time) {
	u.FailedLogins++
	if u.FailedLogins >= MaxFailures {
		u.LockedUntil = now.UTC().Add(LockDuration)
		u.FailedLogins = 0
	}
}

// Succeed clears u's failures after a complete sign-in.
func Succeed(u *central.User) {
	u.FailedLogins = 0
	u.LockedUntil = time.Time{}
}
