package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
)

// VerifyHeaders checks the signature of s over the request's method, URI
// and headers alone. The body hash is one of those headers, so central can
// authenticate a request before it reads (or waits for) the body, and then
// check the body against the hash with VerifyBody as it arrives.
func (s Signed) VerifyHeaders(pub ed25519.PublicKey, method, requestURI string) error {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, canonical(method, requestURI, s.BodyHash, s.Timestamp, s.Nonce, s.DeviceID), s.Signature) {
		return ErrBadSignature
	}
	return nil
}

// VerifyBody checks that body is the one the signature's body hash names.
func (s Signed) VerifyBody(body []byte) error {
	if sha256.Sum256(body) != s.BodyHash {
		return fmt.Errorf("%w: body does not match its hash", ErrBadSignature)
	}
	return nil
}
