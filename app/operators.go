package app

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// ErrBadCredentials means the operator name or passphrase is wrong. The
// screen does not say which, so names cannot be probed.
var ErrBadCredentials = errors.New("unknown operator or wrong passphrase")

// minPassphrase is the shortest passphrase an operator account accepts.
const minPassphrase = 8

// operatorHash is one local account: an Argon2id hash of the passphrase.
type operatorHash struct {
	Name    string `json:"name"`
	Salt    []byte `json:"salt"`
	Hash    []byte `json:"hash"`
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory_kib"`
	Threads uint8  `json:"threads"`
}

// operators is the accounts file: local, so a field agent signs in offline.
type operators struct {
	Accounts []operatorHash `json:"accounts"`
}

// The Argon2id cost of new accounts: about a tenth of a second here, which
// bounds guessing on a stolen laptop without keeping the operator waiting.
const (
	argonTime    = 2
	argonMemory  = 32 * 1024
	argonThreads = 1
)

func hashPassphrase(name, pass string) (operatorHash, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return operatorHash{}, fmt.Errorf("drawing a salt: %w", err)
	}
	return operatorHash{Name: name, Salt: salt, Time: argonTime, Memory: argonMemory, Threads: argonThreads,
		Hash: argon2.IDKey([]byte(pass), salt, argonTime, argonMemory, argonThreads, 32)}, nil
}

// check verifies name and pass against the accounts.
func (o operators) check(name, pass string) error {
	for _, a := range o.Accounts {
		if a.Name != name {
			continue
		}
		h := argon2.IDKey([]byte(pass), a.Salt, a.Time, a.Memory, a.Threads, uint32(len(a.Hash)))
		if subtle.ConstantTimeCompare(h, a.Hash) == 1 {
			return nil
		}
		return ErrBadCredentials
	}
	return ErrBadCredentials
}

// validateAccount checks a new account's name and passphrase.
func validateAccount(name, pass string) error {
	switch {
	case strings.TrimSpace(name) == "" || name != strings.TrimSpace(name):
		return errors.New("operator name: empty or padded with spaces")
	case utf8.RuneCountInString(name) > 64:
		return errors.New("operator name: longer than 64 characters")
	case utf8.RuneCountInString(pass) < minPassphrase:
		return fmt.Errorf("passphrase: at least %d characters", minPassphrase)
	}
	return nil
}
