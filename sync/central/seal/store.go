package seal

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// ErrTampered means sealed data did not authenticate: altered, or moved
// from the row, image or offset it was sealed for.
var ErrTampered = errors.New("seal: sealed data does not authenticate")

// Store is a central.Store that encrypts every submission it stores in the
// store it wraps. Methods it does not override (devices, nonces,
// configuration, the audit trail, retention, key rotation, accounts) pass
// through; the console's cases carry no payload, only the sealed id, which
// review.go opens; partners' sessions and webhook events carry the
// partner's user reference, which flow.go seals and opens.
type Store struct {
	central.Store
	kek KEKProvider
	idx Indexer
	// keys caches opened data keys, so that the chunks of an upload do not
	// unwrap the key again each (a KMS round trip).
	keys keyCache
	// plainBufs are ImageChunks' buffers (*[]byte, up to a stored chunk,
	// protocol.MaxChunkSize): each read of an image opens its chunks into
	// one, and reads that stop at the first chunk (a content type sniffed
	// before the image is sent) are frequent.
	plainBufs sync.Pool
	// noted holds the KEK ids the store's key check lists (noteKEK).
	noted sync.Map
}

var (
	_ central.Store      = (*Store)(nil)
	_ central.BlindIndex = (*Store)(nil)
)

// New wraps inner: submissions stored through the result are sealed with
// a data key per submission wrapped by kek, and indexed by idx.
func New(inner central.Store, kek KEKProvider, idx Indexer) *Store {
	return &Store{Store: inner, kek: kek, idx: idx, keys: keyCache{m: map[string]cachedKey{}}}
}

// Token implements central.BlindIndex with the store's Indexer.
func (s *Store) Token(kind central.IdentifierKind, value string) ([]byte, bool) {
	return s.idx.Token(kind, value)
}

// What a sealed value is, in its associated data.
const (
	purposeDEK      = "dek"
	purposeID       = "id"
	purposePayload  = "payload"
	purposeDecision = "decision"
	purposeImageKey = "image-key"
	purposeImageSum = "image-sha256"
	purposeChunk    = "chunk"
)

// aad binds a sealed value to what it is and where it belongs: the
// submission (device and key) and, for image data, the image and offset.
// Identifiers cannot hold a NUL (device ids are hex, keys hex, image names
// protocol.ValidName).
func aad(purpose string, ref central.SubmissionRef, extra ...string) []byte {
	b := []byte("openkyc central seal v1\x00" + purpose + "\x00" + ref.DeviceID + "\x00" + ref.Key)
	for _, e := range extra {
		b = append(b, 0)
		b = append(b, e...)
	}
	return b
}

// BeginSubmission implements central.Store: it makes the submission's data
// key, wraps it, and stores the id, payload, decision, image hashes and
// content keys sealed under it, with the payload's blind-index tokens.
func (s *Store) BeginSubmission(ctx context.Context, sub central.Submission) (protocol.UploadState, bool, error) {
	ref := central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
	dek := random(32)
	a, err := newAEAD(dek)
	if err != nil {
		return protocol.UploadState{}, false, fmt.Errorf("sealing submission: %w", err)
	}
	keyID, wrapped, err := s.kek.Wrap(ctx, dek, aad(purposeDEK, ref))
	clear(dek)
	if err == nil {
		err = s.noteKEK(ctx, keyID)
	}
	if err != nil {
		return protocol.UploadState{}, false, fmt.Errorf("sealing submission: %w", err)
	}
	out := sub
	out.ID = base64.RawStdEncoding.EncodeToString(encrypt(a, []byte(sub.ID), aad(purposeID, ref)))
	if sub.Payload != nil {
		out.Payload = encrypt(a, sub.Payload, aad(purposePayload, ref))
		if d := Decision(sub.Payload); d != nil {
			out.Decision = encrypt(a, d, aad(purposeDecision, ref))
		}
	}
	out.Images = make([]central.ImageProgress, len(sub.Images))
	for i, im := range sub.Images {
		im.Key = encrypt(a, im.Key, aad(purposeImageKey, ref, im.Name))
		im.SHA256 = encrypt(a, im.SHA256, aad(purposeImageSum, ref, im.Name))
		out.Images[i] = im
	}
	out.Seal = &central.Seal{KeyID: keyID, Key: wrapped}
	for kind, values := range Identifiers(sub.Payload) {
		for _, v := range values {
			if t, ok := s.idx.Token(kind, v); ok {
				out.Seal.Tokens = append(out.Seal.Tokens, t)
			}
		}
	}
	st, created, err := s.Store.BeginSubmission(ctx, out)
	if err == nil && created {
		s.keys.put(ref, wrapped, a)
	}
	return st, created, err
}

// open returns the data key of a sealed submission, from the cache when
// it holds the key under the same wrapping, else unwrapped.
func (s *Store) open(ctx context.Context, ref central.SubmissionRef, seal *central.Seal) (cipher.AEAD, error) {
	if a := s.keys.get(ref, seal.Key); a != nil {
		return a, nil
	}
	dek, err := s.kek.Unwrap(ctx, seal.KeyID, seal.Key, aad(purposeDEK, ref))
	if err != nil {
		return nil, err
	}
	a, err := newAEAD(dek)
	clear(dek)
	if err != nil {
		return nil, err
	}
	s.keys.put(ref, seal.Key, a)
	return a, nil
}

// unseal decrypts a submission read from the inner store in place; one
// stored without encryption is returned as it is.
func (s *Store) unseal(ctx context.Context, sub *central.Submission) error {
	if sub.Seal == nil {
		return nil
	}
	ref := central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
	a, err := s.open(ctx, ref, sub.Seal)
	if err != nil {
		return err
	}
	sub.Seal = nil
	sealedID, err := base64.RawStdEncoding.DecodeString(sub.ID)
	if err != nil {
		return ErrTampered
	}
	id, err := decrypt(a, sealedID, aad(purposeID, ref))
	if err != nil {
		return err
	}
	sub.ID = string(id)
	if sub.Payload != nil {
		if sub.Payload, err = decrypt(a, sub.Payload, aad(purposePayload, ref)); err != nil {
			return err
		}
	}
	if sub.Decision != nil {
		if sub.Decision, err = decrypt(a, sub.Decision, aad(purposeDecision, ref)); err != nil {
			return err
		}
	}
	for i := range sub.Images {
		im := &sub.Images[i]
		if im.Key, err = decrypt(a, im.Key, aad(purposeImageKey, ref, im.Name)); err != nil {
			return err
		}
		if im.SHA256, err = decrypt(a, im.SHA256, aad(purposeImageSum, ref, im.Name)); err != nil {
			return err
		}
	}
	return nil
}

// Upload implements central.Store.
func (s *Store) Upload(ctx context.Context, deviceID, key string) (central.Submission, error) {
	sub, err := s.Store.Upload(ctx, deviceID, key)
	if err != nil {
		return sub, err
	}
	if err := s.unseal(ctx, &sub); err != nil {
		return central.Submission{}, fmt.Errorf("opening submission: %w", err)
	}
	return sub, nil
}

// Submissions implements central.Store.
func (s *Store) Submissions(ctx context.Context, f central.Filter) ([]central.Submission, error) {
	subs, err := s.Store.Submissions(ctx, f)
	if err != nil {
		return nil, err
	}
	for i := range subs {
		if err := s.unseal(ctx, &subs[i]); err != nil {
			return nil, fmt.Errorf("opening submission: %w", err)
		}
	}
	return subs, nil
}

// dataKey returns the data key of a stored submission, nil if it is stored
// without encryption.
func (s *Store) dataKey(ctx context.Context, ref central.SubmissionRef) (cipher.AEAD, error) {
	if a := s.keys.get(ref, nil); a != nil {
		return a, nil
	}
	sub, err := s.Store.Upload(ctx, ref.DeviceID, ref.Key)
	if err != nil {
		return nil, err
	}
	if sub.Seal == nil {
		return nil, nil
	}
	return s.open(ctx, ref, sub.Seal)
}

// chunkHeader is the length prefix of each sealed chunk, so that sealed
// chunks read back concatenated split again.
const chunkHeader = 4

// AppendChunk implements central.Store: the chunk is stored sealed, bound
// to its image and offset.
func (s *Store) AppendChunk(ctx context.Context, c central.Chunk) (protocol.UploadState, error) {
	ref := central.SubmissionRef{DeviceID: c.DeviceID, Key: c.Key}
	a, err := s.dataKey(ctx, ref)
	if err != nil {
		return protocol.UploadState{}, fmt.Errorf("sealing image chunk: %w", err)
	}
	if a != nil && len(c.Data) > 0 {
		// The length prefix, then the sealed chunk, in one allocation.
		frame := make([]byte, chunkHeader, chunkHeader+1+a.NonceSize()+len(c.Data)+a.Overhead())
		frame = appendEncrypted(frame, a, c.Data, aad(purposeChunk, ref, c.Image, strconv.FormatInt(c.Offset, 10)))
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-chunkHeader))
		c.Len, c.Data = int64(len(c.Data)), frame
	}
	return s.Store.AppendChunk(ctx, c)
}

// ImageData implements central.Store.
func (s *Store) ImageData(ctx context.Context, deviceID, key, image string) ([]byte, error) {
	var out []byte
	err := s.ImageChunks(ctx, deviceID, key, image, func(plain []byte) error {
		out = append(out, plain...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ImageChunks implements central.Store: it opens each sealed chunk the
// inner store yields and yields its plaintext, checked to belong at the
// offset the chunks before it reach.
func (s *Store) ImageChunks(ctx context.Context, deviceID, key, image string, yield func([]byte) error) error {
	ref := central.SubmissionRef{DeviceID: deviceID, Key: key}
	a, err := s.dataKey(ctx, ref)
	if err != nil {
		return fmt.Errorf("opening image: %w", err)
	}
	if a == nil {
		return s.Store.ImageChunks(ctx, deviceID, key, image, yield)
	}
	var off int64
	// One buffer for every chunk: yield's slice is valid only during the
	// call.
	buf, _ := s.plainBufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	plain := *buf
	defer func() {
		*buf = plain[:0]
		s.plainBufs.Put(buf)
	}()
	return s.Store.ImageChunks(ctx, deviceID, key, image, func(data []byte) error {
		for len(data) > 0 {
			if len(data) < chunkHeader || int(binary.BigEndian.Uint32(data)) > len(data)-chunkHeader {
				return fmt.Errorf("opening image: %w", ErrTampered)
			}
			n := int(binary.BigEndian.Uint32(data))
			var err error
			plain, err = appendDecrypted(plain[:0], a, data[chunkHeader:chunkHeader+n], aad(purposeChunk, ref, image, strconv.FormatInt(off, 10)))
			if err != nil {
				return fmt.Errorf("opening image: %w", err)
			}
			off += int64(len(plain))
			data = data[chunkHeader+n:]
			if err := yield(plain); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteSubmission implements central.Store; the data key goes from the
// cache with the wrapped key from the store.
func (s *Store) DeleteSubmission(ctx context.Context, deviceID, key string) error {
	s.keys.drop(central.SubmissionRef{DeviceID: deviceID, Key: key})
	return s.Store.DeleteSubmission(ctx, deviceID, key)
}

// EraseSubmission implements central.Store as DeleteSubmission does.
func (s *Store) EraseSubmission(ctx context.Context, id string, ref central.SubmissionRef) error {
	s.keys.drop(ref)
	return s.Store.EraseSubmission(ctx, id, ref)
}

// Expire implements central.Store; deleting submissions empties the key
// cache, which may hold theirs.
func (s *Store) Expire(ctx context.Context, kind central.DataKind, before, at time.Time, limit int) (int, error) {
	n, err := s.Store.Expire(ctx, kind, before, at, limit)
	if n > 0 && kind == central.ExpireDecision {
		s.keys.reset()
	}
	return n, err
}

// keyCacheSize bounds the opened data keys kept: about as many uploads as
// can be in flight at once, with room.
const keyCacheSize = 4096

// keyCache maps submissions to their opened data keys. An entry is
// checked against the wrapped key read with the submission, when there is
// one: a submission erased and sent again through another instance has a
// new data key.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

type cachedKey struct {
	wrapped []byte
	aead    cipher.AEAD
}

func cacheKey(ref central.SubmissionRef) string { return ref.DeviceID + "\x00" + ref.Key }

// get returns the cached key of ref; when wrapped is not nil, only if it
// was cached under that wrapping.
func (c *keyCache) get(ref central.SubmissionRef, wrapped []byte) cipher.AEAD {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[cacheKey(ref)]
	if !ok || wrapped != nil && !bytes.Equal(e.wrapped, wrapped) {
		return nil
	}
	return e.aead
}

func (c *keyCache) put(ref central.SubmissionRef, wrapped []byte, a cipher.AEAD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= keyCacheSize {
		for k := range c.m { // an arbitrary entry: map order is random
			delete(c.m, k)
			break
		}
	}
	c.m[cacheKey(ref)] = cachedKey{wrapped: wrapped, aead: a}
}

func (c *keyCache) drop(ref central.SubmissionRef) {
	c.mu.Lock()
	delete(c.m, cacheKey(ref))
	c.mu.Unlock()
}

func (c *keyCache) reset() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
