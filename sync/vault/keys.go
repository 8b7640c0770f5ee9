package vault

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/crypto/argon2"
)

// Key-source kinds recorded in the vault header.
const (
	sourcePassphrase = "argon2id"
	sourceKeyFile    = "keyfile"
)

// keySize is the length of every symmetric key in the vault: KEKs, DEKs,
// the master secret and the keys derived from it.
const keySize = 32

// saltSize is the length of the per-vault KDF salt.
const saltSize = 16

// KeySource supplies the key-encryption key (KEK) that wraps every data key.
// The two implementations are Passphrase (field laptops, with an operator
// present) and KeyFile (unattended kiosks).
type KeySource interface {
	// kind names the source in the vault header, so a vault opened with the
	// wrong kind of source gets a clear error instead of a failed decryption.
	kind() string
	// kek derives the key-encryption key for the given header.
	kek(h header) ([]byte, error)
}

// Argon2Params are the Argon2id cost parameters for passphrase vaults. They
// are stored in the vault header, so a vault keeps opening with the
// parameters it was created (or last rotated) with.
//
// Tests can use {Time: 1, MemoryKiB: 64, Threads: 1}, which derives in well
// under a millisecond; never use that for a real vault.
type Argon2Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes
}

// DefaultArgon2 returns the parameters used when Options.Argon2 is zero: the
// second recommendation of RFC 9106 (t=3, 64 MiB, p=4), a few hundred
// milliseconds on a laptop and memory-hard enough to make offline guessing of
// a copied vault expensive.
func DefaultArgon2() Argon2Params {
	return Argon2Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}
}

// Upper bounds checked on parameters read from a header, so a tampered header
// cannot make Open allocate gigabytes or spin for hours.
const (
	maxArgon2Time      = 64
	maxArgon2MemoryKiB = 4 << 20 // 4 GiB
	maxArgon2Threads   = 64
)

func (p Argon2Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxArgon2Time:
		return fmt.Errorf("argon2 time %d outside 1..%d", p.Time, maxArgon2Time)
	case p.Threads < 1 || p.Threads > maxArgon2Threads:
		return fmt.Errorf("argon2 threads %d outside 1..%d", p.Threads, maxArgon2Threads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxArgon2MemoryKiB:
		return fmt.Errorf("argon2 memory %d KiB outside %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxArgon2MemoryKiB)
	}
	return nil
}

// header is the plaintext vault header. It holds only KDF parameters and a
// random salt: nothing personal, nothing secret.
type header struct {
	Version int    `json:"version"`
	Source  string `json:"source"`
	Salt    []byte `json:"salt"`
	// Argon2id parameters; zero for key-file vaults.
	Time      uint32 `json:"time,omitempty"`
	MemoryKiB uint32 `json:"memory_kib,omitempty"`
	Threads   uint8  `json:"threads,omitempty"`
}

const headerVersion = 1

// newHeader starts a header for a new vault or a key rotation: fresh salt,
// and the Argon2 parameters when the source is a passphrase.
func newHeader(src KeySource, p Argon2Params) (header, error) {
	h := header{Version: headerVersion, Source: src.kind(), Salt: randomBytes(saltSize)}
	if h.Source == sourcePassphrase {
		if p == (Argon2Params{}) {
			p = DefaultArgon2()
		}
		if err := p.validate(); err != nil {
			return header{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		h.Time, h.MemoryKiB, h.Threads = p.Time, p.MemoryKiB, p.Threads
	}
	return h, nil
}

func parseHeader(raw []byte) (header, error) {
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return header{}, fmt.Errorf("%w: header: %w", ErrCorrupt, err)
	}
	if h.Version != headerVersion {
		return header{}, fmt.Errorf("%w: unsupported header version %d", ErrCorrupt, h.Version)
	}
	if len(h.Salt) != saltSize {
		return header{}, fmt.Errorf("%w: header salt is %d bytes", ErrCorrupt, len(h.Salt))
	}
	switch h.Source {
	case sourcePassphrase:
		if err := h.argon2().validate(); err != nil {
			return header{}, fmt.Errorf("%w: header: %w", ErrCorrupt, err)
		}
	case sourceKeyFile:
	default:
		return header{}, fmt.Errorf("%w: unknown key source %q", ErrCorrupt, h.Source)
	}
	return h, nil
}

func (h header) argon2() Argon2Params {
	return Argon2Params{Time: h.Time, MemoryKiB: h.MemoryKiB, Threads: h.Threads}
}

// deriveKEK checks that src matches the header and derives the KEK.
func deriveKEK(src KeySource, h header) ([]byte, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: nil key source", ErrInvalid)
	}
	if src.kind() != h.Source {
		return nil, fmt.Errorf("%w: vault is protected by %s, not %s", ErrWrongKey, describeSource(h.Source), describeSource(src.kind()))
	}
	return src.kek(h)
}

func describeSource(kind string) string {
	if kind == sourcePassphrase {
		return "a passphrase"
	}
	return "a key file"
}

type passphrase string

// Passphrase returns a KeySource that derives the KEK from an operator
// passphrase with Argon2id, using the salt and cost stored in the vault header.
func Passphrase(p string) KeySource { return passphrase(p) }

func (passphrase) kind() string { return sourcePassphrase }

func (p passphrase) kek(h header) ([]byte, error) {
	if p == "" {
		return nil, fmt.Errorf("%w: empty passphrase", ErrInvalid)
	}
	return argon2.IDKey([]byte(p), h.Salt, h.Time, h.MemoryKiB, h.Threads, keySize), nil
}

type keyFile string

// KeyFile returns a KeySource that reads a 32-byte random key from path, for
// kiosks that must start unattended. The file must be a regular file owned by
// the current user and readable by nobody else (mode 0600 or 0400); anything
// looser is refused with ErrInsecureKeyFile, because a key that other
// accounts can read protects nothing. GenerateKeyFile creates one.
func KeyFile(path string) KeySource { return keyFile(path) }

func (keyFile) kind() string { return sourceKeyFile }

func (k keyFile) kek(h header) ([]byte, error) {
	raw, err := readKeyFile(string(k))
	if err != nil {
		return nil, err
	}
	// Derive rather than use the file directly so that one key file shared
	// by several vaults still gives each its own KEK, and a rotation to the
	// same file (new salt) still changes the KEK.
	kek, err := hkdf.Key(sha256.New, raw, h.Salt, "openkyc vault kek v1", keySize)
	if err != nil {
		return nil, fmt.Errorf("deriving KEK from key file: %w", err)
	}
	return kek, nil
}

func readKeyFile(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty key file path", ErrInvalid)
	}
	// O_NONBLOCK: a FIFO is refused below rather than waited on for a
	// writer; a regular file reads as it would without it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening key file: %w", err)
	}
	defer f.Close()
	// Check the opened file, not the path, so the file cannot be swapped
	// between the check and the read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checking key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInsecureKeyFile, path)
	}
	if err := checkKeyFileOwner(path, fi); err != nil {
		return nil, err
	}
	// Read one byte more than needed to tell "exactly 32" from "longer".
	buf := make([]byte, keySize+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	if n != keySize {
		return nil, fmt.Errorf("%w: key file %s must hold exactly %d random bytes", ErrInvalid, path, keySize)
	}
	return buf[:keySize], nil
}

// GenerateKeyFile writes a new 32-byte random key to path with mode 0600,
// for provisioning a kiosk. It refuses to replace an existing file: losing
// the key loses the vault.
func GenerateKeyFile(path string) error {
	if path == "" {
		return fmt.Errorf("%w: empty key file path", ErrInvalid)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".keyfile-*")
	if err != nil {
		return fmt.Errorf("creating key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := writeKeyAndSync(tmp); err != nil {
		return fmt.Errorf("writing key file %s: %w", path, err)
	}
	// A hard link publishes the complete file atomically and, unlike rename,
	// fails when path already exists.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("creating key file %s: %w", path, err)
	}
	return syncDir(dir)
}

func writeKeyAndSync(f *os.File) error {
	// CreateTemp already uses 0600; Chmod makes that explicit and umask-proof.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(randomBytes(keySize)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// randomBytes returns n bytes from the system CSPRNG. crypto/rand.Read never
// returns an error (since Go 1.24 it aborts the program instead).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
