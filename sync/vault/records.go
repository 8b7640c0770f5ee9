package vault

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"
)

// Record kinds mixed into the HMAC of a business id, so a session and a
// submission with the same id get unrelated keys.
const (
	kindSession    = "session"
	kindSubmission = "submission"
)

// maxIDLen bounds business ids; they are identifiers, not documents.
const maxIDLen = 256

// blobIDSize is the random part of an image's record key.
const blobIDSize = 16

// Submission is one captured KYC submission. Errors returned by the vault
// never quote the ID, since callers may build ids from personal data.
type Submission struct {
	ID        string            // business id chosen by the capture app
	CreatedAt time.Time         // capture time; zero means the vault clock
	Payload   []byte            // the submission document, JSON
	Images    map[string][]byte // image name (e.g. "selfie") to encoded image bytes
}

// SubmissionInfo describes a stored submission without its payload or images.
type SubmissionInfo struct {
	ID        string
	CreatedAt time.Time
	Images    []string // image names, sorted
	// ImagesDroppedAt is when DropImages shredded the images (zero if
	// it has not).
	ImagesDroppedAt time.Time
}

// submissionRecord is the sealed form of a Submission. Images live in the
// blobs bucket, each sealed under its own DEK; the record keeps the random
// part of each blob's key.
type submissionRecord struct {
	ID        string            `json:"id"`
	CreatedAt time.Time         `json:"created_at"`
	Payload   []byte            `json:"payload"`
	Images    map[string][]byte `json:"images,omitempty"`
	// ImagesDroppedAt is when DropImages shredded the images.
	ImagesDroppedAt time.Time `json:"images_dropped_at,omitzero"`
}

func encodeSubmission(rec submissionRecord) ([]byte, error) {
	pt, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encoding submission: %w", err)
	}
	return pt, nil
}

func validateID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty %s id", ErrInvalid, what)
	case len(id) > maxIDLen:
		return fmt.Errorf("%w: %s id longer than %d bytes", ErrInvalid, what, maxIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: %s id is not valid UTF-8", ErrInvalid, what)
	}
	return nil
}

func (s Submission) validate() error {
	if err := validateID(kindSubmission, s.ID); err != nil {
		return err
	}
	if !json.Valid(s.Payload) {
		return fmt.Errorf("%w: submission payload is not valid JSON", ErrInvalid)
	}
	for name, img := range s.Images {
		if name == "" {
			return fmt.Errorf("%w: image with empty name", ErrInvalid)
		}
		if len(img) == 0 {
			return fmt.Errorf("%w: image %q is empty", ErrInvalid, name)
		}
	}
	return nil
}

// blobKey is the record key of an image: the submission's key followed by a
// random id, so all images of a submission share a prefix and can be shredded
// without decrypting anything.
func blobKey(subKey, blobID []byte) []byte {
	return append(slices.Clip(subKey), blobID...)
}

// PutSubmission stores a new submission, its images, and its outbox entry
// (state queued, due now) in one transaction: once it returns nil, the
// submission and its entry both survive a crash, and neither exists without
// the other. A submission whose id is already stored gets ErrExists.
func (v *Vault) PutSubmission(ctx context.Context, s Submission) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("storing submission: %w", err)
	}
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		key := k.recordID(kindSubmission, s.ID)
		if tx.Bucket([]byte(bucketSubmissions)).Get(key) != nil {
			return ErrExists
		}
		now := v.opts.Now()
		rec := submissionRecord{ID: s.ID, CreatedAt: s.CreatedAt, Payload: s.Payload, Images: make(map[string][]byte, len(s.Images))}
		if rec.CreatedAt.IsZero() {
			rec.CreatedAt = now
		}
		for name, img := range s.Images {
			blobID := randomBytes(blobIDSize)
			if err := v.putRecord(tx, k, bucketBlobs, blobKey(key, blobID), img); err != nil {
				return fmt.Errorf("image %q: %w", name, err)
			}
			rec.Images[name] = blobID
		}
		pt, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encoding: %w", err)
		}
		if err := v.putRecord(tx, k, bucketSubmissions, key, pt); err != nil {
			return err
		}
		return v.enqueue(tx, k, key, s.ID, now)
	})
	if err != nil {
		return fmt.Errorf("storing submission: %w", err)
	}
	return nil
}

// GetSubmission returns the submission stored under id with its images.
func (v *Vault) GetSubmission(ctx context.Context, id string) (Submission, error) {
	if err := validateID(kindSubmission, id); err != nil {
		return Submission{}, fmt.Errorf("reading submission: %w", err)
	}
	var s Submission
	err := v.view(ctx, func(tx *bbolt.Tx, k *keyring) error {
		key := k.recordID(kindSubmission, id)
		rec, err := readSubmission(tx, k, key)
		if err != nil {
			return err
		}
		s = Submission{ID: rec.ID, CreatedAt: rec.CreatedAt, Payload: rec.Payload}
		if len(rec.Images) > 0 {
			s.Images = make(map[string][]byte, len(rec.Images))
		}
		for name, blobID := range rec.Images {
			img, err := getRecord(tx, k, bucketBlobs, blobKey(key, blobID))
			if err != nil {
				return fmt.Errorf("image %q: %w", name, err)
			}
			s.Images[name] = img
		}
		return nil
	})
	if err != nil {
		return Submission{}, fmt.Errorf("reading submission: %w", err)
	}
	return s, nil
}

func readSubmission(tx *bbolt.Tx, k *keyring, key []byte) (submissionRecord, error) {
	pt, err := getRecord(tx, k, bucketSubmissions, key)
	if err != nil {
		return submissionRecord{}, err
	}
	var rec submissionRecord
	if err := json.Unmarshal(pt, &rec); err != nil {
		return submissionRecord{}, fmt.Errorf("%w: decoding submission: %w", ErrCorrupt, err)
	}
	return rec, nil
}

// ListSubmissions describes every stored submission, oldest first. It
// decrypts each submission record (not the images), so it costs time in
// proportion to what the vault holds.
func (v *Vault) ListSubmissions(ctx context.Context) ([]SubmissionInfo, error) {
	var out []SubmissionInfo
	err := v.view(ctx, func(tx *bbolt.Tx, k *keyring) error {
		c := tx.Bucket([]byte(bucketSubmissions)).Cursor()
		for key, _ := c.First(); key != nil; key, _ = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, err := readSubmission(tx, k, key)
			if err != nil {
				return err
			}
			out = append(out, SubmissionInfo{ID: rec.ID, CreatedAt: rec.CreatedAt, Images: slices.Sorted(maps.Keys(rec.Images)), ImagesDroppedAt: rec.ImagesDroppedAt})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing submissions: %w", err)
	}
	slices.SortFunc(out, func(a, b SubmissionInfo) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// PutSession stores (or replaces) the state of a capture session.
func (v *Vault) PutSession(ctx context.Context, id string, data []byte) error {
	if err := validateID(kindSession, id); err != nil {
		return fmt.Errorf("storing session: %w", err)
	}
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		return v.putRecord(tx, k, bucketSessions, k.recordID(kindSession, id), data)
	})
	if err != nil {
		return fmt.Errorf("storing session: %w", err)
	}
	return nil
}

// GetSession returns the state of a capture session.
func (v *Vault) GetSession(ctx context.Context, id string) ([]byte, error) {
	if err := validateID(kindSession, id); err != nil {
		return nil, fmt.Errorf("reading session: %w", err)
	}
	var data []byte
	err := v.view(ctx, func(tx *bbolt.Tx, k *keyring) (err error) {
		data, err = getRecord(tx, k, bucketSessions, k.recordID(kindSession, id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading session: %w", err)
	}
	return data, nil
}
