package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// Sealer encrypts small secrets (TOTP secrets) with AES-256-GCM under the
// console's secret key, bound to a context string (the account name) so a
// sealed secret copied to another account does not open.
type Sealer struct {
	aead cipher.AEAD
}

// KeySize is the secret key's length.
const KeySize = 32

// NewSealer returns a Sealer for a KeySize-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, errors.New("auth: the secret key must be 32 bytes")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: a}, nil
}

const sealVersion = 1

// Seal encrypts plain for context: version byte, random nonce, ciphertext.
func (s *Sealer) Seal(plain []byte, context string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	return s.aead.Seal(out, nonce, plain, []byte(context))
}

// ErrSealed means a sealed secret does not open: another key, another
// context, or changed bytes.
var ErrSealed = errors.New("auth: sealed secret does not open")

// Open decrypts what Seal made for the same context.
func (s *Sealer) Open(sealed []byte, context string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, ErrSealed
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}
