package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"math/big"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// EnrolCodeTTL is how long a one-time enrolment code stays valid.
const EnrolCodeTTL = 7 * 24 * time.Hour

// enrolAlphabet leaves out 0/O and 1/I/L, which people misread.
const enrolAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// SetEnrolCode gives u a new one-time enrolment code valid until now +
// EnrolCodeTTL and returns it, as "XXXX-XXXX-XXXX" (12 symbols of 31, 59
// bits: far beyond what the sign-in's lockout lets anyone try).
func SetEnrolCode(u *central.User, now time.Time) string {
	var b strings.Builder
	for range 12 {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(enrolAlphabet))))
		if err != nil {
			panic("auth: crypto/rand failed: " + err.Error()) // it never returns an error on Linux
		}
		b.WriteByte(enrolAlphabet[i.Int64()])
	}
	raw := b.String()
	h := sha256.Sum256([]byte(raw))
	u.EnrolCodeHash, u.EnrolCodeExpires = h[:], now.UTC().Add(EnrolCodeTTL)
	return raw[:4] + "-" + raw[4:8] + "-" + raw[8:]
}

// CheckEnrolCode reports whether code is u's enrolment code and still
// valid at now; an account without one needs none (accounts made before
// enrolment codes existed). Dashes, spaces and case are ignored. A code
// expiring later than EnrolCodeTTL (and sessionClockSlack) after now was
// made while central's clock read later than it does now (put back
// since): it is not valid, or it would be for as long as the clock was
// off, years; an administrator makes a new one.
func CheckEnrolCode(u central.User, code string, now time.Time) bool {
	if len(u.EnrolCodeHash) == 0 {
		return true
	}
	if now.After(u.EnrolCodeExpires) || u.EnrolCodeExpires.After(now.Add(EnrolCodeTTL+sessionClockSlack)) {
		return false
	}
	norm := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	h := sha256.Sum256([]byte(norm))
	return subtle.ConstantTimeCompare(h[:], u.EnrolCodeHash) == 1
}
