package partnerapi

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// SecretKeySize is the size of a fresh Config.SecretKey.
const SecretKeySize = 32

// Prefixes of the secrets and ids the API hands out: a leaked one is
// recognisable (secret scanners), and a partner cannot mix them up.
const (
	prefixPartner = "ptn_"
	prefixClient  = "cli_"
	prefixPassKey = "pk_"
	prefixToken   = "ptk_"
	prefixSession = "ses_"
	// WebhookSecretPrefix starts a webhook signing secret (Standard
	// Webhooks: "whsec_" and the base64 of the secret's bytes).
	WebhookSecretPrefix = "whsec_"
)

// keys are the subkeys of Config.SecretKey, one per use.
type keys struct {
	passKey []byte // HMAC key of pass-key hashes
	token   []byte // derives partner tokens
	launch  []byte // derives launch tokens
	image   []byte // signs image links
	webhook []byte // AES-256-GCM key sealing webhook secrets
	// settings is the AES-256-GCM key sealing the secrets of the push and
	// reference-image settings (a key apart from webhook's, so a sealed
	// webhook secret never opens as one of those).
	settings []byte
	// faceMatch keys what a Face Match answer is stored under
	// (facematch_kept.go).
	faceMatch []byte
	// tag keys the tag ending every partner token and pass key central
	// makes (keys.tagged), by which one it made is told from a guess
	// without the store.
	tagKey []byte
}

func deriveKeys(secret []byte) (keys, error) {
	if len(secret) < 32 {
		return keys{}, errors.New("partnerapi: Config.SecretKey must be at least 32 bytes")
	}
	sub := func(info string) ([]byte, error) {
		return hkdf.Key(sha256.New, secret, nil, "openkyc partnerapi "+info, 32)
	}
	var k keys
	var err error
	for _, p := range []struct {
		dst  *[]byte
		info string
	}{{&k.passKey, "pass-key"}, {&k.token, "token"}, {&k.launch, "launch"}, {&k.image, "image-link"}, {&k.webhook, "webhook-secret"},
		{&k.settings, "settings-secret"}, {&k.faceMatch, "face-match-kept"}, {&k.tagKey, "credential-tag"}} {
		if *p.dst, err = sub(p.info); err != nil {
			return keys{}, fmt.Errorf("partnerapi: deriving keys: %w", err)
		}
	}
	return k, nil
}

// random returns n random bytes in base64url without padding.
func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newPartnerID() string { return prefixPartner + random(9) }
func newClientID() string  { return prefixClient + random(15) }
func newSessionID() string { return prefixSession + random(15) }

// newPassKey returns a fresh pass key: 32 random bytes, tagged.
func (k keys) newPassKey() string { return k.tagged(prefixPassKey, random(32)) }

// tagLen is the size of a credential's tag (128 bits: not guessed).
const tagLen = 16

// tagged is prefix and body followed by their tag, a truncated HMAC under
// the tag key: a credential central made (a partner token, a pass key)
// carries one, so that one no longer valid (expired and cleared from the
// store, revoked, of a disabled partner) is told from a guess before, and
// without, any lookup (madeHere). Only a guess spends its address's
// failure budget: a partner backend still sending its stale token must
// not lock out every neighbour behind its NAT.
func (k keys) tagged(prefix, body string) string {
	return prefix + body + k.tag(prefix, body)
}

func (k keys) tag(prefix, body string) string {
	return base64.RawURLEncoding.EncodeToString(mac(k.tagKey, prefix, body)[:tagLen])
}

// madeHere reports whether cred is a credential with prefix that central
// made under this SecretKey (it carries its tag). Pass keys made before
// they were tagged carry none, and are judged by the store.
func (k keys) madeHere(prefix, cred string) bool {
	rest, ok := strings.CutPrefix(cred, prefix)
	n := base64.RawURLEncoding.EncodedLen(tagLen)
	if !ok || len(rest) <= n {
		return false
	}
	body, tag := rest[:len(rest)-n], rest[len(rest)-n:]
	return hmac.Equal([]byte(tag), []byte(k.tag(prefix, body)))
}

func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// hashPassKey is a pass key's stored hash: HMAC-SHA256 under the pass-key
// key, hex (see the package doc for why a fast keyed hash).
func (k keys) hashPassKey(passKey string) string {
	return hex.EncodeToString(mac(k.passKey, passKey))
}

// checkPassKey reports whether passKey matches one of p's keys valid at
// now, comparing with every key in constant time.
func (k keys) checkPassKey(p central.Partner, passKey string, now time.Time) bool {
	got := []byte(k.hashPassKey(passKey))
	ok := 0
	for _, key := range p.Keys {
		eq := subtle.ConstantTimeCompare(got, []byte(key.Hash))
		if key.NotAfter.IsZero() || now.Before(key.NotAfter) {
			ok |= eq
		}
	}
	return ok == 1
}

// partnerToken derives the token of a partner's token record created at
// createdAt (microseconds, what every store keeps): the store holds only
// its SHA-256, and the same token can be handed out again.
// It is tagged (keys.tagged).
func (k keys) partnerToken(partnerID string, createdAt time.Time) string {
	return k.tagged(prefixToken, base64.RawURLEncoding.EncodeToString(mac(k.token, partnerID, fmt.Sprint(createdAt.UnixMicro()))))
}

// tokenHash is the stored hash of a bearer or launch token.
func tokenHash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// launchToken derives the secret of a session's launch URL from the
// session and its creation (microseconds, what every store keeps), so a
// session id used again after retention removed its session gets a new
// URL. A zero created derives the token of sessions made before it was
// bound to their creation (API.launchURL).
func (k keys) launchToken(partnerID, sessionID string, created time.Time) string {
	if created.IsZero() {
		return base64.RawURLEncoding.EncodeToString(mac(k.launch, partnerID, sessionID))
	}
	return base64.RawURLEncoding.EncodeToString(mac(k.launch, partnerID, sessionID, fmt.Sprint(created.UnixMicro())))
}

// newWebhookSecret returns a fresh signing secret ("whsec_" and base64 of
// 32 random bytes) and its sealed form for the store.
func (k keys) newWebhookSecret(partnerID string) (string, []byte, error) {
	b := make([]byte, 32)
	rand.Read(b)
	secret := WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
	sealed, err := sealSecret(k.webhook, partnerID, secret)
	return secret, sealed, err
}

// sealSecret seals secret with AES-256-GCM (nonce || ciphertext), bound to
// the partner (additional data), so a sealed secret moved to another
// partner's record does not open.
func sealSecret(key []byte, partnerID, secret string) ([]byte, error) {
	return seal(key, "partner:"+partnerID, []byte(secret))
}

// seal encrypts plaintext with AES-256-GCM under key, bound to aad:
// nonce || ciphertext.
func seal(key []byte, aad string, plaintext []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plaintext, []byte(aad)), nil
}

// unseal opens what seal made with the same key and aad.
func unseal(key []byte, aad string, sealed []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("sealed secret too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], []byte(aad))
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// OpenWebhookSecret opens a sealed webhook secret of a partner (as stored
// in central.WebhookSecret.Sealed) with the partner API's SecretKey: the
// webhook worker signs with it.
func OpenWebhookSecret(secretKey []byte, partnerID string, sealed []byte) (string, error) {
	k, err := deriveKeys(secretKey)
	if err != nil {
		return "", err
	}
	pt, err := unseal(k.webhook, "partner:"+partnerID, sealed)
	if err != nil {
		return "", errors.New("partnerapi: webhook secret does not open (another SecretKey?)")
	}
	return string(pt), nil
}

// WebhookSecrets returns a partner's webhook secrets valid at now, newest
// first ("whsec_..."), for signing with each (Standard Webhooks allows
// several signatures, which is how a rotation overlaps).
func WebhookSecrets(secretKey []byte, p central.Partner, now time.Time) ([]string, error) {
	var out []string
	for _, s := range p.Webhook.Secrets {
		if !s.NotAfter.IsZero() && !now.Before(s.NotAfter) {
			continue
		}
		sec, err := OpenWebhookSecret(secretKey, p.ID, s.Sealed)
		if err != nil {
			return nil, err
		}
		out = append(out, sec)
	}
	return out, nil
}

// bearer returns the partner token of r: Authorization: Bearer, or the
// seeds' x-onekyc-token. The scheme's name is case-insensitive (RFC 9110
// 11.1): clients that send "bearer" are not told their token is missing.
func bearer(h interface{ Get(string) string }) string {
	auth := h.Get("Authorization")
	if scheme, v, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(h.Get("x-onekyc-token"))
}
