package central

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/crypto/curve25519"

	"github.com/openkyc/kyc/internal/atomicfile"
)

// BoxKey is central's X25519 key pair: devices seal manifests to Public.
type BoxKey struct {
	Public, Private [32]byte
}

// ErrBadBoxKey means a box key file is malformed or readable by others.
var ErrBadBoxKey = errors.New("central: bad box key file")

const boxKeyMagic = "openkyc-central-box-key-v1\n"

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
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createBoxKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading box key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading box key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("reading box key %s: %w: mode %v is readable by others", path, ErrBadBoxKey, fi.Mode().Perm())
	}
	rest, ok := bytes.CutPrefix(data, []byte(boxKeyMagic))
	priv, derr := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(rest)))
	if !ok || derr != nil || len(priv) != 32 {
		return nil, fmt.Errorf("reading box key %s: %w", path, ErrBadBoxKey)
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

func createBoxKey(path string) (*BoxKey, error) {
	k, err := GenerateBoxKey()
	if err != nil {
		return nil, err
	}
	data := []byte(boxKeyMagic + base64.StdEncoding.EncodeToString(k.Private[:]) + "\n")
	err = atomicfile.Create(path, data)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateBoxKey(path) // another instance created it meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("creating box key: %w", err)
	}
	return k, nil
}
