// Package boltstore is central's embedded store, the default: one bbolt
// file, one central instance (bbolt locks the file to one process).
//
// Request nonces are kept in memory rather than in the file: a single
// instance sees every request, and an fsync per request would halve ingest
// throughput. A restart forgets them, so a request captured in the minutes
// before a restart could be replayed once after it; every device request is
// idempotent (PUT of a manifest or of a chunk at an offset), so a replay
// changes nothing.
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
	bucketChunks     = []byte("chunks")
	bucketMeta       = []byte("meta")
	bucketWatchlists = []byte("watchlists")
	bucketWLData     = []byte("watchlist-data")
	allBuckets       = [][]byte{bucketDevices, bucketTokens, bucketSubs, bucketPayloads, bucketChunks, bucketMeta, bucketWatchlists, bucketWLData}
	keyRisk          = []byte("risk")
)

// Store is a bbolt-backed central.Store.
type Store struct {
	db *bbolt.DB

	mu     sync.Mutex
	nonces map[string]time.Time // device\x00nonce -> expiry
	// noncesPruned is when expired nonces were last swept.
	noncesPruned time.Time
}

var _ central.Store = (*Store)(nil)

// Open opens (creating if needed, mode 0600) the store file at path.
func Open(path string) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("opening central store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising central store %s: %w", path, err)
	}
	return &Store{db: db, nonces: make(map[string]time.Time)}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

type tokenRecord struct {
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	DeviceID  string    `json:"device_id,omitempty"`
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
		return put(b, t.Hash[:], tokenRecord{CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
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
		if !t.UsedAt.IsZero() || !d.EnrolledAt.Before(t.ExpiresAt) {
			return central.ErrTokenInvalid
		}
		db := tx.Bucket(bucketDevices)
		if db.Get([]byte(d.ID)) != nil {
			return central.ErrDeviceExists
		}
		t.UsedAt, t.DeviceID = d.EnrolledAt, d.ID
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

// SetDeviceStatus implements central.Store.
func (s *Store) SetDeviceStatus(ctx context.Context, id string, st protocol.DeviceStatus, at time.Time) error {
	return s.update(ctx, "recording device status", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		var d central.Device
		if err := get(b, []byte(id), &d); err != nil {
			return err
		}
		d.Status, d.LastSeen = &st, at
		return put(b, []byte(id), d)
	})
}

// nonceSweepEvery spaces the sweeps of expired nonces.
const nonceSweepEvery = time.Minute

// UseNonce implements central.Store, in memory (see the package comment).
func (s *Store) UseNonce(_ context.Context, deviceID, nonce string, now, expires time.Time) error {
	k := deviceID + "\x00" + nonce
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.noncesPruned) > nonceSweepEvery {
		for n, e := range s.nonces {
			if e.Before(now) {
				delete(s.nonces, n)
			}
		}
		s.noncesPruned = now
	}
	if _, ok := s.nonces[k]; ok {
		return central.ErrReplay
	}
	s.nonces[k] = expires
	return nil
}

func subKey(deviceID, key string) []byte { return []byte(deviceID + "\x00" + key) }

func chunkPrefix(deviceID, key, image string) []byte {
	return []byte(deviceID + "\x00" + key + "\x00" + image + "\x00")
}

// BeginSubmission implements central.Store.
func (s *Store) BeginSubmission(ctx context.Context, sub central.Submission) (protocol.UploadState, bool, error) {
	var st protocol.UploadState
	var created bool
	err := s.batch(ctx, "recording submission", func(tx *bbolt.Tx) error {
		k := subKey(sub.DeviceID, sub.Key)
		b := tx.Bucket(bucketSubs)
		var cur central.Submission
		switch err := get(b, k, &cur); {
		case err == nil:
			if !bytes.Equal(cur.ManifestHash, sub.ManifestHash) {
				return central.ErrConflict
			}
			st, created = cur.State(), false
			return nil
		case !errors.Is(err, central.ErrNotFound):
			return err
		}
		rec := sub
		rec.Payload = nil
		rec.Images = slices.Clone(sub.Images)
		for i := range rec.Images {
			rec.Images[i].Received = 0
		}
		if len(rec.Images) == 0 {
			rec.CompletedAt = rec.ReceivedAt
		}
		if err := tx.Bucket(bucketPayloads).Put(k, sub.Payload); err != nil {
			return err
		}
		st, created = rec.State(), true
		return put(b, k, rec)
	})
	return st, created, err
}

// Upload implements central.Store.
func (s *Store) Upload(ctx context.Context, deviceID, key string) (central.Submission, error) {
	var sub central.Submission
	err := s.view(ctx, "reading submission", func(tx *bbolt.Tx) error {
		k := subKey(deviceID, key)
		if err := get(tx.Bucket(bucketSubs), k, &sub); err != nil {
			return err
		}
		sub.Payload = bytes.Clone(tx.Bucket(bucketPayloads).Get(k))
		return nil
	})
	return sub, err
}

// AppendChunk implements central.Store.
func (s *Store) AppendChunk(ctx context.Context, c central.Chunk) (protocol.UploadState, error) {
	var st protocol.UploadState
	err := s.batch(ctx, "appending image chunk", func(tx *bbolt.Tx) error {
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
		if c.Offset != im.Received || int64(len(c.Data)) > im.Size-im.Received || len(c.Data) == 0 {
			st = sub.State()
			return central.ErrOffset
		}
		ck := binary.BigEndian.AppendUint64(chunkPrefix(c.DeviceID, c.Key, c.Image), uint64(c.Offset))
		if err := tx.Bucket(bucketChunks).Put(ck, c.Data); err != nil {
			return err
		}
		im.Received += int64(len(c.Data))
		if sub.CompletedAt.IsZero() && !slices.ContainsFunc(sub.Images, func(im central.ImageProgress) bool { return im.Received < im.Size }) {
			sub.CompletedAt = c.At
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
		var sub central.Submission
		if err := get(tx.Bucket(bucketSubs), subKey(deviceID, key), &sub); err != nil {
			return err
		}
		im, ok := sub.Image(image)
		if !ok {
			return central.ErrNotFound
		}
		out = make([]byte, 0, im.Received)
		prefix := chunkPrefix(deviceID, key, image)
		c := tx.Bucket(bucketChunks).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			out = append(out, v...)
		}
		return nil
	})
	return out, err
}

// Submissions implements central.Store. It scans every submission record
// (payloads and images live elsewhere), which suits the embedded store's
// scale; pgstore uses indexes.
func (s *Store) Submissions(ctx context.Context, f central.Filter) ([]central.Submission, error) {
	var out []central.Submission
	err := s.view(ctx, "listing submissions", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSubs).ForEach(func(_, v []byte) error {
			var sub central.Submission
			if err := json.Unmarshal(v, &sub); err != nil {
				return err
			}
			if f.Match(sub) {
				out = append(out, sub)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b central.Submission) int {
		return cmp.Or(a.ReceivedAt.Compare(b.ReceivedAt), cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(a.Key, b.Key))
	})
	if len(out) > f.EffectiveLimit() {
		out = out[:f.EffectiveLimit()]
	}
	return out, err
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

// PutWatchlist implements central.Store.
func (s *Store) PutWatchlist(ctx context.Context, name string, data []byte) (protocol.Watchlist, error) {
	var w protocol.Watchlist
	err := s.update(ctx, "publishing watchlist", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketWatchlists)
		var cur protocol.Watchlist
		if err := get(b, []byte(name), &cur); err != nil && !errors.Is(err, central.ErrNotFound) {
			return err
		}
		sum := sha256.Sum256(data)
		w = protocol.Watchlist{Name: name, Version: cur.Version + 1, Size: int64(len(data)), SHA256: sum[:]}
		if err := tx.Bucket(bucketWLData).Put([]byte(name), data); err != nil {
			return err
		}
		return put(b, []byte(name), w)
	})
	return w, err
}

// Watchlists implements central.Store.
func (s *Store) Watchlists(ctx context.Context) ([]protocol.Watchlist, error) {
	out := []protocol.Watchlist{}
	err := s.view(ctx, "listing watchlists", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketWatchlists).ForEach(func(_, v []byte) error {
			var w protocol.Watchlist
			if err := json.Unmarshal(v, &w); err != nil {
				return err
			}
			out = append(out, w)
			return nil
		})
	})
	return out, err
}

// Watchlist implements central.Store.
func (s *Store) Watchlist(ctx context.Context, name string) (protocol.Watchlist, []byte, error) {
	var w protocol.Watchlist
	var data []byte
	err := s.view(ctx, "reading watchlist", func(tx *bbolt.Tx) error {
		if err := get(tx.Bucket(bucketWatchlists), []byte(name), &w); err != nil {
			return err
		}
		data = bytes.Clone(tx.Bucket(bucketWLData).Get([]byte(name)))
		return nil
	})
	return w, data, err
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
