package protocol

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"golang.org/x/crypto/nacl/box"
)

// ContentKeySize is the size of an image content key.
const ContentKeySize = chacha20poly1305.KeySize

// ErrOpen means a sealed manifest or chunk failed to decrypt: wrong key,
// truncated, or tampered with.
var ErrOpen = errors.New("sealed payload does not open")

// SealManifest encrypts a manifest to central's X25519 public key with an
// anonymous NaCl box (ephemeral X25519, XSalsa20-Poly1305): only the
// holder of central's private key can read it, and a proxy that terminates
// TLS sees ciphertext.
func SealManifest(centralPub *[32]byte, plaintext []byte) ([]byte, error) {
	out, err := box.SealAnonymous(nil, plaintext, centralPub, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sealing manifest: %w", err)
	}
	return out, nil
}

// OpenManifest decrypts a sealed manifest with central's key pair.
func OpenManifest(pub, priv *[32]byte, sealed []byte) ([]byte, error) {
	pt, ok := box.OpenAnonymous(nil, sealed, pub, priv)
	if !ok {
		return nil, ErrOpen
	}
	return pt, nil
}

// ContentKey derives the key an image's chunks are sealed with from a
// device secret, the submission id, the image name and the image's SHA-256.
// It is deterministic, so a device that crashed mid-upload seals the rest of
// the image exactly as before and central can continue the upload; and it
// covers the image hash, so different bytes never share a key (a deleted
// and recaptured submission with the same id gets new keys).
func ContentKey(deviceSecret []byte, submissionID, image string, sum [sha256.Size]byte) ([]byte, error) {
	info := make([]byte, 0, 64+len(submissionID)+len(image))
	info = append(info, "openkyc content key v1\x00"...)
	info = binary.BigEndian.AppendUint32(info, uint32(len(submissionID)))
	info = append(info, submissionID...)
	info = binary.BigEndian.AppendUint32(info, uint32(len(image)))
	info = append(info, image...)
	info = append(info, sum[:]...)
	k, err := hkdf.Key(sha256.New, deviceSecret, nil, string(info), ContentKeySize)
	if err != nil {
		return nil, fmt.Errorf("deriving content key: %w", err)
	}
	return k, nil
}

// chunkNonce makes the nonce of the chunk at offset with n plaintext bytes.
// A key seals exactly one image, and (offset, n) names one slice of it, so
// a nonce repeats only with the same plaintext.
func chunkNonce(offset int64, n int) []byte {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	binary.BigEndian.PutUint64(nonce, uint64(offset))
	binary.BigEndian.PutUint64(nonce[8:], uint64(n))
	return nonce
}

// chunkAAD binds a chunk to its image and position, so chunks cannot be
// moved between images or offsets.
func chunkAAD(image string, offset int64) []byte {
	a := append([]byte("openkyc chunk v1\x00"), image...)
	return binary.BigEndian.AppendUint64(append(a, 0), uint64(offset))
}

// SealChunk encrypts the plaintext of image starting at offset with
// XChaCha20-Poly1305 under the image's content key.
func SealChunk(key []byte, image string, offset int64, plaintext []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("sealing chunk: %w", err)
	}
	return aead.Seal(nil, chunkNonce(offset, len(plaintext)), plaintext, chunkAAD(image, offset)), nil
}

// OpenChunk decrypts a chunk sealed with SealChunk.
func OpenChunk(key []byte, image string, offset int64, sealed []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("opening chunk: %w", err)
	}
	n := len(sealed) - aead.Overhead()
	if n < 0 {
		return nil, ErrOpen
	}
	pt, err := aead.Open(nil, chunkNonce(offset, n), sealed, chunkAAD(image, offset))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// ChunkOverhead is what sealing adds to a chunk.
const ChunkOverhead = chacha20poly1305.Overhead
