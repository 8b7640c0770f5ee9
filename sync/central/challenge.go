package central

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// challenger issues and checks attestation challenges (protocol.Config's
// Challenge, which devices put in Attestation.Nonce). A challenge is
// stateless: base64url(issuedAt || HMAC(secret, deviceID || issuedAt)), so
// any instance sharing the sign key checks what another issued, and central
// keeps nothing per challenge. It proves an attestation was made after
// issuedAt, for this device.
type challenger struct {
	secret []byte
}

// challengeMACSize is the truncated HMAC length: 128 bits, which no device
// can guess.
const challengeMACSize = 16

// newChallenger derives the challenge secret from central's sign key, so it
// is stored (and shared by instances) like that key, yet a challenge reveals
// nothing of it.
func newChallenger(sign ed25519.PrivateKey) challenger {
	m := hmac.New(sha256.New, sign.Seed())
	m.Write([]byte("openkyc attestation challenge secret v1"))
	return challenger{secret: m.Sum(nil)}
}

func (c challenger) mac(deviceID string, issued []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(deviceID))))
	m.Write([]byte(deviceID))
	m.Write(issued)
	return m.Sum(nil)[:challengeMACSize]
}

// Issue returns the challenge for deviceID at time at (to the millisecond).
func (c challenger) Issue(deviceID string, at time.Time) string {
	issued := binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli()))
	return base64.RawURLEncoding.EncodeToString(append(issued, c.mac(deviceID, issued)...))
}

// Open checks that s is a challenge this central issued to deviceID and
// returns when; ok is false for anything else (forged, another device's,
// another central's, malformed).
func (c challenger) Open(deviceID, s string) (issuedAt time.Time, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 8+challengeMACSize {
		return time.Time{}, false
	}
	if !hmac.Equal(b[8:], c.mac(deviceID, b[:8])) {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b[:8]))), true
}

// ChallengeIssued is when this central issued challenge to deviceID (an
// attestation's Nonce); ok is false for anything it did not issue. An
// attestation signing it was made after that time, by central's clock.
func (s *Server) ChallengeIssued(deviceID, challenge string) (issuedAt time.Time, ok bool) {
	return s.challenge.Open(deviceID, challenge)
}
