package central

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/trustelem/zxcvbn"
)

// ErrWeakAdminToken means the admin bearer token is not worth 32 random
// bytes. New refuses such a token, so central never runs with one.
var ErrWeakAdminToken = errors.New("central: admin token is too weak")

// Admin token strength floor. A token is judged as 32 random bytes' worth
// when it has at least MinAdminTokenLen characters (32 bytes in base64url
// without padding) and both estimates of its entropy clear their floor:
// zxcvbn's guess count (dictionary words, keyboard walks, repeats and
// sequences cost an attacker little), and the Shannon entropy of its
// character frequencies times its length (a few characters repeated cost
// little too). 32 random bytes in base64url or hex clear both with room
// (over 100,000 random tokens, no base64url one scored under 180 bits by
// frequency nor under 138 by zxcvbn, which caps its estimate there).
const (
	MinAdminTokenLen        = 43
	minAdminTokenGuessBits  = 128
	minAdminTokenSymbolBits = 160
)

// CheckAdminToken returns ErrWeakAdminToken, with the reason and how to
// make a good token, when tok is weaker than 32 random bytes.
func CheckAdminToken(tok string) error {
	how := "make one with: head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='"
	if len(tok) < MinAdminTokenLen {
		return fmt.Errorf("%w: %d characters, at least %d needed (32 random bytes in base64url); %s", ErrWeakAdminToken, len(tok), MinAdminTokenLen, how)
	}
	if len(tok) > 1024 {
		return fmt.Errorf("%w: over 1024 characters", ErrWeakAdminToken)
	}
	if bits := math.Log2(zxcvbn.PasswordStrength(tok, []string{"openkyc", "kyc", "central", "admin", "token"}).Guesses); bits < minAdminTokenGuessBits {
		return fmt.Errorf("%w: it is guessable (about %.0f bits: words, repeats or sequences); %s", ErrWeakAdminToken, bits, how)
	}
	if bits := symbolBits(tok); bits < minAdminTokenSymbolBits {
		return fmt.Errorf("%w: too few different characters (about %.0f bits); %s", ErrWeakAdminToken, bits, how)
	}
	return nil
}

// symbolBits is len(s) times the Shannon entropy of its byte frequencies.
func symbolBits(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h * n
}

// adminCredentialID names the admin credential in logs without revealing
// it: "bootstrap-token:" and the first 12 hex digits of its SHA-256.
func adminCredentialID(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return "bootstrap-token:" + hex.EncodeToString(sum[:6])
}
