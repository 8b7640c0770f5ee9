package central

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/openkyc/kyc/internal/atomicfile"
)

// ErrBadSignKey means a sign key file is malformed or readable by others.
var ErrBadSignKey = errors.New("central: bad sign key file")

const signKeyMagic = "openkyc-central-sign-key-v1\n"

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
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createSignKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading sign key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading sign key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("reading sign key %s: %w: mode %v is readable by others", path, ErrBadSignKey, fi.Mode().Perm())
	}
	rest, ok := bytes.CutPrefix(data, []byte(signKeyMagic))
	seed, derr := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(rest)))
	if !ok || derr != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("reading sign key %s: %w", path, ErrBadSignKey)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func createSignKey(path string) (ed25519.PrivateKey, error) {
	k, err := GenerateSignKey()
	if err != nil {
		return nil, err
	}
	data := []byte(signKeyMagic + base64.StdEncoding.EncodeToString(k.Seed()) + "\n")
	err = atomicfile.Create(path, data)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateSignKey(path) // another instance created it meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("creating sign key: %w", err)
	}
	return k, nil
}
