package central

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"slices"
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
	// ErrReplay means a request nonce was seen before, or a device
	// attestation is already claimed by another submission.
	ErrReplay = errors.New("central: nonce already used")
	// ErrConflict means a submission key arrived again with a different
	// manifest: the device reused a submission id for other content.
	ErrConflict = errors.New("central: submission already exists with different content")
	// ErrOffset means an image chunk does not start where the upload
	// stands; the UploadState returned with it says where that is.
	ErrOffset = errors.New("central: chunk offset does not continue the upload")
	// ErrErased means a submission key was erased (Eraser.DeleteSubmission,
	// Erasures.EraseSubmission) and may not be stored again: BeginSubmission
	// refuses it while the key's tombstone lasts (ExpireErased), so a device
	// resending what it sent before the erasure cannot bring it back.
	ErrErased = errors.New("central: submission was erased")
	// ErrRevoked means the device is revoked: BeginSubmission and
	// AppendChunk check it in the transaction that would write, so a
	// device revoked while its request was under way (after the handler's
	// own check) has nothing stored once the revocation has committed.
	ErrRevoked = errors.New("central: device revoked")
)

// Store is central's persistent state. Implementations must be safe for
// concurrent use, and those meant for several central instances (pgstore)
// must stay correct when instances share the store.
type Store interface {
	// CreateEnrollToken records a one-time enrolment token by its hash.
	CreateEnrollToken(ctx context.Context, t EnrollToken) error
	// Enroll consumes the token with hash tokenHash (it must exist, be
	// unused and not expired at d.EnrolledAt) and records d, atomically:
	// a token enrols at most one device. A token that device d (the same
	// id and public key, not revoked) redeemed already enrols it again
	// without a change: the device whose answer was lost asks again with
	// the key it kept, and would otherwise never learn central's keys.
	Enroll(ctx context.Context, tokenHash [sha256.Size]byte, d Device) error
	// Device returns an enrolled device.
	Device(ctx context.Context, id string) (Device, error)
	// Devices lists enrolled devices by enrolment time.
	Devices(ctx context.Context) ([]Device, error)
	// RevokeDevice marks a device revoked at at; revoking twice keeps the
	// first time.
	RevokeDevice(ctx context.Context, id string, at time.Time) error
	// SetDeviceBranch moves a device to another branch; ErrNotFound for
	// an unknown device.
	SetDeviceBranch(ctx context.Context, id, branch string) error
	// SetDeviceStatus records the status a device reported at at (its
	// last contact), and raises the device's NewestConfig to the status's
	// ConfigVersion, since at, when it is above it (or there is none);
	// ErrNotFound for an unknown device.
	SetDeviceStatus(ctx context.Context, id string, st protocol.DeviceStatus, at time.Time) error

	// UseNonce records a request nonce until expires; a nonce already
	// recorded for the device gives ErrReplay. now is the caller's clock,
	// against which expired nonces may be dropped.
	UseNonce(ctx context.Context, deviceID, nonce string, now, expires time.Time) error

	// BeginSubmission records a submission's manifest if its (device,
	// key) is new and returns the upload state. The same manifest again
	// returns the current state (a retry); a different one ErrConflict.
	// A submission without images is complete at once. created reports
	// whether this call recorded it. A key erased before whose tombstone
	// is not yet swept (ExpireErased) is ErrErased, and a device enrolled
	// and revoked ErrRevoked, both checked in the transaction that would
	// record it (a revocation committing meanwhile waits for it, or is
	// seen by it).
	BeginSubmission(ctx context.Context, s Submission) (st protocol.UploadState, created bool, err error)
	// OpenUploads counts a device's submissions received at since or later
	// whose images are still arriving (CompletedAt zero). Those retention
	// closed (ExpireImages) are complete and not counted.
	OpenUploads(ctx context.Context, deviceID string, since time.Time) (int, error)
	// Upload returns a submission's manifest and upload progress.
	Upload(ctx context.Context, deviceID, key string) (Submission, error)
	// AppendChunk appends image bytes at offset, which must equal the
	// bytes received so far (else ErrOffset with the current state). A
	// chunk that completes the last image completes the submission in the
	// same transaction. Callers check image hashes before the last chunk.
	// A device enrolled and revoked is ErrRevoked, checked in that
	// transaction as BeginSubmission checks it.
	AppendChunk(ctx context.Context, c Chunk) (protocol.UploadState, error)
	// ImageData returns the bytes received so far of one image, whole (up
	// to protocol.MaxImageSize): answers stream ImageChunks instead
	// (WriteImage); what must hold the image bounds how many do.
	ImageData(ctx context.Context, deviceID, key, image string) ([]byte, error)
	// ImageChunks calls yield with the bytes received so far of one
	// image, a stored chunk at a time in order, so a reader holds one
	// chunk rather than the image (checking its hash). It stops at the
	// first error yield returns, and returns it. The slice is valid only
	// during the call. ErrNotFound if the submission or image does not
	// exist. yield runs holding no transaction or connection of the store:
	// it writes to a client that may read slowly.
	ImageChunks(ctx context.Context, deviceID, key, image string, yield func([]byte) error) error
	// Submissions lists submissions matching f, oldest received first,
	// without payloads.
	Submissions(ctx context.Context, f Filter) ([]Submission, error)

	// PutRisk publishes a new risk configuration (opaque JSON) and returns
	// its version.
	PutRisk(ctx context.Context, doc json.RawMessage) (int64, error)
	// Risk returns the current risk configuration; version 0 when none.
	Risk(ctx context.Context) (json.RawMessage, int64, error)
	// RiskVersion returns the risk configuration published as version:
	// every version stays (a device's decision is judged by the bands it
	// was made under, synced days later). ErrNotFound for a version never
	// published, 0 (the built-in defaults, no document) among them.
	RiskVersion(ctx context.Context, version int64) (json.RawMessage, error)
	// Watchlists describes the current version of every watchlist.
	Watchlists(ctx context.Context) ([]protocol.Watchlist, error)
	// Watchlist returns the current version of a watchlist with its bytes.
	Watchlist(ctx context.Context, name string) (protocol.Watchlist, []byte, error)
	// OpenWatchlist returns the current version of a watchlist and a
	// reader of its bytes, which the caller closes. The reader holds a
	// slice of the list at a time, and keeps reading the version it
	// opened while a newer one is published.
	OpenWatchlist(ctx context.Context, name string) (protocol.Watchlist, io.ReadCloser, error)

	// ClaimAttestation records, until expires, that the device attestation
	// with hash h belongs to the device's submission key, durably (across
	// restarts and instances). Claiming the same (h, device, key) again
	// is no error (a resend); h claimed for anything else is ErrReplay.
	ClaimAttestation(ctx context.Context, deviceID string, h [sha256.Size]byte, key string, expires time.Time) error

	RiskProposals
	WatchlistProposals
	RiskServings
	ConfigServings
	ApprovalRoutes
	Eraser
	Erasures
	AuditLog
	KeyStore
	Reviews
	Users
	Partners
	Webhooks
	FlowEraser
	RateLimits

	Close() error
}

// Eraser removes personal data: a person's submissions on request, and
// each kind of data when its retention period ends (privacy.go).
type Eraser interface {
	// DeleteSubmission deletes a submission whole: its record, payload,
	// decision, images, wrapped data key and index tokens. Deleting the
	// wrapped data key is what shreds any copy of its ciphertext left in
	// the store's free pages or backups. ErrNotFound if it is absent.
	// In the same transaction it keeps the key's tombstone: the device id,
	// the submission key and when the submission was received (or
	// attested, if later: Submission.AttestedAt), nothing else, which
	// BeginSubmission refuses (ErrErased) until ExpireErased sweeps it; a
	// hosted flow's submission (IsHostedDevice) keeps none: no device
	// sends it, and a partner's session id used again names it again.
	DeleteSubmission(ctx context.Context, deviceID, key string) error
	// Expire applies the retention of one kind of data to at most limit
	// submissions received before before and returns how many it changed;
	// callers repeat it until it returns less than limit. at stamps the
	// change: ExpireImages deletes the images (and closes an upload still
	// open, so the device stops sending it), ExpireFields deletes the
	// payload and keeps the Decision, ExpireDecision deletes the
	// submission whole and keeps its tombstone as DeleteSubmission does
	// (a device holding it still, its answer lost or offline for long,
	// must not bring it back by sending it again). The partner kinds count records, not submissions:
	// ExpireWebhooks deletes webhook events created before before that
	// were delivered or given up (dead), with their attempts (one still
	// owed is kept); ExpireFlows deletes partner sessions whose life
	// (ExpiresAt) ended before before; ExpireErasures erasure records
	// that ended before before; ExpireErased the tombstones of erased
	// submissions received (or attested, if later) before before. A
	// submission whose review holds it back at at (Review.HoldsRetention:
	// a decision waiting for a second user, a live claim) keeps all three
	// submission kinds: it is passed over, taking no place in limit,
	// until the review is confirmed or declined or the claim ends, so a
	// case vanishes under no reviewer.
	Expire(ctx context.Context, kind DataKind, before, at time.Time, limit int) (int, error)
	// HoldRetention records which submissions Expire passes over at at:
	// for each kind of submission data in due, those received before
	// due[kind] and held back by their review (Review.HoldsRetention).
	// It returns how many of each kind in due are held, and how many
	// submissions' held kinds changed since the last call (held anew,
	// held for other kinds, or let go): for each of these, in the same
	// transaction, it records the new kinds and appends audit(change), so
	// the trail says once that a case is held, not at every sweep.
	HoldRetention(ctx context.Context, due map[DataKind]time.Time, at time.Time, audit func(HeldChange) AuditEvent) (held map[DataKind]int, changed int, err error)
	// PutRetention records the retention policy.
	PutRetention(ctx context.Context, p RetentionPolicy) error
	// Retention returns the retention policy; the zero policy (keep
	// everything) when none was recorded.
	Retention(ctx context.Context) (RetentionPolicy, error)
}

// HeldChange is a submission whose data retention holds back changed
// (Eraser.HoldRetention): the kinds held before and after, in
// HeldKinds' order; none after when it was let go.
type HeldChange struct {
	Ref           SubmissionRef
	Before, After []DataKind
}

// HeldKinds are the kinds of data retention may hold back: a
// submission's.
var HeldKinds = []DataKind{ExpireImages, ExpireFields, ExpireDecision}

// AuditLog is central's audit trail: privacy operations and every console
// action, in one hash chain (AuditEvent).
type AuditLog interface {
	// AppendAudit records an event.
	AppendAudit(ctx context.Context, e AuditEvent) error
	// Audit lists events matching f, oldest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// DeleteAuditBefore deletes events older than before (the audit's own
	// retention) and returns how many; the Seq and Hash of the last one
	// deleted become the chain's anchor.
	DeleteAuditBefore(ctx context.Context, before time.Time) (int, error)
	// AuditAnchor returns where the stored chain starts: the Seq and Hash
	// of the last event deleted by retention; 0 and nil when none was.
	AuditAnchor(ctx context.Context) (seq int64, hash []byte, err error)
}

// KeyStore is what key rotation needs: the wrapped data keys, rewrapped in
// place (images and payloads are not touched).
type KeyStore interface {
	// StaleKeys returns up to limit sealed submissions after cursor (in
	// device, key order) whose data key is wrapped by a key-encryption key
	// other than keyID.
	StaleKeys(ctx context.Context, keyID string, after SubmissionRef, limit int) ([]WrappedKey, error)
	// Rewrap applies, in one transaction, each rewrapping whose submission
	// still holds the Old wrapped key, and returns how many it applied (the
	// others were erased or rewrapped meanwhile).
	Rewrap(ctx context.Context, rs []Rewrapping) (int, error)
	// KeyUsage counts submissions by the key-encryption key wrapping their
	// data key; "" counts those stored without encryption.
	KeyUsage(ctx context.Context) (map[string]int, error)
	// KeyCheck returns the store's key check record (seal.CheckKeys: what
	// shows, without a submission, which keyring the store is sealed
	// under), opaque to the store; nil when none was stored.
	KeyCheck(ctx context.Context) ([]byte, error)
	// SwapKeyCheck stores rec as the key check record if the one stored is
	// old (nil: none), and reports whether it did: instances starting at
	// once, or one noting a new key while a rotation rewrites the record,
	// do not overwrite each other's.
	SwapKeyCheck(ctx context.Context, old, rec []byte) (bool, error)
}

// DataKind is a kind of data with its own retention period.
type DataKind string

// Kinds of data retention applies to.
const (
	// ExpireImages is a submission's image bytes.
	ExpireImages DataKind = "images"
	// ExpireFields is the payload: the fields extracted from the document
	// and everything else the device sent besides the Decision.
	ExpireFields DataKind = "fields"
	// ExpireDecision is what is left: the decision, score and reason codes
	// and the submission's record itself.
	ExpireDecision DataKind = "decision"
	// ExpireAudit is the audit trail.
	ExpireAudit DataKind = "audit"
	// ExpireWebhooks is the partners' webhook events and their delivery
	// attempts, from when the event was created.
	ExpireWebhooks DataKind = "webhooks"
	// ExpireFlows is the partners' sessions (hosted or kiosk flows), from
	// when the session's life ended.
	ExpireFlows DataKind = "flows"
	// ExpireErasures is the records of erasures on request that ended,
	// from their end; kept as long as the audit trail (AuditDays).
	ExpireErasures DataKind = "erasures"
	// ExpireErased is the tombstones of submissions erased on request or
	// deleted by retention (ErrErased), from when the submission was
	// received or attested, whichever is later (Submission.AttestedAt).
	// No policy sets it: the sweep keeps each as long as the device could
	// resend the submission and have it accepted, Config.MaxAttestationAge
	// and MaxSkew after that (privacy.go).
	ExpireErased DataKind = "erased-keys"
)

// RetentionPolicy says how long each kind of data is kept after a
// submission is received (the partners' records: from when their DataKind
// says); zero keeps it until erased on request.
type RetentionPolicy struct {
	ImagesDays   int `json:"images_days"`
	FieldsDays   int `json:"fields_days"`
	DecisionDays int `json:"decision_days"`
	AuditDays    int `json:"audit_days"`
	WebhooksDays int `json:"webhooks_days"`
	FlowsDays    int `json:"flows_days"`
}

// MaxRetentionDays bounds every period of a RetentionPolicy (100 years).
const MaxRetentionDays = 36525

// Validate checks every period is within 0..MaxRetentionDays.
func (p RetentionPolicy) Validate() error {
	for _, d := range []int{p.ImagesDays, p.FieldsDays, p.DecisionDays, p.AuditDays, p.WebhooksDays, p.FlowsDays} {
		if d < 0 || d > MaxRetentionDays {
			return errors.New("retention periods are whole days from 0 (keep) to 36525")
		}
	}
	return nil
}

// Days returns the period of kind in days.
func (p RetentionPolicy) Days(kind DataKind) int {
	switch kind {
	case ExpireImages:
		return p.ImagesDays
	case ExpireFields:
		return p.FieldsDays
	case ExpireDecision:
		return p.DecisionDays
	case ExpireAudit, ExpireErasures:
		return p.AuditDays
	case ExpireWebhooks:
		return p.WebhooksDays
	case ExpireFlows:
		return p.FlowsDays
	}
	return 0
}

// AuditEvent is one entry of the audit trail: who did what, when, to how
// many submissions, and for console actions the case or account it
// changed with its state before and after. Privacy operations carry no
// name, NIK, document number or submission id: their Refs are opaque ids
// of the operation (a request id).
//
// The trail is a hash chain: the store gives each event the next Seq, the
// Hash of the event before it as Prev, and its own Hash (AuditHash), in the
// transaction that appends it. VerifyAuditChain recomputes it, so an entry
// changed, removed or inserted in the store is found.
type AuditEvent struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Count  int       `json:"count"`
	Refs   []string  `json:"refs,omitempty"`
	// Subject is what a console action changed: "case:<device>/<key>",
	// "user:<name>", "device:<id>", "watchlist:<name>", "risk".
	Subject string `json:"subject,omitempty"`
	// Before and After are the subject's state around the change (JSON),
	// kept byte for byte as given.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	Seq    int64           `json:"seq"`
	Prev   []byte          `json:"prev,omitempty"`
	Hash   []byte          `json:"hash,omitempty"`

	// sealer signs a checkpoint's state when ChainAudit chains it.
	sealer *auditSealer
}

// AuditFilter selects audit events. Zero fields match everything.
type AuditFilter struct {
	After  time.Time // inclusive
	Before time.Time // exclusive
	Action string
	Actor  string
	// Subject matches a subject exactly, or every subject under a prefix
	// ending in ":" or "/".
	Subject string
	// AfterSeq keeps events whose Seq is greater (paging through the chain).
	AfterSeq int64
	// Limit caps the result; zero or above MaxListLimit means MaxListLimit.
	Limit int
}

// SubmissionRef names a submission.
type SubmissionRef struct {
	DeviceID, Key string
}

// WrappedKey is a submission's data key as stored: wrapped by the
// key-encryption key KeyID.
type WrappedKey struct {
	SubmissionRef
	KeyID   string
	Wrapped []byte
}

// Rewrapping replaces a submission's wrapped data key: Old as StaleKeys
// listed it, Wrapped the same data key wrapped by KEK KeyID.
type Rewrapping struct {
	Old     WrappedKey
	KeyID   string
	Wrapped []byte
}

// Seal is what seal.Store keeps beside a submission it encrypted; the
// stores persist it opaquely.
type Seal struct {
	// KeyID names the key-encryption key that wrapped Key.
	KeyID string
	// Key is the submission's data key, wrapped.
	Key []byte
	// Tokens are the submission's blind-index tokens (keyed hashes of the
	// person's NIK, document number and name) that Filter.Tokens selects
	// by.
	Tokens [][]byte
}

// EnrollToken is a stored enrolment token; only its hash is kept.
type EnrollToken struct {
	Hash      [sha256.Size]byte
	CreatedAt time.Time
	ExpiresAt time.Time
	// Branch is the branch (or region) the device it enrols belongs to;
	// Enroll gives it to the device.
	Branch string
}

// Chunk is a slice of an image's plaintext arriving at central.
type Chunk struct {
	DeviceID, Key, Image string
	Offset               int64
	Data                 []byte
	// Len is how many image bytes Data stands for, when the store is given
	// them sealed (seal.Store); zero means len(Data). Offsets and sizes
	// count image bytes, whatever the stored form.
	Len int64
	At  time.Time // arrival; completes the submission if last
}

// Size is the number of image bytes c carries.
func (c Chunk) Size() int64 {
	if c.Len > 0 {
		return c.Len
	}
	return int64(len(c.Data))
}

// Device is an enrolled device.
type Device struct {
	ID         string `json:"id"`
	PublicKey  []byte `json:"public_key"`
	AppVersion string `json:"app_version,omitempty"`
	// Branch is the branch or region the device works for (from its
	// enrolment token, or set by an admin): console scopes select by it.
	Branch     string    `json:"branch,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	// LastSeen is when the device last reported its Status.
	LastSeen time.Time              `json:"last_seen,omitzero"`
	Status   *protocol.DeviceStatus `json:"status,omitempty"`
	// NewestConfig is the newest risk configuration its statuses
	// reported in use; nil before the first status recorded since
	// central kept it.
	NewestConfig *ConfigReported `json:"newest_config,omitempty"`
}

// ConfigReported is a risk configuration version a device's status
// reported in use, and when central first received that report: the
// device had installed it by then (doubtRollback).
type ConfigReported struct {
	Version int64     `json:"version"`
	Since   time.Time `json:"since"`
}

// Raise returns the NewestConfig after a status reporting version at at.
func (c *ConfigReported) Raise(version int64, at time.Time) *ConfigReported {
	if c != nil && c.Version >= version {
		return c
	}
	return &ConfigReported{Version: version, Since: at.UTC()}
}

// Revoked reports whether the device has been revoked.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// Submission is a submission as central stores it.
type Submission struct {
	DeviceID     string    `json:"device_id"`
	Key          string    `json:"key"` // protocol.SubmissionKey(ID)
	ID           string    `json:"id"`
	ManifestHash []byte    `json:"manifest_hash"` // SHA-256 of the decrypted manifest
	CreatedAt    time.Time `json:"created_at"`
	ReceivedAt   time.Time `json:"received_at"`
	CompletedAt  time.Time `json:"completed_at,omitzero"` // zero while images are arriving
	Verdict      string    `json:"verdict"`               // the device attestation's verdict
	// AttestationFresh records whether the attestation signed a challenge
	// central issued to the device within the freshness window.
	AttestationFresh bool `json:"attestation_fresh"`
	// AttestedAt is the latest time the attestation is known to have been
	// made after (its report's time, or the issue of the challenge it
	// signs when later): central accepts it again until MaxAttestationAge
	// after that, which for a report dated ahead of central's clock is
	// later than its receipt. Zero for submissions stored before it was
	// kept. A tombstone lasts from the later of this and ReceivedAt
	// (ExpireErased).
	AttestedAt time.Time       `json:"attested_at,omitzero"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	// Summary is the payload's non-personal part the review queue filters
	// by (Summarize), kept in the clear; nil for submissions stored before
	// it existed.
	Summary *Summary `json:"summary,omitempty"`
	// Decision is the part of the payload kept once the extracted fields
	// expire: the decision, score and reason codes (seal.Store derives it
	// from the payload; nil for a submission stored without it).
	Decision json.RawMessage `json:"decision,omitempty"`
	Images   []ImageProgress `json:"images,omitempty"`
	// FieldsErasedAt and ImagesErasedAt are when retention removed the
	// payload and the images.
	FieldsErasedAt time.Time `json:"fields_erased_at,omitzero"`
	ImagesErasedAt time.Time `json:"images_erased_at,omitzero"`
	// Seal is the wrapped data key and index tokens of a submission stored
	// encrypted; nil otherwise. It never leaves central.
	Seal *Seal `json:"-"`
}

// TombstoneFrom is when the tombstone of s, erased or deleted, starts
// to age (ExpireErased): the later of its receipt and AttestedAt.
func (s Submission) TombstoneFrom() time.Time {
	if s.AttestedAt.After(s.ReceivedAt) {
		return s.AttestedAt
	}
	return s.ReceivedAt
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
	// Tokens keeps only submissions carrying every one of these
	// blind-index tokens (see Seal.Tokens).
	Tokens [][]byte
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
	for _, t := range f.Tokens {
		if s.Seal == nil || !slices.ContainsFunc(s.Seal.Tokens, func(u []byte) bool { return bytes.Equal(t, u) }) {
			return false
		}
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
