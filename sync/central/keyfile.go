package central

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/openkyc/kyc/internal/atomicfile"
)

// keyFile is the format of central's key files (the box key, the sign
// key): a magic line, then the secret in base64; mode 0600, written
// atomically.
type keyFile struct {
	what  string // "box key", in messages
	magic string
	size  int   // the secret's length
	bad   error // the error a malformed or exposed file wraps
}

// loadOrCreate reads the secret in the file at path, creating the file
// with the secret generate makes when it does not exist.
func (f keyFile) loadOrCreate(path string, generate func() ([]byte, error)) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f.create(path, generate)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.what, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.what, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("reading %s %s: %w: mode %v is readable by others", f.what, path, f.bad, fi.Mode().Perm())
	}
	rest, ok := bytes.CutPrefix(data, []byte(f.magic))
	secret, derr := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(rest)))
	if !ok || derr != nil || len(secret) != f.size {
		return nil, fmt.Errorf("reading %s %s: %w", f.what, path, f.bad)
	}
	return secret, nil
}

func (f keyFile) create(path string, generate func() ([]byte, error)) ([]byte, error) {
	secret, err := generate()
	if err != nil {
		return nil, err
	}
	data := []byte(f.magic + base64.StdEncoding.EncodeToString(secret) + "\n")
	err = atomicfile.Create(path, data)
	if errors.Is(err, fs.ErrExist) {
		return f.loadOrCreate(path, generate) // another instance created it meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", f.what, err)
	}
	return secret, nil
}

// ErrSecretFile means a secret file of LoadOrCreateSecret is malformed or
// readable by others.
var ErrSecretFile = errors.New("central: secret file malformed or readable by others")

// LoadOrCreateSecret reads the random secret of size bytes kept in the file
// at path in the format of central's key files (magic line, base64; mode
// 0600), creating it when it is missing: the console's and the partner
// API's keys, which instances sharing a store share like the box key.
func LoadOrCreateSecret(path, what, magic string, size int) ([]byte, error) {
	f := keyFile{what: what, magic: magic, size: size, bad: ErrSecretFile}
	return f.loadOrCreate(path, func() ([]byte, error) {
		secret := make([]byte, size)
		rand.Read(secret)
		return secret, nil
	})
}
