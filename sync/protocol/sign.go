package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signature headers. Every device request carries all five.
const (
	HeaderDevice    = "X-Kyc-Device"
	HeaderTimestamp = "X-Kyc-Timestamp" // Unix milliseconds
	HeaderNonce     = "X-Kyc-Nonce"
	HeaderBodyHash  = "X-Kyc-Content-Sha256" // hex; central recomputes it
	HeaderSignature = "X-Kyc-Signature"      // base64 Ed25519 signature
)

// nonceSize is the random part of a nonce.
const nonceSize = 16

// signingDomain separates request signatures from anything else the device
// key signs (attestations use another domain).
const signingDomain = "openkyc request v1"

// ErrUnsigned means a request lacks one of the signature headers.
var ErrUnsigned = errors.New("request is not signed")

// ErrBadSignature means a request's signature does not verify, or its body
// does not match the hash it was signed with.
var ErrBadSignature = errors.New("request signature does not verify")

// Signed is the parsed signature of a request.
type Signed struct {
	DeviceID  string
	Timestamp time.Time
	Nonce     string
	BodyHash  [sha256.Size]byte
	Signature []byte
}

// canonical is the byte string a signature covers: method, request URI
// (path and query), body hash, timestamp, nonce and device id, newline
// separated. None of them can contain a newline once parsed.
func canonical(method, requestURI string, bodyHash [sha256.Size]byte, ts time.Time, nonce, deviceID string) []byte {
	var b bytes.Buffer
	for _, s := range []string{signingDomain, method, requestURI, hex.EncodeToString(bodyHash[:]), strconv.FormatInt(ts.UnixMilli(), 10), nonce, deviceID} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Sign sets the signature headers on req for a request whose body hashes to
// bodyHash, with a fresh nonce and the timestamp now.
func Sign(req *http.Request, bodyHash [sha256.Size]byte, deviceID string, key ed25519.PrivateKey, now time.Time) {
	nb := make([]byte, nonceSize)
	rand.Read(nb)
	nonce := base64.RawURLEncoding.EncodeToString(nb)
	ts := time.UnixMilli(now.UnixMilli())
	sig := ed25519.Sign(key, canonical(req.Method, req.URL.RequestURI(), bodyHash, ts, nonce, deviceID))
	h := req.Header
	h.Set(HeaderDevice, deviceID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.UnixMilli(), 10))
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderBodyHash, hex.EncodeToString(bodyHash[:]))
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
}

// Resign replaces the timestamp, nonce and signature of a request already
// signed with Sign, for a retry: the body hash header is reused.
func Resign(req *http.Request, key ed25519.PrivateKey, now time.Time) error {
	s, err := ParseSigned(req.Header)
	if err != nil {
		return err
	}
	Sign(req, s.BodyHash, s.DeviceID, key, now)
	return nil
}

// ParseSigned reads the signature headers of a request.
func ParseSigned(h http.Header) (Signed, error) {
	var s Signed
	dev, ts, nonce, bh, sig := h.Get(HeaderDevice), h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderBodyHash), h.Get(HeaderSignature)
	if dev == "" || ts == "" || nonce == "" || bh == "" || sig == "" {
		return s, ErrUnsigned
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return s, fmt.Errorf("%w: bad timestamp", ErrBadSignature)
	}
	hb, err := hex.DecodeString(bh)
	if err != nil || len(hb) != sha256.Size {
		return s, fmt.Errorf("%w: bad body hash", ErrBadSignature)
	}
	if s.Signature, err = base64.StdEncoding.DecodeString(sig); err != nil || len(s.Signature) != ed25519.SignatureSize {
		return s, fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	if len(nonce) > 64 || len(dev) > 64 {
		return s, fmt.Errorf("%w: oversized header", ErrBadSignature)
	}
	// Sign's nonces are base64url; any other byte (a header may carry
	// anything) is refused here, before a store is asked to keep it:
	// PostgreSQL fails text that is not UTF-8.
	if strings.ContainsFunc(nonce, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
	}) {
		return s, fmt.Errorf("%w: malformed nonce", ErrBadSignature)
	}
	s.DeviceID, s.Timestamp, s.Nonce = dev, time.UnixMilli(ms), nonce
	copy(s.BodyHash[:], hb)
	return s, nil
}

// Verify checks s against the request (method and URI), its body and the
// device's public key. It does not judge freshness or replay: that needs
// central's clock and nonce store.
func (s Signed) Verify(pub ed25519.PublicKey, method, requestURI string, body []byte) error {
	if sha256.Sum256(body) != s.BodyHash {
		return fmt.Errorf("%w: body does not match its hash", ErrBadSignature)
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, canonical(method, requestURI, s.BodyHash, s.Timestamp, s.Nonce, s.DeviceID), s.Signature) {
		return ErrBadSignature
	}
	return nil
}
