package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams follow RFC 9106's second recommended option (64 MiB,
// three passes) with two lanes: about 60 ms per sign-in on a small server
// core, and 64 MiB per guess for an attacker holding a copy of the store.
var DefaultParams = Params{Memory: 64 << 10, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}

// ErrMismatch means a password does not match its hash.
var ErrMismatch = errors.New("auth: wrong password")

// ErrHash means a stored hash is not an argon2id PHC string this package
// reads.
var ErrHash = errors.New("auth: malformed password hash")

// HashPassword hashes pw with p into a PHC string.
func HashPassword(pw string, p Params) string {
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// maxMemory bounds the memory a stored hash may ask for (1 GiB), so a
// tampered hash cannot exhaust the server.
const maxMemory = 1 << 20

// CheckPassword reports whether pw matches hash: nil, ErrMismatch, or
// ErrHash for a hash it cannot read. The comparison is constant-time.
func CheckPassword(hash, pw string) error {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return ErrHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return ErrHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Memory > maxMemory || p.Time == 0 || p.Time > 64 || p.Threads == 0 {
		return ErrHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 128 {
		return ErrHash
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// Password rules.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256 // argon2 takes any length; this bounds the work a request asks for
	// MinStrength is the zxcvbn score (0-4) a password needs: 3 is "safely
	// unguessable" (about 10^10 guesses), which with argon2id and the
	// lockout is well beyond an online or offline attacker's reach.
	MinStrength = 3
)

// ErrWeak means a password is too short, too long or too guessable.
var ErrWeak = errors.New("auth: password too weak")

// CheckStrength refuses a password shorter than MinPasswordLen characters,
// longer than MaxPasswordLen bytes, or scoring under MinStrength with
// zxcvbn (which also penalises the user inputs given: the account name).
func CheckStrength(pw string, userInputs ...string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fmt.Errorf("%w: use at least %d characters", ErrWeak, MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: use at most %d bytes", ErrWeak, MaxPasswordLen)
	}
	if r := zxcvbn.PasswordStrength(pw, userInputs); r.Score < MinStrength {
		return fmt.Errorf("%w: easy to guess (strength %d of 4, %d needed); use a longer passphrase of unrelated words", ErrWeak, r.Score, MinStrength)
	}
	return nil
}
