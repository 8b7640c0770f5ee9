package push

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Alg is the envelope's algorithm.
const Alg = "A256GCM"

// ErrOpen means an envelope does not open: another key, another id or
// partner, or a changed byte.
var ErrOpen = errors.New("push: the envelope does not open with this key")

// Envelope is a push's body on the wire (see the package doc).
type Envelope struct {
	ID         string `json:"id"`
	PartnerID  string `json:"partner_id"`
	Alg        string `json:"alg"`
	KeyID      string `json:"kid"`
	Nonce      []byte `json:"nonce"`      // base64 in JSON
	Ciphertext []byte `json:"ciphertext"` // base64 in JSON, the tag at its end
}

// AAD is the additional data an envelope is sealed with.
func AAD(id, partnerID string) []byte {
	return []byte("openkyc-push-v1\n" + id + "\n" + partnerID)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	_, gcm, err := newBlockGCM(key)
	return gcm, err
}

func newBlockGCM(key []byte) (cipher.Block, cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, nil, fmt.Errorf("push: the key is %d bytes, not 32 (AES-256)", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	gcm, err := cipher.NewGCM(block)
	return block, gcm, err
}

// Seal encrypts plaintext for a partner under its 32-byte key, with a
// random nonce. The Sender writes the same envelope without holding the
// plaintext (writeEnvelope).
func Seal(key []byte, keyID, id, partnerID string, plaintext []byte) (Envelope, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return Envelope{}, err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return Envelope{ID: id, PartnerID: partnerID, Alg: Alg, KeyID: keyID, Nonce: nonce,
		Ciphertext: gcm.Seal(nil, nonce, plaintext, AAD(id, partnerID))}, nil
}

// Open decrypts an envelope with the partner's key: the partner's side
// (examples/partner). ErrOpen when it does not open.
func Open(key []byte, env Envelope) ([]byte, error) {
	if env.Alg != Alg {
		return nil, fmt.Errorf("push: unknown alg %q", env.Alg)
	}
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(env.Nonce) != gcm.NonceSize() {
		return nil, fmt.Errorf("%w: the nonce is %d bytes", ErrOpen, len(env.Nonce))
	}
	pt, err := gcm.Open(nil, env.Nonce, env.Ciphertext, AAD(env.ID, env.PartnerID))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
