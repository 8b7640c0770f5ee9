package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/central"
)

// Errors of the key providers.
var (
	// ErrUnknownKey means a data key is wrapped by a key-encryption key the
	// provider does not hold: retired, or from another keyring.
	ErrUnknownKey = errors.New("seal: key-encryption key unknown or retired")
	// ErrBadKeyring means a keyring file is malformed or readable by
	// others.
	ErrBadKeyring = errors.New("seal: bad keyring file")
)

// KEKProvider wraps data keys under key-encryption keys (KEKs) it holds.
// The file provider (FileKeyring) keeps them in a local file; a KMS
// implements the same three calls with its encrypt/decrypt API, aad as the
// encryption context, and the KMS key version as the key id.
type KEKProvider interface {
	// Wrap encrypts dek under the current KEK, bound to aad, and returns
	// that KEK's id with the wrapped key.
	Wrap(ctx context.Context, dek, aad []byte) (keyID string, wrapped []byte, err error)
	// Unwrap decrypts a data key that KEK keyID wrapped with aad;
	// ErrUnknownKey if the provider no longer holds keyID.
	Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error)
	// CurrentKeyID is the id of the KEK Wrap uses now.
	CurrentKeyID(ctx context.Context) (string, error)
}

// Indexer turns an identifier into its blind-index token: a keyed hash
// (HMAC-SHA256) of the normalised value, so equal values match while the
// stored token tells nothing without the key. It implements
// central.BlindIndex.
//
// It also seals the short personal values central keeps beside no
// submission (a partner's user reference, flow.go) under a key derived
// from the index key: those outlive any KEK (a rotation rewraps only
// submissions' data keys) as the tokens do.
type Indexer interface {
	Token(kind central.IdentifierKind, value string) ([]byte, bool)
	// SealField encrypts plain bound to aad; OpenField opens it
	// (ErrTampered when it does not authenticate).
	SealField(plain, aad []byte) ([]byte, error)
	OpenField(sealed, aad []byte) ([]byte, error)
}

// keyringFormat heads every keyring file.
const keyringFormat = "openkyc-central-keyring-v1"

// keyringFile is the keyring as stored (JSON, mode 0600).
type keyringFile struct {
	Format string `json:"format"`
	// Current is the id of the KEK new data keys are wrapped with.
	Current string `json:"current"`
	KEKs    []kek  `json:"keks"`
	// IndexKey keys the blind index. It is not rotated with the KEKs:
	// every token would have to be recomputed from the payloads.
	IndexKey []byte `json:"index_key"`
}

type kek struct {
	ID      string    `json:"id"`
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

// FileKeyring is a KEKProvider and Indexer over a local keyring file: the
// key-encryption keys (one current, older ones kept until rotation has
// rewrapped every data key) and the blind-index key. It notices when the
// file changes (a rotation run by `kyc-central keys rotate`, in this or
// another process) and reloads it before the next use, so a running
// central wraps with the new KEK and forgets retired ones.
type FileKeyring struct {
	path string

	mu    sync.Mutex
	stat  fs.FileInfo // of the file as last loaded
	file  keyringFile
	aeads map[string]cipher.AEAD // by KEK id
}

var (
	_ KEKProvider = (*FileKeyring)(nil)
	_ Indexer     = (*FileKeyring)(nil)
)

// LoadOrCreateKeyring opens the keyring file at path, creating it (mode
// 0600, written atomically) with a new KEK and index key when it does not
// exist. Several central instances sharing a store must share the file.
func LoadOrCreateKeyring(path string) (*FileKeyring, error) {
	k := &FileKeyring{path: path}
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.reload()
	if errors.Is(err, fs.ErrNotExist) {
		f := keyringFile{Format: keyringFormat, IndexKey: random(32)}
		f.add(time.Now())
		data, merr := json.MarshalIndent(f, "", "  ")
		if merr != nil {
			return nil, fmt.Errorf("creating keyring: %w", merr)
		}
		if err := atomicfile.Create(path, data); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("creating keyring: %w", err)
		}
		// Created here or, meanwhile, by another instance: read it back.
		err = k.reload()
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// kekIDTime is the layout of the time in a KEK's id (checkRecorded
// orders KEKs by it).
const kekIDTime = "20060102T150405Z"

// add makes a new KEK current.
func (f *keyringFile) add(now time.Time) string {
	id := "kek-" + now.UTC().Format(kekIDTime) + "-" + hex.EncodeToString(random(4))
	f.KEKs = append(f.KEKs, kek{ID: id, Key: random(32), Created: now.UTC()})
	f.Current = id
	return id
}

// reload reads the file if it changed since it was last read. Callers hold
// k.mu.
func (k *FileKeyring) reload() error {
	fi, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("reading keyring: %w", err)
	}
	if k.stat != nil && os.SameFile(fi, k.stat) && fi.ModTime().Equal(k.stat.ModTime()) && fi.Size() == k.stat.Size() {
		return nil
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("reading keyring %s: %w: mode %v is readable by others", k.path, ErrBadKeyring, fi.Mode().Perm())
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("reading keyring: %w", err)
	}
	var f keyringFile
	if err := json.Unmarshal(data, &f); err != nil || f.Format != keyringFormat || len(f.IndexKey) != 32 {
		return fmt.Errorf("reading keyring %s: %w", k.path, ErrBadKeyring)
	}
	aeads := make(map[string]cipher.AEAD, len(f.KEKs))
	for _, e := range f.KEKs {
		a, err := newAEAD(e.Key)
		if err != nil || e.ID == "" {
			return fmt.Errorf("reading keyring %s: %w: key %q", k.path, ErrBadKeyring, e.ID)
		}
		aeads[e.ID] = a
	}
	if aeads[f.Current] == nil {
		return fmt.Errorf("reading keyring %s: %w: no current key", k.path, ErrBadKeyring)
	}
	k.stat, k.file, k.aeads = fi, f, aeads
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("seal: keys are 32 bytes")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// kekAAD binds a wrapped data key to the KEK's id as well as to the
// caller's aad (the submission it belongs to).
func kekAAD(keyID string, aad []byte) []byte {
	return append([]byte("openkyc central kek v1\x00"+keyID+"\x00"), aad...)
}

// Wrap implements KEKProvider.
func (k *FileKeyring) Wrap(_ context.Context, dek, aad []byte) (string, []byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return "", nil, err
	}
	id := k.file.Current
	return id, encrypt(k.aeads[id], dek, kekAAD(id, aad)), nil
}

// Unwrap implements KEKProvider.
func (k *FileKeyring) Unwrap(_ context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return nil, err
	}
	a := k.aeads[keyID]
	if a == nil {
		return nil, fmt.Errorf("unwrapping data key: %w: %q", ErrUnknownKey, keyID)
	}
	dek, err := decrypt(a, wrapped, kekAAD(keyID, aad))
	if err != nil {
		return nil, fmt.Errorf("unwrapping data key: %w", err)
	}
	return dek, nil
}

// CurrentKeyID implements KEKProvider.
func (k *FileKeyring) CurrentKeyID(context.Context) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return "", err
	}
	return k.file.Current, nil
}

// KeyIDs lists the KEKs held, oldest first, and the current one.
func (k *FileKeyring) KeyIDs() (ids []string, current string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return nil, "", err
	}
	for _, e := range k.file.KEKs {
		ids = append(ids, e.ID)
	}
	return ids, k.file.Current, nil
}

// AddKey makes a new KEK current and writes the file; older KEKs stay to
// unwrap the data keys not yet rewrapped.
func (k *FileKeyring) AddKey(now time.Time) (string, error) {
	var id string
	err := k.change(func(f *keyringFile) { id = f.add(now) })
	return id, err
}

// Retire deletes every KEK but the current one: data keys still wrapped by
// them can no longer be opened, nor can any copy of them left in a
// backup, a free page of the store or its write-ahead log.
func (k *FileKeyring) Retire() ([]string, error) {
	var retired []string
	err := k.change(func(f *keyringFile) {
		f.KEKs = slices.DeleteFunc(f.KEKs, func(e kek) bool {
			if e.ID != f.Current {
				retired = append(retired, e.ID)
				return true
			}
			return false
		})
	})
	return retired, err
}

// change rewrites the file with fn applied, atomically.
func (k *FileKeyring) change(fn func(*keyringFile)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return err
	}
	f := k.file
	f.KEKs = slices.Clone(f.KEKs)
	fn(&f)
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("writing keyring: %w", err)
	}
	if err := atomicfile.Write(k.path, data); err != nil {
		return fmt.Errorf("writing keyring: %w", err)
	}
	k.stat = nil // read back what was written
	return k.reload()
}

// Token implements Indexer.
func (k *FileKeyring) Token(kind central.IdentifierKind, value string) ([]byte, bool) {
	norm, ok := Normalize(kind, value)
	if !ok {
		return nil, false
	}
	k.mu.Lock()
	key := k.file.IndexKey
	k.mu.Unlock()
	return token(key, kind, norm), true
}

// SealField implements Indexer.
func (k *FileKeyring) SealField(plain, aad []byte) ([]byte, error) {
	a, err := k.fieldAEAD()
	if err != nil {
		return nil, err
	}
	return encrypt(a, plain, aad), nil
}

// OpenField implements Indexer.
func (k *FileKeyring) OpenField(sealed, aad []byte) ([]byte, error) {
	a, err := k.fieldAEAD()
	if err != nil {
		return nil, err
	}
	return decrypt(a, sealed, aad)
}

// fieldAEAD is the field key's cipher: HMAC-SHA256 of a label under the
// index key, so it is never the index key itself.
func (k *FileKeyring) fieldAEAD() (cipher.AEAD, error) {
	k.mu.Lock()
	key := k.file.IndexKey
	k.mu.Unlock()
	m := hmac.New(sha256.New, key)
	m.Write([]byte("openkyc central seal v1\x00field key"))
	return newAEAD(m.Sum(nil))
}

func token(key []byte, kind central.IdentifierKind, norm string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("openkyc blind index v1\x00" + string(kind) + "\x00" + norm))
	return m.Sum(nil)
}

// encrypt seals plain with a random nonce: version byte, nonce, ciphertext.
func encrypt(a cipher.AEAD, plain, aad []byte) []byte {
	return appendEncrypted(make([]byte, 0, 1+a.NonceSize()+len(plain)+a.Overhead()), a, plain, aad)
}

// appendEncrypted is encrypt appending to dst.
func appendEncrypted(dst []byte, a cipher.AEAD, plain, aad []byte) []byte {
	head := len(dst)
	dst = append(dst, formatV1)
	dst = append(dst, make([]byte, a.NonceSize())...)
	nonce := dst[head+1:]
	rand.Read(nonce)
	return a.Seal(dst, nonce, plain, aad)
}

// decrypt opens what encrypt sealed; ErrTampered when it does not
// authenticate (altered, or moved from another row or position).
func decrypt(a cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	return appendDecrypted(nil, a, sealed, aad)
}

// appendDecrypted is decrypt appending to dst.
func appendDecrypted(dst []byte, a cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	n := a.NonceSize()
	if len(sealed) < 1+n+a.Overhead() || sealed[0] != formatV1 {
		return nil, ErrTampered
	}
	plain, err := a.Open(dst, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, ErrTampered
	}
	return plain, nil
}

// formatV1 is the first byte of everything sealed: AES-256-GCM, 12-byte
// random nonce.
const formatV1 = 1
