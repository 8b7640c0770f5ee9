package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Paths added for trust: the device's status report.
const (
	// PathStatus is where a device PUTs its DeviceStatus at each sync.
	PathStatus = "/v1/status"
)

// MaxWatchlistSize bounds one watchlist file. Central refuses larger uploads
// and devices refuse larger downloads, streaming either way, so the two
// sides agree on what a list may be.
const MaxWatchlistSize = 256 << 20

// FingerprintSize is the size of a central key fingerprint.
const FingerprintSize = 16

// ErrBadToken means an enrolment token does not have the shape
// FormatEnrollToken gives it.
var ErrBadToken = errors.New("malformed enrolment token")

// ErrKeyMismatch means the keys central presented at enrolment do not match
// the fingerprint the enrolment token carries: a man in the middle, or a
// token made by another central.
var ErrKeyMismatch = errors.New("central's keys do not match the enrolment token's fingerprint")

// ErrBadConfigSignature means a configuration bundle or watchlist
// descriptor is not signed by the central key pinned at enrolment.
var ErrBadConfigSignature = errors.New("configuration is not signed by the enrolled central")

// CentralFingerprint is the fingerprint of central's two public keys: the
// X25519 box key devices seal payloads to and the Ed25519 key that signs
// configuration. An enrolment token carries it, so the device pins the keys
// it learns at enrolment to what the administrator handed over out of band.
func CentralFingerprint(boxPub []byte, signPub ed25519.PublicKey) []byte {
	h := sha256.New()
	h.Write([]byte("openkyc central keys v1\x00"))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(boxPub))))
	h.Write(boxPub)
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(signPub))))
	h.Write(signPub)
	return h.Sum(nil)[:FingerprintSize]
}

// FormatEnrollToken joins a token's random secret and central's key
// fingerprint as "<secret>.<fingerprint>", both base64url without padding.
// Central stores only the SHA-256 of the whole string.
func FormatEnrollToken(secret, fingerprint []byte) string {
	return base64.RawURLEncoding.EncodeToString(secret) + "." + base64.RawURLEncoding.EncodeToString(fingerprint)
}

// ParseEnrollToken splits a token made by FormatEnrollToken and returns the
// fingerprint it carries. Surrounding white space (a token pasted from a
// file) is ignored.
func ParseEnrollToken(token string) (fingerprint []byte, err error) {
	token = strings.TrimSpace(token)
	secret, fp, ok := strings.Cut(token, ".")
	if !ok {
		return nil, ErrBadToken
	}
	s, err1 := base64.RawURLEncoding.DecodeString(secret)
	f, err2 := base64.RawURLEncoding.DecodeString(fp)
	if err1 != nil || err2 != nil || len(s) < 16 || len(f) != FingerprintSize {
		return nil, ErrBadToken
	}
	return f, nil
}

// CheckFingerprint compares the keys central answered an enrolment with to
// the fingerprint of the token, in constant time.
func CheckFingerprint(fingerprint, boxPub []byte, signPub ed25519.PublicKey) error {
	if subtle.ConstantTimeCompare(fingerprint, CentralFingerprint(boxPub, signPub)) != 1 {
		return ErrKeyMismatch
	}
	return nil
}

// Signing domains of central's configuration key.
const (
	configDomain    = "openkyc config v1\x00"
	watchlistDomain = "openkyc watchlist v1\x00"
)

// SignedConfig is the body of GET PathConfig: the JSON of a Config and
// central's Ed25519 signature over it. The device verifies the signature
// with the key pinned at enrolment before it uses anything inside.
type SignedConfig struct {
	Config    json.RawMessage `json:"config"`
	Signature []byte          `json:"signature"`
}

// SignConfig encodes and signs c with central's configuration key.
func SignConfig(key ed25519.PrivateKey, c Config) (SignedConfig, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return SignedConfig{}, fmt.Errorf("encoding configuration: %w", err)
	}
	return SignedConfig{Config: data, Signature: ed25519.Sign(key, append([]byte(configDomain), data...))}, nil
}

// Open verifies s with central's public key and decodes the configuration.
func (s SignedConfig) Open(pub ed25519.PublicKey) (Config, error) {
	var c Config
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, append([]byte(configDomain), s.Config...), s.Signature) {
		return c, ErrBadConfigSignature
	}
	if err := json.Unmarshal(s.Config, &c); err != nil {
		return c, fmt.Errorf("decoding configuration: %w", err)
	}
	return c, nil
}

// watchlistMessage is what a watchlist signature covers: its name,
// version, size and SHA-256, so the signature binds the bytes too.
func watchlistMessage(w Watchlist) []byte {
	var b bytes.Buffer
	b.WriteString(watchlistDomain)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(w.Name))))
	b.WriteString(w.Name)
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(w.Version)))
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(w.Size)))
	b.Write(w.SHA256)
	return b.Bytes()
}

// SignWatchlist sets w.Signature: central's signature over the list's
// descriptor, which a device checks (with the list's SHA-256) before it
// replaces its copy. Each list is signed on its own, so one bad list never
// blocks the others.
func SignWatchlist(key ed25519.PrivateKey, w *Watchlist) {
	w.Signature = ed25519.Sign(key, watchlistMessage(*w))
}

// VerifyWatchlist checks w's signature with central's public key.
func VerifyWatchlist(pub ed25519.PublicKey, w Watchlist) error {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, watchlistMessage(w), w.Signature) {
		return fmt.Errorf("watchlist %q version %d: %w", w.Name, w.Version, ErrBadConfigSignature)
	}
	return nil
}

// DeviceStatus is what a device reports at each sync (PUT PathStatus), for
// the fleet view: the configuration it runs on and the state of its outbox.
type DeviceStatus struct {
	AppVersion string `json:"app_version,omitempty"`
	// ConfigVersion is the risk configuration version in use; 0 for the
	// built-in defaults, or, with LastError saying so, for a configuration
	// the device refuses (changed on disk since central signed it).
	ConfigVersion int64 `json:"config_version"`
	// Watchlists maps each list in use to its version.
	Watchlists map[string]int64 `json:"watchlists,omitempty"`
	// QueueDepth counts submissions not yet delivered (queued or
	// sending); Rejected those central refused, awaiting an operator.
	QueueDepth int `json:"queue_depth"`
	Rejected   int `json:"rejected"`
	// OldestQueued is when the oldest undelivered submission was queued.
	OldestQueued time.Time `json:"oldest_queued,omitzero"`
	// ClockOffsetMS is the device clock's offset from central's as the
	// agent last measured it (central minus device).
	ClockOffsetMS int64 `json:"clock_offset_ms"`
	// LastError is the last sync failure, in words, if any.
	LastError string `json:"last_error,omitempty"`
}

// DateOffset reads the Date header of central's answer and returns how far
// central's clock is ahead of local, the device's clock when the answer
// arrived (negative when the device is fast). Date has a resolution of one
// second and is truncated, so the middle of that second is taken; the
// error is under a second plus the time the answer spent on the way. ok is
// false when there is no parseable Date.
func DateOffset(h http.Header, local time.Time) (offset time.Duration, ok bool) {
	v := h.Get("Date")
	if v == "" {
		return 0, false
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return t.Add(500 * time.Millisecond).Sub(local), true
}
