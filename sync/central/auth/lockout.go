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

// Locked reports whether u is locked as a whole at now.
func Locked(u central.User, now time.Time) bool { return now.Before(u.LockedUntil) }

// Fail counts a failed sign-in of u at now towards AccountMaxFailures,
// locking u when they are reached within AccountWindow (the count starts
// again after the lock). A complete sign-in does not clear the count: a
// guess spread over addresses would otherwise get its ceiling back each
// time the owner signs in.
func Fail(u *central.User, now time.Time) {
	now = now.UTC()
	if !now.Before(u.FailedSince.Add(AccountWindow)) {
		u.FailedLogins, u.FailedSince = 0, now
	}
	u.FailedLogins++
	if u.FailedLogins >= AccountMaxFailures {
		u.LockedUntil = now.Add(LockDuration)
		u.FailedLogins, u.FailedSince = 0, time.Time{}
	}
}

// Unlock clears u's failures and lock (an administrator set a new
// password).
func Unlock(u *central.User) {
	u.FailedLogins, u.FailedSince = 0, time.Time{}
	u.LockedUntil = time.Time{}
}
