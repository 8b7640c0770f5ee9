package central

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"

	"github.com/openkyc/kyc/sync/protocol"
)

// Store errors. Every Store implementation returns these (wrapped), and the
// conformance suite in package storetest checks that they do.
var (
	// ErrNotFound means the device, submission, image or watchlist does
	// not exist.
	ErrNotFound = errors.New("central: not found")
	// ErrTokenInvalid means an enrolment token is unknown, expired or used.
	ErrTokenInvalid = errors.New("central: enrolment token unknown, expired or already used")
	// ErrDeviceExists means a device with that id is already enrolled.
	ErrDeviceExists = errors.New("central: device already enrolled")
	// ErrReplay means a request nonce was seen before.
	ErrReplay = errors.New("central: nonce already used")
	// ErrConflict means a submission key arrived again with a different
	// manifest: the device reused a submission id for other content.
	ErrConflict = errors.New("central: submission already exists with different content")
	// ErrOffset means an image chunk does not start where the upload
	// stands; the UploadState returned with it says where that is.
	ErrOffset = errors.New("central: chunk offset does not continue the upload")
)

// Store is central's persistent state. Implementations must be safe for
// concurrent use, and those meant for several central instances (pgstore)
// must stay correct when instances share the store.
type Store interface {
	// CreateEnrollToken records a one-time enrolment token by its hash.
	CreateEnrollToken(ctx context.Context, t EnrollToken) error
	// Enroll consumes the token with hash tokenHash (it must exist, be
	// unused and not expired at d.EnrolledAt) and records d, atomically:
	// a token enrols at most one device.
	Enroll(ctx context.Context, tokenHash [sha256.Size]byte, d Device) error
	// Device returns an enrolled device.
	Device(ctx context.Context, id string) (Device, error)
	// Devices lists enrolled devices by enrolment time.
	Devices(ctx context.Context) ([]Device, error)
	// RevokeDevice marks a device revoked at at; revoking twice keeps the
	// first time.
	RevokeDevice(ctx context.Context, id string, at time.Time) error
	// SetDeviceStatus records the status a device reported at at (its
	// last contact); ErrNotFound for an unknown device.
	SetDeviceStatus(ctx context.Context, id string, st protocol.DeviceStatus, at time.Time) error

	// UseNonce records a request nonce until expires; a nonce already
	// recorded for the device gives ErrReplay. now is the caller's clock,
	// against which expired nonces may be dropped.
	UseNonce(ctx context.Context, deviceID, nonce string, now, expires time.Time) error

	// BeginSubmission records a submission's manifest if its (device,
	// key) is new and returns the upload state. The same manifest again
	// returns the current state (a retry); a different one ErrConflict.
	// A submission without images is complete at once. created reports
	// whether this call recorded it.
	BeginSubmission(ctx context.Context, s Submission) (st protocol.UploadState, created bool, err error)
	// Upload returns a submission's manifest and upload progress.
	Upload(ctx context.Context, deviceID, key string) (Submission, error)
	// AppendChunk appends image bytes at offset, which must equal the
	// bytes received so far (else ErrOffset with the current state). A
	// chunk that completes the last image completes the submission in the
	// same transaction. Callers check image hashes before the last chunk.
	AppendChunk(ctx context.Context, c Chunk) (protocol.UploadState, error)
	// ImageData returns the bytes received so far of one image.
	ImageData(ctx context.Context, deviceID, key, image string) ([]byte, error)
	// Submissions lists submissions matching f, oldest received first,
	// without payloads.
	Submissions(ctx context.Context, f Filter) ([]Submission, error)

	// PutRisk publishes a new risk configuration (opaque JSON) and returns
	// its version.
	PutRisk(ctx context.Context, doc json.RawMessage) (int64, error)
	// Risk returns the current risk configuration; version 0 when none.
	Risk(ctx context.Context) (json.RawMessage, int64, error)
	// PutWatchlist publishes a new version of a watchlist file.
	PutWatchlist(ctx context.Context, name string, data []byte) (protocol.Watchlist, error)
	// Watchlists describes the current version of every watchlist.
	Watchlists(ctx context.Context) ([]protocol.Watchlist, error)
	// Watchlist returns the current version of a watchlist with its bytes.
	Watchlist(ctx context.Context, name string) (protocol.Watchlist, []byte, error)

	Close() error
}

// EnrollToken is a stored enrolment token; only its hash is kept.
type EnrollToken struct {
	Hash      [sha256.Size]byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Chunk is a slice of an image's plaintext arriving at central.
type Chunk struct {
	DeviceID, Key, Image string
	Offset               int64
	Data                 []byte
	At                   time.Time // arrival; completes the submission if last
}

// Device is an enrolled device.
type Device struct {
	ID         string    `json:"id"`
	PublicKey  []byte    `json:"public_key"`
	AppVersion string    `json:"app_version,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	// LastSeen is when the device last reported its Status.
	LastSeen time.Time              `json:"last_seen,omitzero"`
	Status   *protocol.DeviceStatus `json:"status,omitempty"`
}

// Revoked reports whether the device has been revoked.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// Submission is a submission as central stores it.
type Submission struct {
	DeviceID     string          `json:"device_id"`
	Key          string          `json:"key"` // protocol.SubmissionKey(ID)
	ID           string          `json:"id"`
	ManifestHash []byte          `json:"manifest_hash"` // SHA-256 of the decrypted manifest
	CreatedAt    time.Time       `json:"created_at"`
	ReceivedAt   time.Time       `json:"received_at"`
	CompletedAt  time.Time       `json:"completed_at,omitzero"` // zero while images are arriving
	Verdict      string          `json:"verdict"`               // the device attestation's verdict
	// AttestationFresh records whether the attestation signed a challenge
	// central issued to the device within the freshness window.
	AttestationFresh bool `json:"attestation_fresh"`
	Payload      json.RawMessage `json:"payload,omitempty"`
	Images       []ImageProgress `json:"images,omitempty"`
}

// ImageProgress is one image of a stored submission.
type ImageProgress struct {
	protocol.ImageMeta
	Received int64 `json:"received"`
}

// State returns the upload state of s.
func (s Submission) State() protocol.UploadState {
	st := protocol.UploadState{Complete: !s.CompletedAt.IsZero()}
	if len(s.Images) > 0 {
		st.Received = make(map[string]int64, len(s.Images))
		for _, im := range s.Images {
			st.Received[im.Name] = im.Received
		}
	}
	return st
}

// Image returns the named image's progress.
func (s Submission) Image(name string) (ImageProgress, bool) {
	for _, im := range s.Images {
		if im.Name == name {
			return im, true
		}
	}
	return ImageProgress{}, false
}

// Filter selects submissions for listing. Zero fields match everything.
type Filter struct {
	DeviceID       string
	ReceivedAfter  time.Time // inclusive
	ReceivedBefore time.Time // exclusive
	// Complete, when not nil, keeps only complete (true) or only
	// still-uploading (false) submissions.
	Complete *bool
	Verdict  string
	// Limit caps the result; zero or above MaxListLimit means MaxListLimit.
	Limit int
}

// MaxListLimit caps one listing.
const MaxListLimit = 1000

// Match reports whether s passes the filter (Limit aside), for stores that
// filter in Go.
func (f Filter) Match(s Submission) bool {
	switch {
	case f.DeviceID != "" && s.DeviceID != f.DeviceID,
		!f.ReceivedAfter.IsZero() && s.ReceivedAt.Before(f.ReceivedAfter),
		!f.ReceivedBefore.IsZero() && !s.ReceivedAt.Before(f.ReceivedBefore),
		f.Complete != nil && *f.Complete != !s.CompletedAt.IsZero(),
		f.Verdict != "" && s.Verdict != f.Verdict:
		return false
	}
	return true
}

// EffectiveLimit is f.Limit clamped to 1..MaxListLimit.
func (f Filter) EffectiveLimit() int {
	if f.Limit <= 0 || f.Limit > MaxListLimit {
		return MaxListLimit
	}
	return f.Limit
}
