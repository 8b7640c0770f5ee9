// Package boltstore is central's embedded store, the default: one bbolt
// file, one central instance (bbolt locks the file to one process).
// Everything is in the file, request nonces and rate limits too, so a
// restart forgets nothing (nonces.go, ratelimit.go).
//
// The file carries a format version (FormatVersion, in the meta bucket,
// written by Open in the transaction that creates the buckets). Open, and
// Inspect with it backup and restore, refuse a file of a newer version
// (ErrNewerFormat): an older build would serve it while ignoring buckets
// and fields it does not know, an erasure or a hold among them. Bump
// FormatVersion with a change an older build would misread or silently
// drop: a new bucket or record that must be honoured (erasures, holds,
// anything that restricts what is served or kept), a field whose absence
// changes a meaning, a new sealing or encoding of a value. A change an
// older build reads rightly by ignoring it (an index it rebuilds, a
// cache) needs no bump. Open's upgrades bring an older file forward and
// write the new version.
package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

var (
	bucketDevices    = []byte("devices")
	bucketTokens     = []byte("tokens")
	bucketSubs       = []byte("submissions")
	bucketPayloads   = []byte("payloads")
	bucketDecisions  = []byte("decisions")
	bucketSeals      = []byte("seals") // subKey -> sealRecord
	bucketIndex      = []byte("index") // token + subKey -> nil
	bucketChunks     = []byte("chunks")
	bucketMeta       = []byte("meta")
	bucketWatchlists = []byte("watchlists")
	bucketWLData     = []byte("watchlist-data")
	bucketAudit      = []byte("audit")                  // legacy, before the chain: at (unix ns) + sequence -> AuditEvent
	bucketChain      = []byte("audit-chain")            // seq -> auditRecord
	bucketAuditBy    = []byte("audit-by")               // auditByKey -> nil: the chain by actor and by action
	bucketWLChunks   = []byte("watchlist-chunks")       // upload id + sequence -> up to watchlistChunk bytes
	bucketClaims     = []byte("attestation-claims")     // attestation hash -> claimRecord
	bucketClaimsDue  = []byte("attestation-claims-due") // expiry (timeKey) + hash -> nil
	// Retention queues: received-at (unix ns) + subKey -> nil, one per kind
	// of data, an entry removed once its retention is applied, so a sweep
	// reads only what is due.
	bucketDueImages   = []byte("due-images")
	bucketDueFields   = []byte("due-fields")
	bucketDueDecision = []byte("due-decision")
	// The review console's buckets (review.go, users.go).
	bucketQueue     = []byte("review-queue")   // received-at (unix ns) + subKey -> queueEntry, complete submissions only
	bucketQueueN    = []byte("review-queue-n") // state NUL decision -> how many queue entries (uint64)
	bucketReviews   = []byte("reviews")        // subKey -> Review
	bucketReviewSeq = []byte("review-changes") // review seq -> subKey, the last change of each review
	bucketUsers     = []byte("users")          // name -> User
	bucketSessions  = []byte("console-sessions")
	// The log of completions (Completed): completed seq -> subKey, and
	// subKey -> completed seq.
	bucketCompleted    = []byte("completed")
	bucketCompletedSeq = []byte("completed-seqs")
	allBuckets         = append([][]byte{bucketDevices, bucketTokens, bucketSubs, bucketPayloads, bucketDecisions, bucketSeals, bucketIndex,
		bucketChunks, bucketMeta, bucketWatchlists, bucketWLData, bucketChain, bucketAuditBy, bucketDueImages, bucketDueFields, bucketDueDecision,
		bucketWLChunks, bucketClaims, bucketClaimsDue, bucketQueue, bucketQueueN, bucketReviews, bucketReviewSeq, bucketUsers, bucketSessions,
		bucketCompleted, bucketCompletedSeq, bucketRiskProposal, bucketWLProposals, bucketRiskServed, bucketConfigServed, bucketRetentionHeld}, slices.Concat(partnerBuckets, erasureBuckets, erasedBuckets)...)
	keyRisk       = []byte("risk")
	keyRetention  = []byte("retention")
	keyQueues     = []byte("retention-queues") // set once the queues hold every submission
	keyReviewQ    = []byte("review-queue")     // set once the review queue holds every complete submission
	keyReviewQN   = []byte("review-queue-n")   // set once review-queue-n counts every entry of the review queue
	keyAnchor     = []byte("audit-anchor")     // auditAnchor
	keyAuditBy    = []byte("audit-by")         // set once audit-by indexes every event of the chain
	keyEventsDone = []byte("webhook-done")     // set once webhook-done holds every delivered or dead event
	keyCompleted  = []byte("completed-log")    // set once the completed log numbers every complete submission
	keyFormat     = []byte("format-version")   // FormatVersion of the file, 8 bytes big-endian; absent is version 1
	keyKeyCheck   = []byte("key-check")        // the key check record (central.KeyStore.KeyCheck), opaque
)

// FormatVersion is the store file format this build writes and reads
// (the package doc says when to bump it). A file without one is version 1,
// the format before it was recorded.
//
// Version 2 adds the tombstones of erased submissions (erased.go): a
// build before it would store an erased submission again.
const FormatVersion = 2

// ErrNewerFormat means the store file was written by a newer release, in
// a format version above this build's FormatVersion: this build would
// misread it or silently ignore what it does not know (an erasure, a
// hold), so it neither serves nor restores it. Run the release that wrote
// it.
var ErrNewerFormat = errors.New("boltstore: the store file was written by a newer release")

// formatVersion reads the file's format version from the meta bucket
// (nil: no meta bucket yet, a new file): 1 when unrecorded.
func formatVersion(meta *bbolt.Bucket) (uint64, error) {
	if meta == nil {
		return FormatVersion, nil
	}
	v := meta.Get(keyFormat)
	if v == nil {
		return 1, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("reading the store's format version: %d bytes, not 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// checkFormat refuses a file whose format is newer than this build's.
func checkFormat(tx *bbolt.Tx) error {
	v, err := formatVersion(tx.Bucket(bucketMeta))
	if err != nil {
		return err
	}
	if v > FormatVersion {
		return fmt.Errorf("%w: its format version is %d, this build's %d", ErrNewerFormat, v, FormatVersion)
	}
	return nil
}

// Store is a bbolt-backed central.Store.
type Store struct {
	db *bbolt.DB

	// nonces counts UseNonce calls, budgets SpendBudget calls, for
	// sweeping.
	nonces, budgets atomic.Int64

	// idemBusy holds the Idempotency-Keys whose fn is running, closed
	// when it returns (Idempotent).
	idemMu   sync.Mutex
	idemBusy map[string]chan struct{}
}

var _ central.Store = (*Store)(nil)

// Open opens (creating if needed, mode 0600) the store file at path.
func Open(path string) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("opening central store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		servedCreated := tx.Bucket(bucketConfigServed) == nil
		// Before anything is created or upgraded: a newer release's file
		// is left as it is.
		if err := checkFormat(tx); err != nil {
			return err
		}
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		// Each open upgrades a file an older release wrote (every step a
		// no-op once done) and tidies what a stop left (leases, uploads).
		for _, upgrade := range []func(*bbolt.Tx) error{
			fillRetentionQueues,
			fillReviewQueue,
			countReviewQueue,
			chainLegacyAudit,
			fillAuditBy,
			holdDisabledLanes,
			fillEventsDone,
			fillCompletedLog,
			fillRiskHistory,
			fillErasureIndexes,
			func(tx *bbolt.Tx) error { return fillConfigServed(tx, servedCreated, time.Now()) },
			resetLeases,
			dropOrphanUploads,
		} {
			if err := upgrade(tx); err != nil {
				return err
			}
		}
		// A new file, or one upgraded above, is now this build's format.
		return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint64(nil, FormatVersion))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising central store %s: %w", path, err)
	}
	return &Store{db: db, idemBusy: make(map[string]chan struct{})}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

type tokenRecord struct {
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	DeviceID  string    `json:"device_id,omitempty"`
	Branch    string    `json:"branch,omitempty"`
}

func put(b *bbolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func get(b *bbolt.Bucket, k []byte, v any) error {
	data := b.Get(k)
	if data == nil {
		return central.ErrNotFound
	}
	return json.Unmarshal(data, v)
}

// CreateEnrollToken implements central.Store.
func (s *Store) CreateEnrollToken(ctx context.Context, t central.EnrollToken) error {
	return s.update(ctx, "creating enrolment token", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get(t.Hash[:]) != nil {
			return fmt.Errorf("token already exists")
		}
		return put(b, t.Hash[:], tokenRecord{CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, Branch: t.Branch})
	})
}

// Enroll implements central.Store.
func (s *Store) Enroll(ctx context.Context, tokenHash [sha256.Size]byte, d central.Device) error {
	return s.update(ctx, "enrolling device", func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bucketTokens)
		var t tokenRecord
		if err := get(tb, tokenHash[:], &t); err != nil {
			if errors.Is(err, central.ErrNotFound) {
				return central.ErrTokenInvalid
			}
			return err
		}
		db := tx.Bucket(bucketDevices)
		if !t.UsedAt.IsZero() && t.DeviceID == d.ID {
			// The device that redeemed it asks again (its answer was
			// lost): enrolled already, unless revoked or another key.
			var cur central.Device
			if err := get(db, []byte(d.ID), &cur); err == nil && bytes.Equal(cur.PublicKey, d.PublicKey) && !cur.Revoked() {
				return nil
			} else if err != nil && !errors.Is(err, central.ErrNotFound) {
				return err
			}
		}
		if !t.UsedAt.IsZero() || !d.EnrolledAt.Before(t.ExpiresAt) {
			return central.ErrTokenInvalid
		}
		if db.Get([]byte(d.ID)) != nil {
			return central.ErrDeviceExists
		}
		t.UsedAt, t.DeviceID = d.EnrolledAt, d.ID
		if d.Branch == "" {
			d.Branch = t.Branch
		}
		if err := put(tb, tokenHash[:], t); err != nil {
			return err
		}
		return put(db, []byte(d.ID), d)
	})
}

// Device implements central.Store.
func (s *Store) Device(ctx context.Context, id string) (central.Device, error) {
	var d central.Device
	err := s.view(ctx, "reading device", func(tx *bbolt.Tx) error {
		return get(tx.Bucket(bucketDevices), []byte(id), &d)
	})
	return d, err
}

// Devices implements central.Store.
func (s *Store) Devices(ctx context.Context) ([]central.Device, error) {
	var out []central.Device
	err := s.view(ctx, "listing devices", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(_, v []byte) error {
			var d central.Device
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b central.Device) int {
		return cmp.Or(a.EnrolledAt.Compare(b.EnrolledAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// RevokeDevice implements central.Store.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	return s.update(ctx, "revoking device", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		var d central.Device
		if err := get(b, []byte(id), &d); err != nil {
			return err
		}
		if d.Revoked() {
			return nil
		}
		d.RevokedAt = at
		return put(b, []byte(id), d)
	})
}

// SetDeviceBranch implements central.Store.
func (s *Store) SetDeviceBranch(ctx context.Context, id, branch string) error {
	return s.update(ctx, "moving device", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		var d central.Device
		if err := get(b, []byte(id), &d); err != nil {
			return err
		}
		d.Branch = branch
		return put(b, []byte(id), d)
	})
}

// SetDeviceStatus implements central.Store.
func (s *Store) SetDeviceStatus(ctx context.Context, id string, st protocol.DeviceStatus, at time.Time) error {
	return s.update(ctx, "recording device status", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		var d central.Device
		if err := get(b, []byte(id), &d); err != nil {
			return err
		}
		d.Status, d.LastSeen = &st, at
		d.NewestConfig = d.NewestConfig.Raise(st.ConfigVersion, at)
		return put(b, []byte(id), d)
	})
}

func subKey(deviceID, key string) []byte { return []byte(deviceID + "\x00" + key) }

func chunkPrefix(deviceID, key, image string) []byte {
	return []byte(deviceID + "\x00" + key + "\x00" + image + "\x00")
}

// sealRecord is a central.Seal as stored.
type sealRecord struct {
	KeyID  string   `json:"key_id"`
	Key    []byte   `json:"key"`
	Tokens [][]byte `json:"tokens,omitempty"`
}

func dueKey(received time.Time, k []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(received.UnixNano())), k...)
}

func indexKey(token, k []byte) []byte { return append(bytes.Clone(token), k...) }

// BeginSubmission implements central.Store.
func (s *Store) BeginSubmission(ctx context.Context, sub central.Submission) (protocol.UploadState, bool, error) {
	var st protocol.UploadState
	var created bool
	err := s.batch(ctx, "recording submission", func(tx *bbolt.Tx) (err error) {
		st, created, err = beginSubmission(tx, sub)
		return err
	})
	return st, created, err
}

// checkNotRevoked is central.ErrRevoked if device id is enrolled and
// revoked, read inside the transaction that writes its upload: bolt's one
// writer orders it against RevokeDevice.
func checkNotRevoked(tx *bbolt.Tx, id string) error {
	var d central.Device
	switch err := get(tx.Bucket(bucketDevices), []byte(id), &d); {
	case errors.Is(err, central.ErrNotFound):
		return nil // central authenticated it; storetest writes without enrolling
	case err != nil:
		return err
	case d.Revoked():
		return central.ErrRevoked
	}
	return nil
}

// beginSubmission is BeginSubmission inside tx.
func beginSubmission(tx *bbolt.Tx, sub central.Submission) (st protocol.UploadState, created bool, err error) {
	if err := checkNotRevoked(tx, sub.DeviceID); err != nil {
		return st, false, err
	}
	k := subKey(sub.DeviceID, sub.Key)
	if erased(tx, k) {
		return st, false, central.ErrErased
	}
	b := tx.Bucket(bucketSubs)
	var cur central.Submission
	switch err := get(b, k, &cur); {
	case err == nil:
		if !bytes.Equal(cur.ManifestHash, sub.ManifestHash) {
			return st, false, central.ErrConflict
		}
		return cur.State(), false, nil
	case !errors.Is(err, central.ErrNotFound):
		return st, false, err
	}
	rec := sub
	rec.Payload, rec.Decision, rec.Seal = nil, nil, nil
	rec.Images = slices.Clone(sub.Images)
	for i := range rec.Images {
		rec.Images[i].Received = 0
	}
	if len(rec.Images) == 0 {
		rec.CompletedAt = rec.ReceivedAt
	}
	if err := tx.Bucket(bucketPayloads).Put(k, sub.Payload); err != nil {
		return st, false, err
	}
	if sub.Decision != nil {
		if err := tx.Bucket(bucketDecisions).Put(k, sub.Decision); err != nil {
			return st, false, err
		}
	}
	if sub.Seal != nil {
		if err := put(tx.Bucket(bucketSeals), k, sealRecord{KeyID: sub.Seal.KeyID, Key: sub.Seal.Key, Tokens: sub.Seal.Tokens}); err != nil {
			return st, false, err
		}
		for _, t := range sub.Seal.Tokens {
			if err := tx.Bucket(bucketIndex).Put(indexKey(t, k), nil); err != nil {
				return st, false, err
			}
		}
	}
	due := dueKey(sub.ReceivedAt, k)
	queues := [][]byte{bucketDueFields, bucketDueDecision}
	if len(sub.Images) > 0 {
		queues = append(queues, bucketDueImages)
	}
	for _, q := range queues {
		if err := tx.Bucket(q).Put(due, nil); err != nil {
			return st, false, err
		}
	}
	st, created = rec.State(), true
	if !rec.CompletedAt.IsZero() {
		if err := putQueue(tx, k, &rec, central.Review{}); err != nil {
			return st, false, err
		}
		if err := logCompleted(tx, k); err != nil {
			return st, false, err
		}
	}
	return st, created, put(b, k, rec)
}

// fillRetentionQueues puts the submissions of a file from before the
// retention queues existed into them, once.
func fillRetentionQueues(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyQueues) != nil {
		return nil
	}
	err := tx.Bucket(bucketSubs).ForEach(func(k, v []byte) error {
		var sub central.Submission
		if err := json.Unmarshal(v, &sub); err != nil {
			return err
		}
		due := dueKey(sub.ReceivedAt, k)
		queues := [][]byte{bucketDueDecision}
		if sub.FieldsErasedAt.IsZero() {
			queues = append(queues, bucketDueFields)
		}
		if len(sub.Images) > 0 && sub.ImagesErasedAt.IsZero() {
			queues = append(queues, bucketDueImages)
		}
		for _, q := range queues {
			if err := tx.Bucket(q).Put(due, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return meta.Put(keyQueues, []byte("1"))
}

// loadSeal reads a submission's seal, nil when it was stored unsealed.
func loadSeal(tx *bbolt.Tx, k []byte) (*central.Seal, error) {
	var r sealRecord
	switch err := get(tx.Bucket(bucketSeals), k, &r); {
	case errors.Is(err, central.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &central.Seal{KeyID: r.KeyID, Key: r.Key, Tokens: r.Tokens}, nil
}

// Upload implements central.Store.
func (s *Store) Upload(ctx context.Context, deviceID, key string) (central.Submission, error) {
	var sub central.Submission
	err := s.view(ctx, "reading submission", func(tx *bbolt.Tx) (err error) {
		k := subKey(deviceID, key)
		if err := get(tx.Bucket(bucketSubs), k, &sub); err != nil {
			return err
		}
		sub.Payload = bytes.Clone(tx.Bucket(bucketPayloads).Get(k))
		sub.Decision = bytes.Clone(tx.Bucket(bucketDecisions).Get(k))
		sub.Seal, err = loadSeal(tx, k)
		return err
	})
	return sub, err
}

// OpenUploads implements central.Store. It reads the device's submission
// records (their keys start with its id), not the others'.
func (s *Store) OpenUploads(ctx context.Context, deviceID string, since time.Time) (int, error) {
	n := 0
	err := s.view(ctx, "counting open uploads", func(tx *bbolt.Tx) error {
		prefix := subKey(deviceID, "")
		c := tx.Bucket(bucketSubs).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var sub central.Submission
			if err := json.Unmarshal(v, &sub); err != nil {
				return err
			}
			if sub.CompletedAt.IsZero() && !sub.ReceivedAt.Before(since) {
				n++
			}
		}
		return nil
	})
	return n, err
}

// AppendChunk implements central.Store.
func (s *Store) AppendChunk(ctx context.Context, c central.Chunk) (protocol.UploadState, error) {
	var st protocol.UploadState
	err := s.batch(ctx, "appending image chunk", func(tx *bbolt.Tx) error {
		if err := checkNotRevoked(tx, c.DeviceID); err != nil {
			return err
		}
		k := subKey(c.DeviceID, c.Key)
		b := tx.Bucket(bucketSubs)
		var sub central.Submission
		if err := get(b, k, &sub); err != nil {
			return err
		}
		i := slices.IndexFunc(sub.Images, func(im central.ImageProgress) bool { return im.Name == c.Image })
		if i < 0 {
			return central.ErrNotFound
		}
		im := &sub.Images[i]
		if c.Offset != im.Received || c.Size() > im.Size-im.Received || len(c.Data) == 0 {
			st = sub.State()
			return central.ErrOffset
		}
		ck := binary.BigEndian.AppendUint64(chunkPrefix(c.DeviceID, c.Key, c.Image), uint64(c.Offset))
		if err := tx.Bucket(bucketChunks).Put(ck, c.Data); err != nil {
			return err
		}
		im.Received += c.Size()
		if sub.CompletedAt.IsZero() && !slices.ContainsFunc(sub.Images, func(im central.ImageProgress) bool { return im.Received < im.Size }) {
			sub.CompletedAt = c.At
			// A case may be reviewed while its images arrive.
			rv, err := loadReview(tx, k)
			if err != nil {
				return err
			}
			if err := putQueue(tx, k, &sub, rv); err != nil {
				return err
			}
			if err := logCompleted(tx, k); err != nil {
				return err
			}
		}
		st = sub.State()
		return put(b, k, sub)
	})
	return st, err
}

// ImageData implements central.Store.
func (s *Store) ImageData(ctx context.Context, deviceID, key, image string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, "reading image", func(tx *bbolt.Tx) error {
		return eachChunk(tx, deviceID, key, image, func(received int64) { out = make([]byte, 0, received) }, func(v []byte) error {
			out = append(out, v...)
			return nil
		})
	})
	return out, err
}

// imageBatch is how many bytes of chunks ImageChunks copies out of a read
// transaction at a time.
const imageBatch = 1 << 20

// ImageChunks implements central.Store. yield runs outside any read
// transaction, on chunks copied out a batch at a time: it writes to a
// client, who may read slowly, and an open read transaction stops every
// write that grows the file (bbolt remaps it only once no read holds the
// old mapping), so a slow download would stall central's writes.
func (s *Store) ImageChunks(ctx context.Context, deviceID, key, image string, yield func([]byte) error) error {
	prefix := chunkPrefix(deviceID, key, image)
	var last []byte // the key of the last chunk copied
	for {
		var batch [][]byte
		more := false
		err := s.view(ctx, "reading image", func(tx *bbolt.Tx) error {
			batch, more = batch[:0], false
			c := tx.Bucket(bucketChunks).Cursor()
			k, v := c.Seek(prefix)
			if last == nil {
				if _, err := receivedOf(tx, deviceID, key, image); err != nil {
					return err
				}
			} else if k, v = c.Seek(last); bytes.Equal(k, last) {
				k, v = c.Next()
			}
			for size := 0; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if size >= imageBatch {
					more = true
					break
				}
				batch = append(batch, bytes.Clone(v))
				size += len(v)
				last = bytes.Clone(k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, chunk := range batch {
			if err := yield(chunk); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// receivedOf is how many bytes of an image were received; ErrNotFound
// without the submission or the image.
func receivedOf(tx *bbolt.Tx, deviceID, key, image string) (int64, error) {
	var sub central.Submission
	if err := get(tx.Bucket(bucketSubs), subKey(deviceID, key), &sub); err != nil {
		return 0, err
	}
	im, ok := sub.Image(image)
	if !ok {
		return 0, central.ErrNotFound
	}
	return im.Received, nil
}

// eachChunk calls yield with each stored chunk of an image in order
// (slices of the file, valid during tx), once sized has been told how
// many bytes were received.
func eachChunk(tx *bbolt.Tx, deviceID, key, image string, sized func(received int64), yield func([]byte) error) error {
	received, err := receivedOf(tx, deviceID, key, image)
	if err != nil {
		return err
	}
	sized(received)
	prefix := chunkPrefix(deviceID, key, image)
	c := tx.Bucket(bucketChunks).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := yield(v); err != nil {
			return err
		}
	}
	return nil
}

// Submissions implements central.Store. With index tokens it reads the
// token's few submissions and sorts them; otherwise it walks the
// decision's retention queue, which holds every submission in received
// order until it is deleted, from f.ReceivedAfter and stops at the limit,
// so a page costs what it lists (and what it skips by its other fields)
// rather than the whole store.
func (s *Store) Submissions(ctx context.Context, f central.Filter) ([]central.Submission, error) {
	var out []central.Submission
	limit := f.EffectiveLimit()
	err := s.view(ctx, "listing submissions", func(tx *bbolt.Tx) error {
		out = nil
		subs := tx.Bucket(bucketSubs)
		visit := func(k, v []byte) error {
			var sub central.Submission
			if err := json.Unmarshal(v, &sub); err != nil {
				return err
			}
			seal, err := loadSeal(tx, k)
			if err != nil {
				return err
			}
			sub.Seal = seal
			if f.Match(sub) {
				out = append(out, sub)
			}
			return nil
		}
		if len(f.Tokens) > 0 {
			c := tx.Bucket(bucketIndex).Cursor()
			for k, _ := c.Seek(f.Tokens[0]); k != nil && bytes.HasPrefix(k, f.Tokens[0]); k, _ = c.Next() {
				sk := k[len(f.Tokens[0]):]
				if v := subs.Get(sk); v != nil {
					if err := visit(sk, v); err != nil {
						return err
					}
				}
			}
			slices.SortFunc(out, func(a, b central.Submission) int {
				return cmp.Or(a.ReceivedAt.Compare(b.ReceivedAt), cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(a.Key, b.Key))
			})
			out = out[:min(len(out), limit)]
			return nil
		}
		c := tx.Bucket(bucketDueDecision).Cursor()
		var k []byte
		if f.ReceivedAfter.IsZero() {
			k, _ = c.First()
		} else {
			k, _ = c.Seek(dueKey(f.ReceivedAfter, nil))
		}
		var end []byte
		if !f.ReceivedBefore.IsZero() {
			end = dueKey(f.ReceivedBefore, nil)
		}
		for ; k != nil && len(out) < limit && (end == nil || bytes.Compare(k[:8], end) < 0); k, _ = c.Next() {
			if v := subs.Get(k[8:]); v != nil {
				if err := visit(k[8:], v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return out, err
}

// deleteChunks deletes every chunk under prefix.
func deleteChunks(tx *bbolt.Tx, prefix []byte) error {
	c := tx.Bucket(bucketChunks).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// deleteSubmission deletes a submission whole inside tx.
func deleteSubmission(tx *bbolt.Tx, deviceID, key string) error {
	k := subKey(deviceID, key)
	var sub central.Submission
	if err := get(tx.Bucket(bucketSubs), k, &sub); err != nil {
		return err
	}
	seal, err := loadSeal(tx, k)
	if err != nil {
		return err
	}
	if seal != nil {
		for _, t := range seal.Tokens {
			if err := tx.Bucket(bucketIndex).Delete(indexKey(t, k)); err != nil {
				return err
			}
		}
	}
	due := dueKey(sub.ReceivedAt, k)
	for _, b := range [][]byte{bucketDueImages, bucketDueFields, bucketDueDecision} {
		if err := tx.Bucket(b).Delete(due); err != nil {
			return err
		}
	}
	if err := deleteReview(tx, k, &sub); err != nil {
		return err
	}
	if err := unlogCompleted(tx, k); err != nil {
		return err
	}
	for _, b := range [][]byte{bucketSeals, bucketPayloads, bucketDecisions, bucketSubs} {
		if err := tx.Bucket(b).Delete(k); err != nil {
			return err
		}
	}
	return deleteChunks(tx, append(k, 0))
}

// DeleteSubmission implements central.Store.
func (s *Store) DeleteSubmission(ctx context.Context, deviceID, key string) error {
	return s.update(ctx, "deleting submission", func(tx *bbolt.Tx) error {
		return eraseSubmission(tx, deviceID, key)
	})
}

// dueQueues are the queues of what is due, by kind of submission data.
var dueQueues = map[central.DataKind][]byte{central.ExpireImages: bucketDueImages, central.ExpireFields: bucketDueFields, central.ExpireDecision: bucketDueDecision}

// scanDue calls fn with each entry of queue due before before, oldest
// first, and whether its review holds it back at at
// (central.Review.HoldsRetention), until fn returns false. The held stay
// in the queue: each sweep reads them again, as many as reviews hold.
func scanDue(tx *bbolt.Tx, queue []byte, before, at time.Time, fn func(k []byte, held bool) bool) error {
	end := binary.BigEndian.AppendUint64(nil, uint64(before.UnixNano()))
	c := tx.Bucket(queue).Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) < 0; k, _ = c.Next() {
		rv, err := loadReview(tx, k[8:])
		if err != nil {
			return err
		}
		if !fn(k, rv.HoldsRetention(at)) {
			return nil
		}
	}
	return nil
}

// Expire implements central.Store, reading only the queue of what is due.
func (s *Store) Expire(ctx context.Context, kind central.DataKind, before, at time.Time, limit int) (int, error) {
	switch kind {
	case central.ExpireWebhooks, central.ExpireFlows, central.ExpireErasures, central.ExpireErased:
		return s.expireRecords(ctx, kind, before, limit)
	}
	queue := dueQueues[kind]
	if queue == nil {
		return 0, fmt.Errorf("expiring %s: not a kind of data with a retention period", kind)
	}
	n := 0
	err := s.update(ctx, "expiring "+string(kind), func(tx *bbolt.Tx) error {
		n = 0
		var due [][]byte
		err := scanDue(tx, queue, before, at, func(k []byte, held bool) bool {
			if len(due) >= limit {
				return false
			}
			if !held {
				due = append(due, bytes.Clone(k))
			}
			return true
		})
		if err != nil {
			return err
		}
		for _, d := range due {
			k := d[8:]
			if err := tx.Bucket(queue).Delete(d); err != nil {
				return err
			}
			deviceID, key, _ := bytes.Cut(k, []byte{0})
			if kind == central.ExpireDecision {
				// The partner sessions holding it are scrubbed as an
				// erasure scrubs them (central.FlowEraser).
				if _, _, err := eraseFlows(tx, central.SubmissionRef{DeviceID: string(deviceID), Key: string(key)}, at); err != nil {
					return err
				}
				// Its tombstone stays, as an erasure's: a device still
				// holding it may send it again.
				if err := eraseSubmission(tx, string(deviceID), string(key)); err != nil && !errors.Is(err, central.ErrNotFound) {
					return err
				}
				n++
				continue
			}
			b := tx.Bucket(bucketSubs)
			var sub central.Submission
			if err := get(b, k, &sub); errors.Is(err, central.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			switch kind {
			case central.ExpireImages:
				if err := deleteChunks(tx, append(bytes.Clone(k), 0)); err != nil {
					return err
				}
				sub.Images, sub.ImagesErasedAt = nil, at
				if sub.CompletedAt.IsZero() {
					// Closed by retention: complete, so the queue shows it.
					sub.CompletedAt = at
					rv, err := loadReview(tx, k)
					if err != nil {
						return err
					}
					if err := putQueue(tx, k, &sub, rv); err != nil {
						return err
					}
					if err := logCompleted(tx, k); err != nil {
						return err
					}
				}
			case central.ExpireFields:
				if err := tx.Bucket(bucketPayloads).Delete(k); err != nil {
					return err
				}
				if err := dropTokens(tx, k); err != nil {
					return err
				}
				sub.FieldsErasedAt = at
			}
			if err := put(b, k, sub); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// dropTokens deletes a submission's index tokens, which are pseudonymised
// fields, when its fields expire: what has no fields is not found by a NIK
// or name any more. Its wrapped data key stays (the images may remain).
func dropTokens(tx *bbolt.Tx, k []byte) error {
	seal, err := loadSeal(tx, k)
	if err != nil || seal == nil || len(seal.Tokens) == 0 {
		return err
	}
	for _, t := range seal.Tokens {
		if err := tx.Bucket(bucketIndex).Delete(indexKey(t, k)); err != nil {
			return err
		}
	}
	return put(tx.Bucket(bucketSeals), k, sealRecord{KeyID: seal.KeyID, Key: seal.Key})
}

// PutRetention implements central.Store.
func (s *Store) PutRetention(ctx context.Context, p central.RetentionPolicy) error {
	return s.update(ctx, "recording retention policy", func(tx *bbolt.Tx) error {
		return put(tx.Bucket(bucketMeta), keyRetention, p)
	})
}

// Retention implements central.Store.
func (s *Store) Retention(ctx context.Context) (central.RetentionPolicy, error) {
	var p central.RetentionPolicy
	err := s.view(ctx, "reading retention policy", func(tx *bbolt.Tx) error {
		if err := get(tx.Bucket(bucketMeta), keyRetention, &p); err != nil && !errors.Is(err, central.ErrNotFound) {
			return err
		}
		return nil
	})
	return p, err
}

// StaleKeys implements central.Store.
func (s *Store) StaleKeys(ctx context.Context, keyID string, after central.SubmissionRef, limit int) ([]central.WrappedKey, error) {
	var out []central.WrappedKey
	err := s.view(ctx, "listing data keys", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketSeals).Cursor()
		k, v := c.First()
		if after != (central.SubmissionRef{}) {
			start := subKey(after.DeviceID, after.Key)
			if k, v = c.Seek(start); bytes.Equal(k, start) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			var r sealRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.KeyID == keyID {
				continue
			}
			deviceID, key, _ := bytes.Cut(k, []byte{0})
			out = append(out, central.WrappedKey{SubmissionRef: central.SubmissionRef{DeviceID: string(deviceID), Key: string(key)}, KeyID: r.KeyID, Wrapped: r.Key})
		}
		return nil
	})
	return out, err
}

// Rewrap implements central.Store.
func (s *Store) Rewrap(ctx context.Context, rs []central.Rewrapping) (int, error) {
	n := 0
	err := s.update(ctx, "rewrapping data keys", func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketSeals)
		for _, rw := range rs {
			k := subKey(rw.Old.DeviceID, rw.Old.Key)
			var r sealRecord
			if err := get(b, k, &r); errors.Is(err, central.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if r.KeyID != rw.Old.KeyID || !bytes.Equal(r.Key, rw.Old.Wrapped) {
				continue
			}
			r.KeyID, r.Key = rw.KeyID, rw.Wrapped
			if err := put(b, k, r); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// KeyUsage implements central.Store.
func (s *Store) KeyUsage(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.view(ctx, "counting data keys", func(tx *bbolt.Tx) error {
		sealed := 0
		err := tx.Bucket(bucketSeals).ForEach(func(_, v []byte) error {
			var r sealRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out[r.KeyID]++
			sealed++
			return nil
		})
		if n := tx.Bucket(bucketSubs).Stats().KeyN - sealed; n > 0 {
			out[""] = n
		}
		return err
	})
	return out, err
}

// KeyCheck implements central.KeyStore.
func (s *Store) KeyCheck(ctx context.Context) ([]byte, error) {
	var rec []byte
	err := s.view(ctx, "reading the key check", func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyKeyCheck); v != nil {
			rec = bytes.Clone(v)
		}
		return nil
	})
	return rec, err
}

// SwapKeyCheck implements central.KeyStore.
func (s *Store) SwapKeyCheck(ctx context.Context, old, rec []byte) (bool, error) {
	swapped := false
	err := s.update(ctx, "storing the key check", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		cur := b.Get(keyKeyCheck)
		if (cur == nil) != (old == nil) || !bytes.Equal(cur, old) {
			return nil
		}
		swapped = true
		return b.Put(keyKeyCheck, rec)
	})
	return swapped, err
}

type riskRecord struct {
	Version int64           `json:"version"`
	Doc     json.RawMessage `json:"doc"`
}

// PutRisk implements central.Store.
func (s *Store) PutRisk(ctx context.Context, doc json.RawMessage) (int64, error) {
	var version int64
	err := s.update(ctx, "publishing risk configuration", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		var cur riskRecord
		if err := get(b, keyRisk, &cur); err != nil && !errors.Is(err, central.ErrNotFound) {
			return err
		}
		version = cur.Version + 1
		if err := tx.Bucket(bucketRiskHistory).Put(riskKey(version), doc); err != nil {
			return err
		}
		return put(b, keyRisk, riskRecord{Version: version, Doc: doc})
	})
	return version, err
}

// Risk implements central.Store.
func (s *Store) Risk(ctx context.Context) (json.RawMessage, int64, error) {
	var cur riskRecord
	err := s.view(ctx, "reading risk configuration", func(tx *bbolt.Tx) error {
		if err := get(tx.Bucket(bucketMeta), keyRisk, &cur); err != nil && !errors.Is(err, central.ErrNotFound) {
			return err
		}
		return nil
	})
	return cur.Doc, cur.Version, err
}

func (s *Store) view(ctx context.Context, what string, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (s *Store) update(ctx context.Context, what string, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.Update(fn); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// batch is update through bbolt's Batch, which commits concurrent writers'
// transactions together under one fsync. fn may run more than once, so it
// must only write what it derives from the transaction and its arguments.
func (s *Store) batch(ctx context.Context, what string, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.Batch(fn); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
