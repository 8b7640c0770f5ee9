package device

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Attestation is a device check report signed with the device's Ed25519
// key, for central to verify before trusting a session from the device.
type Attestation struct {
	DeviceID   string `json:"device_id"`
	AppVersion string `json:"app_version"`
	// Nonce is central's challenge, when it sent one, so that an old
	// clean attestation cannot be replayed.
	Nonce     string `json:"nonce,omitempty"`
	Report    Report `json:"report"`
	Signature []byte `json:"signature,omitempty"`
}

// ErrBadSignature is returned by Verify when the signature does not match
// the attestation and key: a field was changed or another key signed it.
var ErrBadSignature = errors.New("attestation signature does not verify")

// ErrMissingDeviceID is returned by Sign for an attestation without a
// device id, which central could not attribute.
var ErrMissingDeviceID = errors.New("attestation has no device id")

// Sign signs the canonical encoding of a with signer, which must hold an
// Ed25519 key (an ed25519.PrivateKey, or the vault's signer), and stores the
// signature in a.
func (a *Attestation) Sign(signer crypto.Signer) error {
	if a.DeviceID == "" {
		return ErrMissingDeviceID
	}
	if _, ok := signer.Public().(ed25519.PublicKey); !ok {
		return fmt.Errorf("signing attestation: key is %T, not Ed25519", signer.Public())
	}
	sig, err := signer.Sign(nil, a.canonical(), crypto.Hash(0))
	if err != nil {
		return fmt.Errorf("signing attestation: %w", err)
	}
	a.Signature = sig
	return nil
}

// Verify checks att's signature against the device's public key.
func Verify(pub ed25519.PublicKey, att Attestation) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verifying attestation: public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if !ed25519.Verify(pub, att.canonical(), att.Signature) {
		return ErrBadSignature
	}
	return nil
}

// attestationDomain separates these signatures from anything else the
// device key signs, and versions the encoding.
const attestationDomain = "openkyc device attestation v1\x00"

// canonical encodes every field but the signature: strings length-prefixed,
// numbers big-endian, checks in report order, evidence sorted by key, the
// time as UTC RFC 3339 with nanoseconds. Unlike JSON it has one encoding per
// value, so it survives any round trip the attestation takes.
func (a Attestation) canonical() []byte {
	var b bytes.Buffer
	b.WriteString(attestationDomain)
	r := a.Report
	for _, s := range []string{
		a.DeviceID, a.AppVersion, a.Nonce,
		string(r.Profile), string(r.Verdict), r.Time.UTC().Format(time.RFC3339Nano),
		r.OS, r.Kernel, r.Arch,
	} {
		putString(&b, s)
	}
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(r.DurationMS)))
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(r.Checks))))
	for _, c := range r.Checks {
		putString(&b, c.Name)
		putString(&b, string(c.Status))
		putString(&b, string(c.Severity))
		keys := slices.Sorted(maps.Keys(c.Evidence))
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(keys))))
		for _, k := range keys {
			putString(&b, k)
			putString(&b, c.Evidence[k])
		}
	}
	return b.Bytes()
}

func putString(b *bytes.Buffer, s string) {
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
	b.WriteString(s)
}
