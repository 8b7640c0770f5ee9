package boltstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// watchlistChunk is the size of the pieces a watchlist is stored in: one
// transaction writes one, a reader holds one.
const watchlistChunk = 1 << 20

// wlRecord is a watchlist's current version. Its bytes are the chunks of
// upload Upload; the previous version's (Previous) are kept so that a
// reader who opened it can finish. A record without Upload is from before
// chunking: its bytes are whole in bucketWLData.
type wlRecord struct {
	protocol.Watchlist
	Upload   string `json:"upload,omitempty"`
	Previous string `json:"previous,omitempty"`
}

func wlChunkKey(upload string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(upload), seq)
}

// CreateWatchlist implements central.Store: a name already published is
// refused before r is read; the chunks are written under a fresh upload
// id, one transaction each, and the last transaction publishes them only
// if the name is still unpublished (bbolt has one writer at a time, so no
// publish comes between its check and its write), so readers never see
// part of a list. A failed upload deletes what it wrote; one cut short by
// a crash is removed at the next Open.
func (s *Store) CreateWatchlist(ctx context.Context, name string, r io.Reader, event func(protocol.Watchlist) (central.AuditEvent, error)) (protocol.Watchlist, error) {
	if err := s.view(ctx, "reading watchlist", func(tx *bbolt.Tx) error { return unpublished(tx, name) }); err != nil {
		return protocol.Watchlist{}, err
	}
	upload, size, sum, err := s.writeUpload(ctx, r)
	if err != nil {
		return protocol.Watchlist{}, err
	}
	w := protocol.Watchlist{Name: name, Version: 1, Size: size, SHA256: sum}
	ev, err := event(w)
	if err == nil {
		err = s.update(ctx, "publishing watchlist", func(tx *bbolt.Tx) error {
			if err := unpublished(tx, name); err != nil {
				return err
			}
			if _, err := publishUpload(tx, name, upload, size, sum); err != nil {
				return err
			}
			return appendAudit(tx, ev)
		})
	}
	if err != nil {
		_ = s.db.Update(func(tx *bbolt.Tx) error { return deleteUpload(tx, upload) })
		return protocol.Watchlist{}, err
	}
	return w, nil
}

// unpublished is ErrWatchlistStale when a version of name is published.
func unpublished(tx *bbolt.Tx, name string) error {
	if tx.Bucket(bucketWatchlists).Get([]byte(name)) != nil {
		return central.ErrWatchlistStale
	}
	return nil
}

// writeUpload writes r's bytes as the chunks of a fresh upload id, one
// transaction each, and returns the id, the size and the SHA-256; on an
// error it deletes what it wrote.
func (s *Store) writeUpload(ctx context.Context, r io.Reader) (upload string, size int64, sum []byte, err error) {
	id := make([]byte, 8)
	rand.Read(id)
	upload = hex.EncodeToString(id)
	h := sha256.New()
	buf := make([]byte, watchlistChunk)
	var seq uint64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			h.Write(buf[:n])
			size += int64(n)
			err := s.update(ctx, "storing watchlist", func(tx *bbolt.Tx) error {
				return tx.Bucket(bucketWLChunks).Put(wlChunkKey(upload, seq), buf[:n])
			})
			if err != nil {
				_ = s.db.Update(func(tx *bbolt.Tx) error { return deleteUpload(tx, upload) })
				return "", 0, nil, err
			}
			seq++
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			_ = s.db.Update(func(tx *bbolt.Tx) error { return deleteUpload(tx, upload) })
			return "", 0, nil, fmt.Errorf("reading watchlist: %w", rerr)
		}
	}
	return upload, size, h.Sum(nil), nil
}

// publishUpload publishes upload as the next version of name, keeping the
// version before's chunks for its readers and deleting the one's before.
func publishUpload(tx *bbolt.Tx, name, upload string, size int64, sum []byte) (protocol.Watchlist, error) {
	b := tx.Bucket(bucketWatchlists)
	var cur wlRecord
	if err := get(b, []byte(name), &cur); err != nil && !errors.Is(err, central.ErrNotFound) {
		return protocol.Watchlist{}, err
	}
	if err := deleteUpload(tx, cur.Previous); err != nil {
		return protocol.Watchlist{}, err
	}
	if err := tx.Bucket(bucketWLData).Delete([]byte(name)); err != nil {
		return protocol.Watchlist{}, err
	}
	w := protocol.Watchlist{Name: name, Version: cur.Version + 1, Size: size, SHA256: sum}
	return w, put(b, []byte(name), wlRecord{Watchlist: w, Upload: upload, Previous: cur.Upload})
}

// deleteUpload deletes an upload's chunks ("" has none).
func deleteUpload(tx *bbolt.Tx, upload string) error {
	if upload == "" {
		return nil
	}
	c := tx.Bucket(bucketWLChunks).Cursor()
	prefix := []byte(upload)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// dropOrphanUploads deletes chunks no watchlist record names: uploads a
// crash cut short.
func dropOrphanUploads(tx *bbolt.Tx) error {
	live := map[string]bool{}
	err := tx.Bucket(bucketWatchlists).ForEach(func(_, v []byte) error {
		var r wlRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		live[r.Upload], live[r.Previous] = true, true
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketWLProposals).ForEach(func(_, v []byte) error {
		var p wlProposalRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		live[p.Upload] = true
		return nil
	})
	if err != nil {
		return err
	}
	var orphans []string
	c := tx.Bucket(bucketWLChunks).Cursor()
	for k, _ := c.First(); k != nil; {
		upload := string(k[:len(k)-8])
		if !live[upload] {
			orphans = append(orphans, upload)
		}
		k, _ = c.Seek(append([]byte(upload), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	}
	for _, o := range orphans {
		if err := deleteUpload(tx, o); err != nil {
			return err
		}
	}
	return nil
}

// Watchlists implements central.Store.
func (s *Store) Watchlists(ctx context.Context) ([]protocol.Watchlist, error) {
	out := []protocol.Watchlist{}
	err := s.view(ctx, "listing watchlists", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketWatchlists).ForEach(func(_, v []byte) error {
			var r wlRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r.Watchlist)
			return nil
		})
	})
	return out, err
}

// Watchlist implements central.Store.
func (s *Store) Watchlist(ctx context.Context, name string) (protocol.Watchlist, []byte, error) {
	w, rc, err := s.OpenWatchlist(ctx, name)
	if err != nil {
		return w, nil, err
	}
	defer rc.Close()
	data := make([]byte, 0, w.Size)
	buf := bytes.NewBuffer(data)
	if _, err := io.Copy(buf, rc); err != nil {
		return w, nil, err
	}
	return w, buf.Bytes(), nil
}

// OpenWatchlist implements central.Store: the reader copies one chunk at a
// time out of a short read transaction (a long one would stop bbolt from
// growing its file while a slow client downloads).
func (s *Store) OpenWatchlist(ctx context.Context, name string) (protocol.Watchlist, io.ReadCloser, error) {
	var r wlRecord
	var legacy []byte
	err := s.view(ctx, "reading watchlist", func(tx *bbolt.Tx) error {
		if err := get(tx.Bucket(bucketWatchlists), []byte(name), &r); err != nil {
			return err
		}
		if r.Upload == "" {
			legacy = bytes.Clone(tx.Bucket(bucketWLData).Get([]byte(name)))
		}
		return nil
	})
	if err != nil {
		return r.Watchlist, nil, err
	}
	if r.Upload == "" {
		return r.Watchlist, io.NopCloser(bytes.NewReader(legacy)), nil
	}
	return r.Watchlist, &wlReader{s: s, ctx: ctx, upload: r.Upload, left: r.Size}, nil
}

// wlReader reads an upload's chunks in order.
type wlReader struct {
	s      *Store
	ctx    context.Context
	upload string
	seq    uint64
	buf    []byte // the current chunk's unread bytes
	store  []byte // buf's backing array, reused
	left   int64  // bytes not yet loaded
}

func (r *wlReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		err := r.s.view(r.ctx, "reading watchlist", func(tx *bbolt.Tx) error {
			v := tx.Bucket(bucketWLChunks).Get(wlChunkKey(r.upload, r.seq))
			if v == nil {
				return fmt.Errorf("chunk %d of the watchlist is gone (a newer version replaced it)", r.seq)
			}
			r.store = append(r.store[:0], v...)
			return nil
		})
		if err != nil {
			return 0, err
		}
		r.buf, r.seq, r.left = r.store, r.seq+1, r.left-int64(len(r.store))
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *wlReader) Close() error { return nil }

type claimRecord struct {
	DeviceID string    `json:"device_id"`
	Key      string    `json:"key"`
	Expires  time.Time `json:"expires"`
}

// claimsPruneBatch bounds the expired claims one claim deletes.
const claimsPruneBatch = 64

// ClaimAttestation implements central.Store. Expired claims are deleted a
// few at a time as new ones arrive (by the wall clock: an expired claim
// only guards an attestation central refuses as too old anyway).
func (s *Store) ClaimAttestation(ctx context.Context, deviceID string, h [sha256.Size]byte, key string, expires time.Time) error {
	return s.batch(ctx, "claiming attestation", func(tx *bbolt.Tx) error {
		due := tx.Bucket(bucketClaimsDue)
		claims := tx.Bucket(bucketClaims)
		now := timeKey(time.Now())
		c := due.Cursor()
		for i, k := 0, []byte(nil); i < claimsPruneBatch; i++ {
			if k, _ = c.First(); k == nil || bytes.Compare(k[:8], now) >= 0 {
				break
			}
			if err := claims.Delete(k[8:]); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		var cur claimRecord
		switch err := get(claims, h[:], &cur); {
		case err == nil:
			if cur.DeviceID == deviceID && cur.Key == key {
				return nil
			}
			return central.ErrReplay
		case !errors.Is(err, central.ErrNotFound):
			return err
		}
		if err := due.Put(append(timeKey(expires), h[:]...), nil); err != nil {
			return err
		}
		return put(claims, h[:], claimRecord{DeviceID: deviceID, Key: key, Expires: expires})
	})
}
