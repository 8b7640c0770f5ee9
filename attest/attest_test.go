package attest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func sampleAttestation() Attestation {
	return Attestation{
		DeviceID:   "kiosk-0042",
		AppVersion: "1.4.2",
		Nonce:      "c2VydmVyLWNoYWxsZW5nZQ",
		Report: Report{
			Checks: []Result{
				{Name: "virtual_machine", Status: StatusPass, Severity: SeverityHigh, Evidence: map[string]string{"cpuid": "hypervisor bit clear", "cpuinfo": "hypervisor flag absent"}},
				{Name: "root_user", Status: StatusWarn, Severity: SeverityMedium, Evidence: map[string]string{"euid": "0"}},
			},
			Verdict:    VerdictWarn,
			Profile:    ProfileKiosk,
			DurationMS: 12,
			Time:       time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600)),
			OS:         "Ubuntu 24.04.1 LTS",
			Kernel:     "6.8.0-45-generic",
			Arch:       "amd64",
		},
	}
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestAttestationSignVerify(t *testing.T) {
	pub, priv := newKey(t)
	att := sampleAttestation()
	if err := att.Sign(priv); err != nil {
		t.Fatal(err)
	}
	if err := Verify(pub, att); err != nil {
		t.Fatalf("fresh attestation: %v", err)
	}

	// Central receives JSON: the signature must survive the trip.
	b, err := json.Marshal(att)
	if err != nil {
		t.Fatal(err)
	}
	var received Attestation
	if err := json.Unmarshal(b, &received); err != nil {
		t.Fatal(err)
	}
	if err := Verify(pub, received); err != nil {
		t.Errorf("after JSON round trip: %v", err)
	}

	otherPub, _ := newKey(t)
	if err := Verify(otherPub, att); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other key: %v", err)
	}
	if err := Verify(pub[:10], att); err == nil {
		t.Error("short public key accepted")
	}
}

func TestAttestationTamperingBreaksSignature(t *testing.T) {
	pub, priv := newKey(t)
	tests := []struct {
		name   string
		tamper func(a *Attestation)
	}{
		{"device id", func(a *Attestation) { a.DeviceID = "kiosk-0043" }},
		{"app version", func(a *Attestation) { a.AppVersion = "1.4.3" }},
		{"nonce", func(a *Attestation) { a.Nonce = "" }},
		{"verdict", func(a *Attestation) { a.Report.Verdict = VerdictOK }},
		{"profile", func(a *Attestation) { a.Report.Profile = ProfileField }},
		{"duration", func(a *Attestation) { a.Report.DurationMS++ }},
		{"time", func(a *Attestation) { a.Report.Time = a.Report.Time.Add(time.Nanosecond) }},
		{"os", func(a *Attestation) { a.Report.OS = "Ubuntu 22.04 LTS" }},
		{"kernel", func(a *Attestation) { a.Report.Kernel = "6.8.0-46-generic" }},
		{"arch", func(a *Attestation) { a.Report.Arch = "arm64" }},
		{"check name", func(a *Attestation) { a.Report.Checks[0].Name = "debugger" }},
		{"check status", func(a *Attestation) { a.Report.Checks[1].Status = StatusPass }},
		{"check severity", func(a *Attestation) { a.Report.Checks[1].Severity = SeverityLow }},
		{"evidence value", func(a *Attestation) { a.Report.Checks[1].Evidence["euid"] = "1000" }},
		{"evidence key", func(a *Attestation) {
			delete(a.Report.Checks[1].Evidence, "euid")
			a.Report.Checks[1].Evidence["uid"] = "0"
		}},
		{"evidence added", func(a *Attestation) { a.Report.Checks[0].Evidence["note"] = "" }},
		{"check removed", func(a *Attestation) { a.Report.Checks = a.Report.Checks[:1] }},
		{"checks reordered", func(a *Attestation) {
			a.Report.Checks[0], a.Report.Checks[1] = a.Report.Checks[1], a.Report.Checks[0]
		}},
		// Length prefixes keep field boundaries: moving a byte between
		// neighbouring fields changes the encoding.
		{"boundary shift", func(a *Attestation) { a.DeviceID, a.AppVersion = "kiosk-00421", ".4.2" }},
		{"signature", func(a *Attestation) { a.Signature[0] ^= 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			att := sampleAttestation()
			if err := att.Sign(priv); err != nil {
				t.Fatal(err)
			}
			tt.tamper(&att)
			if err := Verify(pub, att); !errors.Is(err, ErrBadSignature) {
				t.Errorf("tampered %s: %v", tt.name, err)
			}
		})
	}
}

func TestAttestationSignRejects(t *testing.T) {
	_, priv := newKey(t)
	att := sampleAttestation()
	att.DeviceID = ""
	if err := att.Sign(priv); !errors.Is(err, ErrMissingDeviceID) {
		t.Errorf("no device id: %v", err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	att = sampleAttestation()
	if err := att.Sign(ec); err == nil || att.Signature != nil {
		t.Errorf("ECDSA key accepted: %v", err)
	}
}
