// Package identity is a device's identity towards central: its Ed25519 key
// pair, kept in a private key file, the device id derived from the public
// key, and the enrolment record (central's URL and the X25519 key payloads
// are sealed to) obtained by redeeming a one-time enrolment token.
package identity

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/protocol"
)

var (
	// ErrInsecureKeyFile means the key file is readable by group or others.
	ErrInsecureKeyFile = errors.New("identity: key file is readable by others")
	// ErrMalformed means a key or enrolment file is not in the expected format.
	ErrMalformed = errors.New("identity: malformed file")
)

// keyFileMagic heads a key file, so that a stray file is not mistaken for a key.
const keyFileMagic = "openkyc-device-key-v1\n"

// Identity is a device's key pair.
type Identity struct {
	key ed25519.PrivateKey
}

// New returns an identity for an existing private key.
func New(key ed25519.PrivateKey) (*Identity, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes", ErrMalformed, len(key))
	}
	return &Identity{key: key}, nil
}

// Generate makes a new random identity.
func Generate() *Identity {
	_, key, _ := ed25519.GenerateKey(nil) // crypto/rand never fails
	return &Identity{key: key}
}

// DeviceID is the device's id, derived from its public key.
func (id *Identity) DeviceID() string { return protocol.DeviceID(id.Public()) }

// Public returns the device's public key.
func (id *Identity) Public() ed25519.PublicKey { return id.key.Public().(ed25519.PublicKey) }

// Signer returns the key as a crypto.Signer, for signing device attestations.
func (id *Identity) Signer() crypto.Signer { return id.key }

// SignRequest signs an outgoing request whose body is body.
func (id *Identity) SignRequest(req *http.Request, body []byte, now time.Time) {
	protocol.Sign(req, sha256.Sum256(body), id.DeviceID(), id.key, now)
}

// ResignRequest refreshes the timestamp, nonce and signature of a signed
// request before it is sent again.
func (id *Identity) ResignRequest(req *http.Request, now time.Time) error {
	return protocol.Resign(req, id.key, now)
}

// ContentKey derives the key an image's chunks are sealed with (see
// protocol.ContentKey); the secret is derived from the private key, so it
// survives restarts without being stored anywhere.
func (id *Identity) ContentKey(submissionID, image string, sum [sha256.Size]byte) ([]byte, error) {
	secret, err := hkdf.Key(sha256.New, id.key.Seed(), nil, "openkyc device content secret v1", 32)
	if err != nil {
		return nil, fmt.Errorf("deriving content secret: %w", err)
	}
	return protocol.ContentKey(secret, submissionID, image, sum)
}

// LoadOrCreate reads the key file at path, or creates it (mode 0600) with a
// new key when it does not exist.
func LoadOrCreate(path string) (*Identity, error) {
	id, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	id = Generate()
	data := append([]byte(keyFileMagic), base64.StdEncoding.EncodeToString(id.key.Seed())+"\n"...)
	if err := atomicfile.Create(path, data); err != nil {
		return nil, fmt.Errorf("creating device key %s: %w", path, err)
	}
	return id, nil
}

// Load reads the key file at path. It refuses a file that group or others
// can read.
func Load(path string) (*Identity, error) {
	f, err := atomicfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading device key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading device key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("reading device key %s: %w (mode %v)", path, ErrInsecureKeyFile, fi.Mode().Perm())
	}
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	rest, ok := bytes.CutPrefix(buf[:n], []byte(keyFileMagic))
	if !ok {
		return nil, fmt.Errorf("reading device key %s: %w", path, ErrMalformed)
	}
	seed, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(rest)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("reading device key %s: %w: bad seed", path, ErrMalformed)
	}
	return &Identity{key: ed25519.NewKeyFromSeed(seed)}, nil
}

// DirEnv names the environment variable that overrides the device folder.
const DirEnv = "KYC_DEVICE_DIR"

// EnrollmentFile is the enrolment's file in the device folder
// (SaveEnrollment).
const EnrollmentFile = "enrollment.json"

// DefaultDir is the folder that holds the device key, the enrolment and
// the vault: $KYC_DEVICE_DIR, else openkyc/device in the user's
// configuration directory. The CLI and the desktop app share it.
func DefaultDir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "openkyc", "device")
	}
	return "kyc-device"
}
