package auth

import (
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// Lockout (OWASP ASVS 2.2.1). Failures are counted per account and client
// address: MaxFailures of them lock that pair for LockDuration, so
// somebody who knows an account's name can lock it out from their own
// addresses only, never from the addresses its owner signs in from (the
// console keeps the pairs' counts in the store, as budgets). The account
// as a whole is locked for LockDuration only at AccountMaxFailures
// failures within AccountWindow across all addresses: the ceiling of a
// guess spread over many addresses.
const (
	MaxFailures        = 5
	AccountMaxFailures = 50
	AccountWindow      = 15 * time.Minute
	LockDuration       = 15 * time.Minute
)

// Second-factor lockout (NIST SP 800-63B 5.2.2: at most 100 consecutive
// failed attempts). A wrong second-factor code comes only from someone
// who knows the account's password, so unlike a wrong password it cannot
// be used to lock an owner out: every SecondFactorLockEvery wrong codes
// in a row lock the account everywhere, each time twice as long (from
// LockDuration up to SecondFactorMaxLock), and SecondFactorMaxFailures
// of them lock it until an administrator sets a new password.
const (
	SecondFactorLockEvery   = MaxFailures
	SecondFactorMaxFailures = 100
	SecondFactorMaxLock     = 24 * time.Hour
)

// Locked reports whether u is locked as a whole at now. A lock ending
// later than the longest one (SecondFactorMaxLock) after now was set
// while central's clock read later than it does now (set years ahead,
// then corrected): it is no lock, or the account would stay locked for as
// long as the clock was off (its owner's codes, which cannot match a
// clock that far off, lock it while it is).
func Locked(u central.User, now time.Time) bool {
	return u.SecondFactorBlocked || now.Before(u.LockedUntil) && !lockedAhead(u, now)
}

// lockedAhead reports whether u's lock ends further after now than any
// lock lasts: set by a clock since put back.
func lockedAhead(u central.User, now time.Time) bool {
	return u.LockedUntil.After(now.Add(SecondFactorMaxLock))
}

// FailSecondFactor counts a wrong second-factor code of u at now. It
// returns how long the lock it set lasts (zero if it set none) and
// whether it blocked u for good (SecondFactorMaxFailures in a row).
func FailSecondFactor(u *central.User, now time.Time) (lock time.Duration, blocked bool) {
	u.SecondFactorFailures++
	n := u.SecondFactorFailures
	if n >= SecondFactorMaxFailures {
		blocked = !u.SecondFactorBlocked
		u.SecondFactorBlocked = true
		return 0, blocked
	}
	if n%SecondFactorLockEvery != 0 {
		return 0, false
	}
	lock = LockDuration
	for range n/SecondFactorLockEvery - 1 {
		if lock *= 2; lock >= SecondFactorMaxLock {
			lock = SecondFactorMaxLock
			break
		}
	}
	if until := now.UTC().Add(lock); until.After(u.LockedUntil) || lockedAhead(*u, now) {
		u.LockedUntil = until
	}
	return lock, false
}

// SignedIn records u's complete sign-in: the wrong second-factor codes in
// a row end.
func SignedIn(u *central.User) { u.SecondFactorFailures = 0 }

// Fail counts a failed sign-in of u at now towards AccountMaxFailures,
// locking u when they are reached within AccountWindow (the count starts
// again after the lock). A complete sign-in does not clear the count: a
// guess spread over addresses would otherwise get its ceiling back each
// time the owner signs in.
func Fail(u *central.User, now time.Time) {
	now = now.UTC()
	// A window started after now was started by a clock since put back:
	// it would count failures for as long as the clock was off.
	if !now.Before(u.FailedSince.Add(AccountWindow)) || u.FailedSince.After(now) {
		u.FailedLogins, u.FailedSince = 0, now
	}
	u.FailedLogins++
	if u.FailedLogins >= AccountMaxFailures {
		u.LockedUntil = now.Add(LockDuration)
		u.FailedLogins, u.FailedSince = 0, time.Time{}
	}
}

// Unlock clears u's failures and locks, the second factor's block too
// (an administrator set a new password, which the block asks for).
func Unlock(u *central.User) {
	u.FailedLogins, u.FailedSince = 0, time.Time{}
	u.LockedUntil = time.Time{}
	u.SecondFactorFailures, u.SecondFactorBlocked = 0, false
}
