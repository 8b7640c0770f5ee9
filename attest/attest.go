// Package attest is the device attestation format that both sides of sync
// share: the device check report (Report and its Results), the Attestation
// that signs it with the device's Ed25519 key, and its verification. The
// device (engine/device, the app, the CLI) makes attestations; central
// verifies them, without depending on the engine.
//
// The signature covers a canonical binary encoding rather than JSON, so an
// attestation survives any round trip it takes (JSON, a database, a queue)
// and still verifies.
package attest

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Status is the outcome of one check.
type Status string

// Check outcomes, from harmless to alarming.
const (
	StatusPass Status = "pass"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
)

// rank orders statuses so a result's status only ever rises.
func rank(s Status) int {
	switch s {
	case StatusFail:
		return 2
	case StatusWarn:
		return 1
	}
	return 0
}

// Severity ranks how much a finding matters for fraud risk. A passing check
// carries the severity its failure would have, so consumers can weight both.
type Severity string

// Severities, from least to most serious.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Profile names a deployment profile.
type Profile string

// Deployment profiles.
const (
	// ProfileKiosk is an unattended kiosk: nobody watches the session, so
	// anything that could let someone tamper with it blocks.
	ProfileKiosk Profile = "kiosk"
	// ProfileField is a field laptop operated by staff, who see the
	// applicant; softer findings warn instead of blocking.
	ProfileField Profile = "field"
)

// Verdict is the policy's decision on a report.
type Verdict string

// Verdicts, from harmless to blocking.
const (
	VerdictOK    Verdict = "ok"
	VerdictWarn  Verdict = "warn"
	VerdictBlock Verdict = "block"
)

// Result is the outcome of one check with the evidence behind it.
type Result struct {
	Name     string            `json:"name"`
	Status   Status            `json:"status"`
	Severity Severity          `json:"severity"`
	Evidence map[string]string `json:"evidence"`
}

// Flag records evidence and raises the status to at least st; a result
// never goes back from fail to warn.
func (r *Result) Flag(st Status, key, value string) {
	if r.Evidence == nil {
		r.Evidence = map[string]string{}
	}
	r.Evidence[key] = value
	if rank(st) > rank(r.Status) {
		r.Status = st
	}
}

// Report is the outcome of the device checks.
type Report struct {
	Checks     []Result  `json:"checks"`
	Verdict    Verdict   `json:"verdict"`
	Profile    Profile   `json:"profile"`
	DurationMS int64     `json:"duration_ms"`
	Time       time.Time `json:"time"`
	OS         string    `json:"os"`
	Kernel     string    `json:"kernel"`
	Arch       string    `json:"arch"`
}

// Check returns the result named name.
func (r Report) Check(name string) (Result, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Result{}, false
}

// Attestation is a device check report signed with the device's Ed25519
// key, for central to verify before trusting a session from the device.
type Attestation struct {
	DeviceID   string `json:"device_id"`
	AppVersion string `json:"app_version"`
	// Nonce is central's challenge (protocol.Config.Challenge), when the
	// device has one, so that an old clean attestation cannot pass as new.
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
	sig, err := signer.Sign(nil, a.Canonical(), crypto.Hash(0))
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
	if !ed25519.Verify(pub, att.Canonical(), att.Signature) {
		return ErrBadSignature
	}
	return nil
}

// Hash identifies an attestation: the SHA-256 of its signature. Ed25519
// signatures are deterministic, so the same signed attestation always has
// the same hash, and central recognises one used twice.
func (a Attestation) Hash() [sha256.Size]byte {
	return sha256.Sum256(append([]byte(attestationDomain), a.Signature...))
}

// attestationDomain separates these signatures from anything else the
// device key signs, and versions the encoding.
const attestationDomain = "openkyc device attestation v1\x00"

// Canonical is the byte string the signature covers: every field but the
// signature, strings length-prefixed, numbers big-endian, checks in report
// order, evidence sorted by key, the time as UTC RFC 3339 with nanoseconds.
// Unlike JSON it has one encoding per value.
func (a Attestation) Canonical() []byte {
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
