package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Standard Webhooks headers.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// SecretPrefix starts every signing secret as shown to a partner.
const SecretPrefix = "whsec_"

// secretBytes is the size of a new secret's key (the spec allows 24 to 64).
const secretBytes = 32

// Tolerance is how far a webhook-timestamp may be from the receiver's
// clock, either way (the reference library's).
const Tolerance = 5 * time.Minute

// Verification errors (the reference library's, wrapped by Verify).
var (
	ErrMissingHeaders = standardwebhooks.ErrRequiredHeaders
	ErrBadSignature   = standardwebhooks.ErrNoMatchingSignature
	ErrTooOld         = standardwebhooks.ErrMessageTooOld
	ErrTooNew         = standardwebhooks.ErrMessageTooNew
	ErrBadSecret      = errors.New("webhook: a signing secret is whsec_ and base64")
)

// NewSecret returns a new signing secret, "whsec_" and the base64 of 32
// random bytes: what the partner API shows a partner once and seals.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook: making a secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// DecodeSecret returns the HMAC key of a secret as shown ("whsec_<base64>";
// the prefix is optional, as the reference libraries accept).
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, ErrBadSecret
	}
	return key, nil
}

// keyOf turns what Config.Open returns into an HMAC key: a secret as shown
// ("whsec_...") is decoded, anything else is the key itself.
func keyOf(opened []byte) ([]byte, error) {
	if s := string(opened); strings.HasPrefix(s, SecretPrefix) {
		return DecodeSecret(s)
	}
	if len(opened) == 0 {
		return nil, ErrBadSecret
	}
	return opened, nil
}

// Sign returns the webhook-signature value for one message: "v1,<sig>"
// for each key, space-separated (a receiver holding any one of the keys
// accepts it).
func Sign(keys [][]byte, id string, ts time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		wh, err := standardwebhooks.NewWebhookRaw(k)
		if err != nil {
			return "", fmt.Errorf("webhook: signing: %w", err)
		}
		sig, err := wh.Sign(id, ts, body)
		if err != nil {
			return "", fmt.Errorf("webhook: signing: %w", err)
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// SetHeaders sets the three Standard Webhooks headers of a request
// carrying body, signed with every key.
func SetHeaders(h http.Header, keys [][]byte, id string, ts time.Time, body []byte) error {
	sig, err := Sign(keys, id, ts, body)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Verify checks a received webhook with the receiver's secret
// ("whsec_..."): the headers must be present, the timestamp within
// Tolerance of now, and one of the v1 signatures the HMAC of
// id.timestamp.body (compared in constant time). It is the Standard
// Webhooks reference library's check; its errors are ErrMissingHeaders,
// ErrBadSignature, ErrTooOld, ErrTooNew (wrapped) and ErrBadSecret.
func Verify(secret string, h http.Header, body []byte) error {
	key, err := DecodeSecret(secret)
	if err != nil {
		return err
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return wh.Verify(body, h)
}
