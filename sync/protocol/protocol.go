// Package protocol is the wire protocol between devices and central: the
// request signature, the end-to-end payload encryption, the message types
// and the URL paths. Both the device agent and central import it, so the two
// sides cannot drift apart.
package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// Paths served by central to devices.
const (
	PathEnroll      = "/v1/enroll"
	PathConfig      = "/v1/config"
	PathSubmissions = "/v1/submissions/"
	PathWatchlists  = "/v1/watchlists/"
)

// Limits both sides enforce.
const (
	// MaxImages bounds the images of one submission.
	MaxImages = 32
	// MaxImageSize bounds one image.
	MaxImageSize = 64 << 20
	// MaxManifestSize bounds a sealed manifest (payload included).
	MaxManifestSize = 4 << 20
	// MaxChunkSize bounds the plaintext of one image chunk.
	MaxChunkSize = 4 << 20
	// DefaultChunkSize is the chunk size devices use: a typical 300 KB
	// capture goes up in one request, a 10 MB scan in ten.
	DefaultChunkSize = 1 << 20
)

// DeviceID derives a device's id from its Ed25519 public key: the first 16
// bytes of its SHA-256, in hex. Central never has to trust a claimed id.
func DeviceID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// SubmissionKey is a submission's idempotency key on the wire: a hash of its
// id, so that an id built from personal data is not exposed to a
// TLS-terminating proxy. Central dedupes on (device id, key); the id itself
// travels inside the sealed manifest.
func SubmissionKey(submissionID string) string {
	sum := sha256.Sum256([]byte("openkyc submission key v1\x00" + submissionID))
	return hex.EncodeToString(sum[:])
}

// ValidKey reports whether k has the shape of a SubmissionKey.
func ValidKey(k string) bool {
	if len(k) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(k)
	return err == nil
}

// ValidName reports whether name is acceptable as an image or watchlist
// name, which appears in URL paths and device file names: 1-64 bytes of letters, digits, '-', '_' and '.'.
func ValidName(name string) bool {
	if name == "" || len(name) > 64 || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// SubmissionPath is where a device PUTs a submission's sealed manifest.
func SubmissionPath(key string) string { return PathSubmissions + key }

// ImagePath is where a device PUTs the chunk of an image starting at offset.
func ImagePath(key, image string, offset int64) string {
	return PathSubmissions + key + "/images/" + url.PathEscape(image) + "?offset=" + strconv.FormatInt(offset, 10)
}

// WatchlistPath is where a device GETs a watchlist's contents.
func WatchlistPath(name string) string { return PathWatchlists + url.PathEscape(name) }

// Manifest is a submission as it travels to central, sealed to central's
// key: everything but the image bytes, which follow in chunks.
type Manifest struct {
	ID        string          `json:"id"`
	CreatedAt time.Time       `json:"created_at"`
	Payload   json.RawMessage `json:"payload"`
	Images    []ImageMeta     `json:"images,omitempty"`
}

// ImageMeta describes one image of a manifest.
type ImageMeta struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 []byte `json:"sha256"`
	// Key is the image's content key (see ContentKey); it travels only
	// inside the sealed manifest.
	Key []byte `json:"key"`
}

// Validate checks a decoded manifest.
func (m Manifest) Validate() error {
	switch {
	case m.ID == "" || len(m.ID) > 256 || !utf8.ValidString(m.ID):
		return fmt.Errorf("manifest: submission id must be 1-256 bytes of UTF-8")
	case !json.Valid(m.Payload):
		return fmt.Errorf("manifest: payload is not JSON")
	case m.CreatedAt.UTC().Year() < 0 || m.CreatedAt.UTC().Year() > 9999:
		// Central keeps and answers it in UTC as RFC 3339, which has
		// four-digit years: "9999-12-31T23:00:00-02:00" parses but could
		// be written nowhere (PostgreSQL would keep it, and every list
		// naming it would break).
		return fmt.Errorf("manifest: created_at %s is outside the years 0000-9999 in UTC", m.CreatedAt.Format(time.RFC3339))
	case len(m.Images) > MaxImages:
		return fmt.Errorf("manifest: %d images, at most %d", len(m.Images), MaxImages)
	}
	seen := make(map[string]bool, len(m.Images))
	for _, im := range m.Images {
		switch {
		case !ValidName(im.Name):
			return fmt.Errorf("manifest: invalid image name %q", im.Name)
		case seen[im.Name]:
			return fmt.Errorf("manifest: image %q listed twice", im.Name)
		case im.Size <= 0 || im.Size > MaxImageSize:
			return fmt.Errorf("manifest: image %q has size %d, want 1..%d", im.Name, im.Size, MaxImageSize)
		case len(im.SHA256) != sha256.Size:
			return fmt.Errorf("manifest: image %q has no SHA-256", im.Name)
		case len(im.Key) != ContentKeySize:
			return fmt.Errorf("manifest: image %q has no content key", im.Name)
		}
		seen[im.Name] = true
	}
	return nil
}

// UploadState is central's answer to a manifest or chunk upload: whether
// the submission is complete, and how many bytes of each image it holds, so
// an interrupted upload continues where it stopped.
type UploadState struct {
	Complete bool             `json:"complete"`
	Received map[string]int64 `json:"received,omitempty"`
	// Receipt names what central holds when it says Complete; a central
	// before receipts sends none.
	Receipt *Receipt `json:"receipt,omitempty"`
}

// Receipt is central's account of a complete submission: the device
// takes a submission as delivered (and shreds its images) only when the
// receipt names the submission and manifest it sent and every image.
// A bare "complete" cannot tell "received" from "closed and erased by
// retention before the images arrived": central answers both ways.
type Receipt struct {
	// Key is the submission key the receipt is for.
	Key string `json:"key"`
	// ManifestSHA256 is the SHA-256 of the manifest central holds (as
	// the device sealed it), which names each image's size and SHA-256;
	// central checked every image it holds whole against it.
	ManifestSHA256 []byte `json:"manifest_sha256"`
	// Images counts the manifest's images central holds whole.
	Images int `json:"images"`
	// ImagesErased says central's retention erased the images since;
	// Incomplete that it closed the upload before they had all arrived
	// (central never had them whole).
	ImagesErased bool `json:"images_erased,omitempty"`
	Incomplete   bool `json:"incomplete,omitempty"`
}

// EnrollRequest is the body of a device's enrolment. The request is signed
// with the key it enrols, which proves possession.
type EnrollRequest struct {
	Token      string            `json:"token"`
	PublicKey  ed25519.PublicKey `json:"public_key"`
	AppVersion string            `json:"app_version,omitempty"`
}

// EnrollResponse tells an enrolled device who it is to central and the key
// to seal payloads to.
type EnrollResponse struct {
	DeviceID      string `json:"device_id"`
	CentralBoxKey []byte `json:"central_box_key"` // X25519 public key, 32 bytes
	// CentralSignKey is the Ed25519 key central signs configuration and
	// watchlists with. The device checks both keys against the token's
	// fingerprint (CheckFingerprint) and pins them.
	CentralSignKey []byte `json:"central_sign_key"`
}

// Config is what devices down-sync: the risk configuration as an opaque JSON
// document, and the current version of each watchlist.
type Config struct {
	Version    int64           `json:"version"` // 0 when central has none
	Risk       json.RawMessage `json:"risk,omitempty"`
	Watchlists []Watchlist     `json:"watchlists"`
	// IssuedAt is central's clock when it signed this bundle.
	IssuedAt time.Time `json:"issued_at"`
	// Challenge is a nonce central issued for this device: attestations
	// made until the next refresh carry it (Attestation.Nonce), which
	// shows central they were made after it was issued.
	Challenge string `json:"challenge,omitempty"`
}

// Watchlist describes one watchlist file; its bytes are at WatchlistPath.
type Watchlist struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
	Size    int64  `json:"size"`
	SHA256  []byte `json:"sha256"`
	// Signature is central's Ed25519 signature over the fields above
	// (SignWatchlist).
	Signature []byte `json:"signature,omitempty"`
}

// Error is the JSON body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RequestID names the request in central's log, where the cause of
	// an internal error is recorded (it never reaches the client).
	RequestID string `json:"request_id,omitempty"`
}
