package auth

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"image/png"
	"net/url"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238's defaults (SHA-1, 6 digits, 30 s), the only
// ones every authenticator app supports.
const (
	totpPeriod = 30
	// totpSkew accepts the code of the step before and after the current
	// one, for a phone's clock a little off.
	totpSkew = 1
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Enrolment is a new TOTP secret to show the user: as text to type and as
// an otpauth:// URL (in a QR code) to scan.
type Enrolment struct {
	Secret string // base32
	URL    string
	key    *otp.Key
}

// NewTOTP makes a new secret for account at issuer.
func NewTOTP(issuer, account string) (Enrolment, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod,
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, fmt.Errorf("making a TOTP secret: %w", err)
	}
	return Enrolment{Secret: k.Secret(), URL: k.URL(), key: k}, nil
}

// EnrolmentFor rebuilds the enrolment of an existing secret (to show it
// again while the user has not confirmed it).
func EnrolmentFor(issuer, account, secret string) (Enrolment, error) {
	k, err := otp.NewKeyFromURL(fmt.Sprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&period=%d&digits=6&algorithm=SHA1",
		urlEscape(issuer), urlEscape(account), secret, urlEscape(issuer), totpPeriod))
	if err != nil {
		return Enrolment{}, fmt.Errorf("reading a TOTP secret: %w", err)
	}
	return Enrolment{Secret: secret, URL: k.URL(), key: k}, nil
}

// QRPNG is the enrolment URL as a QR code, a PNG of size×size pixels
// (drawn by github.com/boombuler/barcode, which pquerna/otp uses).
func (e Enrolment) QRPNG(size int) ([]byte, error) {
	img, err := e.key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("drawing the QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encoding the QR code: %w", err)
	}
	return buf.Bytes(), nil
}

// Step is the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / totpPeriod }

// CheckTOTP reports whether code is valid for secret at now within the
// skew, and for a step after last (a code is used once: the caller stores
// the step returned as the user's LastTOTPStep).
func CheckTOTP(secret, code string, now time.Time, last int64) (step int64, ok bool) {
	if len(code) != 6 {
		return 0, false
	}
	cur := Step(now)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := cur + d
		if s <= last {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// ReusedTOTP reports whether code, refused by CheckTOTP, is the code of a
// step within the skew that was already used (at or before last): a code
// seen once and sent again, by whoever saw it (ASVS 2.8.5: a reused
// one-time code is refused and logged).
func ReusedTOTP(secret, code string, now time.Time, last int64) bool {
	if len(code) != 6 {
		return false
	}
	cur := Step(now)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := cur + d
		if s > last {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return true
		}
	}
	return false
}

// Code is the TOTP code of secret at t (for tests and the CLI).
func Code(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}

func urlEscape(s string) string { return url.PathEscape(s) }
