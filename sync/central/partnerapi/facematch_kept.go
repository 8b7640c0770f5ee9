package partnerapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// What central keeps of a Face Match call answered under an
// Idempotency-Key (a.cfg.Store.Idempotent, 24 h): the call names no person
// and no session (two images and an option), so an erasure by NIK, name or
// submission could never find it. Central therefore keeps nothing it can
// read without the request itself: the partner's key and the request's
// content only as HMACs under a subkey of SecretKey (the key may be the
// partner's user id; the content hash refuses another request under the
// key), and the answer (similarity, score, decision, liveness, the faces'
// boxes and landmarks) sealed with AES-256-GCM under a key derived from
// the two images, which central never stores. The same request again opens
// it; nobody holding the store, or the store and SecretKey, can.

// faceMatchKept derives what is stored of a Face Match call.
type faceMatchKept struct {
	key []byte // HMAC key (keys.faceMatch)
}

// storeKey is the Idempotency-Key as stored: prefixed by the endpoint,
// the partner's key only as its HMAC.
func (k faceMatchKept) storeKey(key string) string {
	return "face-match:" + base64.RawURLEncoding.EncodeToString(mac(k.key, "idempotency-key", key))
}

// digests reads req's content once: requestHash is stored with the answer
// (the same images and option hash alike, whatever their encoding);
// answerKey seals the answer and is never stored.
func (k faceMatchKept) digests(req FaceMatchRequest) (requestHash, answerKey []byte) {
	rh, ak := hmac.New(sha256.New, k.key), hmac.New(sha256.New, k.key)
	rh.Write([]byte("request\x00"))
	ak.Write([]byte("answer\x00"))
	writeFaceMatch(io.MultiWriter(rh, ak), req)
	return rh.Sum(nil), ak.Sum(nil)
}

// writeFaceMatch writes req's content, each image's length before it.
func writeFaceMatch(w io.Writer, req FaceMatchRequest) {
	for _, b := range [][]byte{req.Selfie, req.Reference} {
		_ = binary.Write(w, binary.BigEndian, uint64(len(b))) // hashes never fail to write
		_, _ = w.Write(b)
	}
	if req.SkipLiveness {
		_, _ = w.Write([]byte{1})
	} else {
		_, _ = w.Write([]byte{0})
	}
}

// answerAAD binds a sealed answer to its partner, stored key and status.
func answerAAD(partnerID, storeKey string, status int) string {
	return "face-match\x00" + partnerID + "\x00" + storeKey + "\x00" + strconv.Itoa(status)
}

// sealAnswer seals body, the answer stored for the key.
func sealAnswer(answerKey []byte, aad string, body []byte) ([]byte, error) {
	b, err := seal(answerKey, aad, body)
	if err != nil {
		return nil, fmt.Errorf("sealing the face match answer: %w", err)
	}
	return b, nil
}

// openAnswer opens a stored answer with the request's answerKey.
func openAnswer(answerKey []byte, aad string, sealed []byte) ([]byte, error) {
	b, err := unseal(answerKey, aad, sealed)
	if err != nil {
		return nil, fmt.Errorf("opening the stored face match answer: %w", err)
	}
	return b, nil
}
