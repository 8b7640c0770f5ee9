package vault

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// sealVersion is the first byte of every sealed value, so the format can
// change without guessing.
const sealVersion byte = 1

// sealOverhead is what seal adds to a plaintext: version, nonce and tag.
const sealOverhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// seal encrypts plaintext with XChaCha20-Poly1305 under key and a fresh
// random nonce (192-bit nonces are safe to draw at random). The result is
// version || nonce || ciphertext+tag.
func seal(key, plaintext, aad []byte) []byte {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		// Every key in the vault is keySize bytes by construction.
		panic("vault: bad key length: " + err.Error())
	}
	out := make([]byte, 1+aead.NonceSize(), len(plaintext)+sealOverhead)
	out[0] = sealVersion
	nonce := out[1:]
	copy(nonce, randomBytes(len(nonce)))
	return aead.Seal(out, nonce, plaintext, aad)
}

// unseal reverses seal. Any failure — wrong key, wrong AAD, a flipped bit, a
// truncated value — is ErrAuthentication.
func unseal(key, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: malformed sealed value", ErrAuthentication)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuthentication, err)
	}
	nonce := sealed[1 : 1+aead.NonceSize()]
	pt, err := aead.Open(nil, nonce, sealed[1+aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrAuthentication
	}
	return pt, nil
}

// AAD purposes: what a ciphertext is, so a wrapped DEK can never be
// accepted as a record or the master secret as either.
const (
	purposeRecord = "record"
	purposeDEK    = "dek"
	purposeMaster = "master"
)

// aad binds a ciphertext to its purpose, bucket and record key, so a value
// copied into another slot (or another bucket) fails authentication.
func aad(purpose, bucket string, id []byte) []byte {
	b := make([]byte, 0, 16+len(purpose)+len(bucket)+len(id))
	b = append(b, "openkyc-vault/1\x00"...)
	b = append(b, purpose...)
	b = append(b, 0)
	b = append(b, bucket...)
	b = append(b, 0)
	return append(b, id...)
}

// wrapDEK seals a data key and the record's creation time under the KEK.
// The time rides inside the seal so the retention sweep can read it without
// decrypting records and without leaving timestamps in plaintext.
func wrapDEK(kek []byte, bucket string, id, dek []byte, created time.Time) []byte {
	pt := make([]byte, 8, 8+len(dek))
	binary.BigEndian.PutUint64(pt, uint64(created.UnixNano()))
	pt = append(pt, dek...)
	return seal(kek, pt, aad(purposeDEK, bucket, id))
}

// unwrapDEK reverses wrapDEK.
func unwrapDEK(kek []byte, bucket string, id, wrapped []byte) (dek []byte, created time.Time, err error) {
	pt, err := unseal(kek, wrapped, aad(purposeDEK, bucket, id))
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(pt) != 8+keySize {
		return nil, time.Time{}, fmt.Errorf("%w: data key has %d bytes", ErrCorrupt, len(pt))
	}
	return pt[8:], time.Unix(0, int64(binary.BigEndian.Uint64(pt[:8]))), nil
}

// keyring holds the keys of an open vault. The master secret is random,
// wrapped by the KEK, and survives rotations, so keys derived from it (record
// ids, audit chain) stay stable while the KEK changes.
type keyring struct {
	kek      []byte
	idKey    []byte // HMAC key turning business ids into opaque record keys
	auditKey []byte // HMAC key of the audit hash chain
}

func newKeyring(kek, master []byte) (*keyring, error) {
	idKey, err := hkdf.Key(sha256.New, master, nil, "openkyc vault record ids v1", keySize)
	if err != nil {
		return nil, fmt.Errorf("deriving record-id key: %w", err)
	}
	auditKey, err := hkdf.Key(sha256.New, master, nil, "openkyc vault audit chain v1", keySize)
	if err != nil {
		return nil, fmt.Errorf("deriving audit key: %w", err)
	}
	return &keyring{kek: kek, idKey: idKey, auditKey: auditKey}, nil
}

// recordID maps a business id (a submission or session id chosen by the
// caller, possibly personal) to the opaque 32-byte key stored in the file.
func (k *keyring) recordID(kind, businessID string) []byte {
	m := hmac.New(sha256.New, k.idKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(businessID))
	return m.Sum(nil)
}

// wipe overwrites the keys. Best effort: the Go runtime may have copied
// them, so this narrows, not closes, the window for a memory dump.
func (k *keyring) wipe() {
	for _, b := range [][]byte{k.kek, k.idKey, k.auditKey} {
		clear(b)
	}
}
