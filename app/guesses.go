package app

import (
	"errors"
	"fmt"
	"time"
)

// ErrTooManyGuesses means wrong passphrases came in a row at this window:
// the next try waits (guessGuard).
var ErrTooManyGuesses = errors.New("too many wrong passphrases")

// Guessing bounds: freeGuesses wrong passphrases in a row are free, each
// further one closes the window's passphrase checks for a wait doubling
// from firstGuessWait up to maxGuessWait. The accounts are local and a
// kiosk's sign-in stands before anyone walking up: at the hash's tenth of
// a second, an unbounded window tried ten passphrases a second, each a
// guess of the supervisor's too through the settings screen's forms.
const (
	freeGuesses    = 5
	firstGuessWait = 30 * time.Second
	maxGuessWait   = 15 * time.Minute
)

// guessGuard counts wrong passphrases in a row at the window, whatever
// the account: one guarded per name would let a guesser try every name.
type guessGuard struct {
	failures int
	until    time.Time // no check before then
}

// checkPassLocked is accounts.check behind the guard: sign-in, and a
// supervisor's approval of an account or of the enrolment.
func (a *App) checkPassLocked(name, pass string) (Role, error) {
	g := &a.staff.guard
	now := a.now()
	if wait := g.until.Sub(now); wait > 0 {
		return "", fmt.Errorf("%w: try again in %s", ErrTooManyGuesses, wait.Round(time.Second))
	}
	role, err := a.staff.accounts.check(name, pass)
	if err != nil {
		g.failures++
		if n := g.failures - freeGuesses; n > 0 {
			wait := maxGuessWait
			if n <= 10 { // beyond, the doubling has long passed the ceiling
				wait = min(firstGuessWait<<(n-1), maxGuessWait)
			}
			g.until = now.Add(wait)
			a.cfg.Logger.Warn("wrong passphrases in a row", "count", g.failures, "wait", wait)
		}
		return "", err
	}
	*g = guessGuard{}
	return role, nil
}

// tooMany is err when it is the guard's, to be said with the refusal; nil
// otherwise, so that a refusal never says whether the name exists.
func tooMany(err error) error {
	if errors.Is(err, ErrTooManyGuesses) {
		return err
	}
	return nil
}
