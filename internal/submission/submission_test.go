package submission

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

func TestMetaID(t *testing.T) {
	for _, tt := range []struct {
		meta Meta
		want string
	}{
		{Meta{Session: "ses-1", Attempt: 1}, "ses-1-1"},
		{Meta{Session: "ses-1", Attempt: 3}, "ses-1-3"},
		{Meta{Session: "ses-1", Attempt: 2, ChallengeAfter: "ses-1-2"}, "ses-1-2-challenge"},
	} {
		if got := tt.meta.ID(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.meta, got, tt.want)
		}
	}
}

func openVault(t *testing.T, dir string) *vault.Vault {
	t.Helper()
	key := filepath.Join(t.TempDir(), "vault.key")
	if err := vault.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(context.Background(), filepath.Join(dir, "vault.db"), vault.KeyFile(key), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// TestSeal: an attempt goes into the vault queued, with the payload central
// reads (session context, report, an attestation signed with the device
// key carrying central's challenge) and its images; what cannot be sealed
// leaves nothing behind.
func TestSeal(t *testing.T) {
	ctx := context.Background()
	dev := deviceconf.Device{Dir: t.TempDir()}
	if err := os.MkdirAll(dev.ConfigDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(protocol.Config{Version: 1, Challenge: "challenge-1"})
	if err := os.WriteFile(filepath.Join(dev.ConfigDir(), "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	v := openVault(t, dev.Dir)
	rep := &verify.Report{Decision: risk.Review, NextAction: risk.Retry, Reasons: []risk.Reason{{Code: "FACE_NOT_FOUND"}},
		Device: &device.Report{Verdict: device.VerdictOK, Profile: device.ProfileField, Time: time.Now()}, TimingsMS: map[string]float64{}}
	a := Attempt{Meta: Meta{Session: "ses-x", Attempt: 2, Operator: "op", DocType: "passport", Country: "IDN"}, AppVersion: "v1",
		Report: rep, Images: Images{Front: []byte("front"), Selfie: []byte("selfie")}}

	for _, tt := range []struct {
		name string
		v    *vault.Vault
		a    func(Attempt) Attempt
	}{
		{"no vault", nil, func(a Attempt) Attempt { return a }},
		{"no report", v, func(a Attempt) Attempt { a.Report = nil; return a }},
		{"no device check", v, func(a Attempt) Attempt { r := *a.Report; r.Device = nil; a.Report = &r; return a }},
		{"no selfie", v, func(a Attempt) Attempt { a.Images.Selfie = nil; return a }},
		{"no document", v, func(a Attempt) Attempt { a.Images.Front = nil; return a }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Seal(ctx, tt.v, dev, tt.a(a)); err == nil {
				t.Fatal("sealed")
			}
			if subs, err := v.ListSubmissions(ctx); err != nil || len(subs) != 0 {
				t.Fatalf("the vault holds %v, %v", subs, err)
			}
		})
	}

	sealed, err := Seal(ctx, v, dev, a)
	if err != nil {
		t.Fatal(err)
	}
	if sealed.ID != "ses-x-2" || sealed.Attestation == nil || sealed.Attestation.Nonce != "challenge-1" {
		t.Fatalf("sealed %+v", sealed)
	}
	if _, err := Seal(ctx, v, dev, a); !errors.Is(err, vault.ErrExists) {
		t.Errorf("sealing the same attempt again: %v, want vault.ErrExists", err)
	}
	e, err := v.OutboxStatus(ctx, sealed.ID)
	if err != nil || e.State != vault.StateQueued {
		t.Fatalf("outbox %+v, %v; want queued", e, err)
	}
	s, err := v.GetSubmission(ctx, sealed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Images[ImageFront], []byte("front")) || !bytes.Equal(s.Images[ImageSelfie], []byte("selfie")) || len(s.Images) != 2 {
		t.Errorf("images %v", s.Images)
	}
	var p Payload
	if err := json.Unmarshal(s.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Meta.Session != "ses-x" || p.Attempt != 2 || p.Operator != "op" || p.DocType != "passport" || p.Country != "IDN" || p.App != "v1" ||
		p.Report == nil || p.Report.NextAction != risk.Retry || p.Attestation == nil {
		t.Fatalf("payload %s", s.Payload)
	}
	// The field names central.Summarize reads.
	for _, field := range []string{`"session_id":"ses-x"`, `"attempt":2`, `"doc_type":"passport"`, `"country":"IDN"`, `"report":{`, `"attestation":{`} {
		if !strings.Contains(string(s.Payload), field) {
			t.Errorf("the payload has no %s", field)
		}
	}
	id, err := identity.Load(dev.DeviceKeyPath())
	if err != nil {
		t.Fatalf("the device key was not kept: %v", err)
	}
	if err := device.Verify(id.Public(), *p.Attestation); err != nil {
		t.Errorf("the attestation does not verify with the device key: %v", err)
	}
}

// TestSealRiskVersion: the payload names the risk configuration version
// the report was decided under, 0 (the built-in defaults) too, so central
// judges the decision by its bands however late it syncs; a version the
// device cannot tell is left out, as older devices leave it.
func TestSealRiskVersion(t *testing.T) {
	ctx := context.Background()
	dev := deviceconf.Device{Dir: t.TempDir()}
	if err := os.MkdirAll(dev.ConfigDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	v := openVault(t, dev.Dir)
	rep := &verify.Report{Decision: risk.Approve, Score: 87, NextAction: risk.Exit,
		Device: &device.Report{Verdict: device.VerdictOK, Profile: device.ProfileField, Time: time.Now()}, TimingsMS: map[string]float64{}}
	for i, tc := range []struct {
		name    string
		version *int64
		want    string // "" when the payload has no risk_version
	}{
		{"decided under version 3", ptr(int64(3)), `"risk_version":3`},
		{"decided on the built-in defaults", ptr(int64(0)), `"risk_version":0`},
		{"version unknown", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Attempt{Meta: Meta{Session: "ses-r", Attempt: i + 1}, AppVersion: "v1", Report: rep, RiskVersion: tc.version,
				Images: Images{Front: []byte("front"), Selfie: []byte("selfie")}}
			sealed, err := Seal(ctx, v, dev, a)
			if err != nil {
				t.Fatal(err)
			}
			s, err := v.GetSubmission(ctx, sealed.ID)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Contains(string(s.Payload), `"risk_version"`)
			if tc.want == "" && got || tc.want != "" && !strings.Contains(string(s.Payload), tc.want) {
				t.Errorf("payload %s, want %q", s.Payload, cmp.Or(tc.want, "no risk_version"))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
