package central

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// BoxKey is central's X25519 key pair: devices seal manifests to Public.
type BoxKey struct {
	Public, Private [32]byte
}

// ErrBadBoxKey means a box key file is malformed or readable by others.
var ErrBadBoxKey = errors.New("central: bad box key file")

const boxKeyMagic = "openkyc-central-box-key-v1\n"

var boxKeyFile = keyFile{what: "box key", magic: boxKeyMagic, size: 32, bad: ErrBadBoxKey}

// GenerateBoxKey makes a new random key pair.
func GenerateBoxKey() (*BoxKey, error) {
	k := &BoxKey{}
	rand.Read(k.Private[:])
	pub, err := curve25519.X25519(k.Private[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("generating box key: %w", err)
	}
	copy(k.Public[:], pub)
	return k, nil
}

// LoadOrCreateBoxKey reads the key file at path, creating it (mode 0600,
// written atomically) with a new key pair when it does not exist. Several
// instances sharing a store must share this file.
func LoadOrCreateBoxKey(path string) (*BoxKey, error) {
	priv, err := boxKeyFile.loadOrCreate(path, func() ([]byte, error) {
		k, err := GenerateBoxKey()
		if err != nil {
			return nil, err
		}
		return k.Private[:], nil
	})
	if err != nil {
		return nil, err
	}
	k := &BoxKey{}
	copy(k.Private[:], priv)
	pub, err := curve25519.X25519(k.Private[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("reading box key %s: %w: %w", path, ErrBadBoxKey, err)
	}
	copy(k.Public[:], pub)
	return k, nil
}
