package device

import (
	"crypto/ed25519"

	"github.com/openkyc/kyc/attest"
)

// Attestation is a device check report signed with the device's Ed25519
// key. The format lives in package attest, which central imports without
// the engine; this alias keeps the device package's name for it.
type Attestation = attest.Attestation

// ErrBadSignature is returned by Verify when the signature does not match
// the attestation and key: a field was changed or another key signed it.
var ErrBadSignature = attest.ErrBadSignature

// ErrMissingDeviceID is returned by Sign for an attestation without a
// device id, which central could not attribute.
var ErrMissingDeviceID = attest.ErrMissingDeviceID

// Verify checks att's signature against the device's public key.
func Verify(pub ed25519.PublicKey, att Attestation) error { return attest.Verify(pub, att) }
