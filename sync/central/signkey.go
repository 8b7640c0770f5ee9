package central

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrBadSignKey means a sign key file is malformed or readable by others.
var ErrBadSignKey = errors.New("central: bad sign key file")

const signKeyMagic = "openkyc-central-sign-key-v1\n"

var signKeyFile = keyFile{what: "sign key", magic: signKeyMagic, size: ed25519.SeedSize, bad: ErrBadSignKey}

// GenerateSignKey makes a new Ed25519 key for central to sign
// configuration, watchlists and attestation challenges with.
func GenerateSignKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating sign key: %w", err)
	}
	return priv, nil
}

// LoadOrCreateSignKey reads central's Ed25519 key file at path, creating it
// (mode 0600, written atomically) when it does not exist. Like the box key,
// every instance sharing a store must share this file: devices pin its
// public half at enrolment, and the attestation challenge secret is derived
// from it.
func LoadOrCreateSignKey(path string) (ed25519.PrivateKey, error) {
	seed, err := signKeyFile.loadOrCreate(path, func() ([]byte, error) {
		k, err := GenerateSignKey()
		if err != nil {
			return nil, err
		}
		return k.Seed(), nil
	})
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
