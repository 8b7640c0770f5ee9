package deviceconf

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// pinnedVault opens r's device vault, keyed as the app keys it.
func (r *signedRig) pinnedVault(t *testing.T) *vault.Vault {
	t.Helper()
	k, err := r.dev.VaultKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(context.Background(), r.dev.VaultPath(), k.Source, vault.Options{Argon2: vault.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// syncPass runs one pass of the sync loop, as `kyc sync --once` does:
// it pins the enrolment in v and records what it installs there.
func (r *signedRig) syncPass(t *testing.T, v *vault.Vault) {
	t.Helper()
	p, err := agent.New(r.up, v, agent.Options{ConfigDir: r.dev.ConfigDir()}).RunOnce(context.Background())
	if err != nil || p.Err != nil {
		t.Fatalf("sync pass: %v, %v", err, p.Err)
	}
}

// TestEnrollmentRemovedRefused: a device the vault records as enrolled
// refuses to verify once its enrolment file is deleted or changed,
// rather than standing alone on its own relaxed configuration; put back,
// it verifies again. A device never enrolled still stands alone.
func TestEnrollmentRemovedRefused(t *testing.T) {
	ctx := context.Background()
	fresh := testDevice(t)
	if c, err := fresh.Load(ctx, nil, fresh.VaultPins()); err != nil || c.Source != SourceLocal {
		t.Fatalf("a device never enrolled, without a vault: %+v, %v; want it standing alone", c, err)
	}

	r := newSignedRig(t)
	r.publish(t, centralRisk, "ofac", "Ivan Petrovich Sidorov")
	v := r.pinnedVault(t)
	if c, err := r.dev.Load(ctx, nil, v); !errors.Is(err, ErrNotSynced) || c != nil {
		t.Fatalf("enrolled, never synced: %+v, %v; want ErrNotSynced", c, err)
	}
	r.syncPass(t, v)
	c, err := r.dev.Load(ctx, nil, v)
	if err != nil || c.Source != SourceCentral || c.Risk.Config.Thresholds.FaceLivenessMin != 0.7 {
		t.Fatalf("enrolled and synced: %+v, %v; want central's configuration", c, err)
	}

	// Whoever edits the folder relaxes the device's own configuration
	// and removes the enrolment.
	writeFile(t, filepath.Join(r.dev.ConfigDir(), riskFile), `{"thresholds":{"face_liveness_min":0.1}}`)
	if err := os.Remove(r.dev.EnrollmentPath()); err != nil {
		t.Fatal(err)
	}
	if got, err := r.dev.Load(ctx, c, v); !errors.Is(err, agent.ErrEnrollmentRemoved) || got != nil {
		t.Fatalf("enrolment removed: %+v, %v; want ErrEnrollmentRemoved, never the device's own configuration", got, err)
	}
	changed := r.enr
	changed.CentralURL = "https://central.example.org"
	if err := identity.SaveEnrollment(r.dev.EnrollmentPath(), changed); err != nil {
		t.Fatal(err)
	}
	if got, err := r.dev.Load(ctx, nil, v); !errors.Is(err, agent.ErrEnrollmentRemoved) || got != nil {
		t.Fatalf("enrolment changed: %+v, %v; want ErrEnrollmentRemoved", got, err)
	}
	// A command without the vault open reads it from the file.
	if err := os.Remove(r.dev.EnrollmentPath()); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if got, err := r.dev.Load(ctx, nil, r.dev.VaultPins()); !errors.Is(err, agent.ErrEnrollmentRemoved) || got != nil {
		t.Fatalf("enrolment removed, read from the vault file: %+v, %v; want ErrEnrollmentRemoved", got, err)
	}

	if err := identity.SaveEnrollment(r.dev.EnrollmentPath(), r.enr); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(r.dev.ConfigDir(), riskFile)); err != nil {
		t.Fatal(err)
	}
	if c, err := r.dev.Load(ctx, nil, r.dev.VaultPins()); err != nil || c.Source != SourceCentral {
		t.Fatalf("enrolment put back: %+v, %v; want central's configuration", c, err)
	}
}

// TestOlderConfigPutBackRefused: a copy of an older configuration central
// signed (a laxer threshold, a list without a name central added since),
// or an unsigned one, put back on disk is refused at load against the
// newest sync recorded installing in the vault; a sync puts central's
// current one back.
func TestOlderConfigPutBackRefused(t *testing.T) {
	ctx := context.Background()
	r := newSignedRig(t)
	v := r.pinnedVault(t)
	r.publish(t, centralRisk, "ofac", "Ivan Petrovich Sidorov")
	r.syncPass(t, v)
	old := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(old, os.DirFS(r.dev.ConfigDir())); err != nil {
		t.Fatal(err)
	}
	r.publish(t, `{"thresholds":{"face_liveness_min":0.8}}`, "ofac", "Ivan Petrovich Sidorov", "Juan Carlos Ortega Ruiz")
	r.syncPass(t, v)
	flagged := func(c *Config) bool {
		hits, err := c.Screening.Screen(screening.Query{Name: "Juan Carlos Ortega Ruiz"})
		return err == nil && len(hits) > 0
	}
	c, err := r.dev.Load(ctx, nil, v)
	if err != nil || c.Risk.Config.Thresholds.FaceLivenessMin != 0.8 || !flagged(c) {
		t.Fatalf("the newer configuration: %+v, %v; want central's newest, the added name flagged", c, err)
	}

	putBack := func(t *testing.T) {
		t.Helper()
		if err := os.RemoveAll(r.dev.ConfigDir()); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(r.dev.ConfigDir(), os.DirFS(old)); err != nil {
			t.Fatal(err)
		}
	}
	putBack(t)
	if got, err := r.dev.Load(ctx, c, v); !errors.Is(err, agent.ErrConfigRollback) || got != nil {
		t.Fatalf("the older signed copy put back: %+v, %v; want ErrConfigRollback", got, err)
	}
	// Nor an unsigned one, as versions before the signature wrote.
	if err := os.RemoveAll(r.dev.ConfigDir()); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.dev.ConfigDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(protocol.Config{Version: 9, Risk: json.RawMessage(`{"thresholds":{"face_liveness_min":0.1}}`), IssuedAt: time.Now()})
	writeFile(t, filepath.Join(r.dev.ConfigDir(), agent.ConfigFile), string(b))
	if got, err := r.dev.Load(ctx, nil, v); !errors.Is(err, agent.ErrConfigRollback) || got != nil {
		t.Fatalf("an unsigned copy where a signed one was installed: %+v, %v; want ErrConfigRollback", got, err)
	}

	// None at all is what it always was: sync first.
	if err := os.RemoveAll(r.dev.ConfigDir()); err != nil {
		t.Fatal(err)
	}
	if got, err := r.dev.Load(ctx, nil, v); !errors.Is(err, ErrNotSynced) || got != nil {
		t.Fatalf("central's configuration deleted: %+v, %v; want ErrNotSynced", got, err)
	}

	putBack(t)
	r.syncPass(t, v)
	if c, err := r.dev.Load(ctx, nil, v); err != nil || c.Risk.Config.Thresholds.FaceLivenessMin != 0.8 || !flagged(c) {
		t.Fatalf("synced again: %+v, %v; want central's newest", c, err)
	}
}

// TestPinBesideTheApp: a command run while the app (or a sync loop) holds
// the vault cannot read the pin. With the enrolment file in place it
// still gets central's configuration, checked against central's key, and
// says what it could not check; with the file deleted it gets nothing,
// never the device's own configuration.
func TestPinBesideTheApp(t *testing.T) {
	ctx := context.Background()
	r := newSignedRig(t)
	r.publish(t, centralRisk, "ofac", "Ivan Petrovich Sidorov")
	v := r.pinnedVault(t) // held open, as the app holds it
	r.syncPass(t, v)
	c, err := r.dev.Load(ctx, nil, r.dev.VaultPins())
	if err != nil || c.Source != SourceCentral || !strings.Contains(c.Warning, "vault is in use") {
		t.Fatalf("beside the app: %+v, %v; want central's configuration with a warning", c, err)
	}
	writeFile(t, filepath.Join(r.dev.ConfigDir(), riskFile), `{"thresholds":{"face_liveness_min":0.1}}`)
	if err := os.Remove(r.dev.EnrollmentPath()); err != nil {
		t.Fatal(err)
	}
	if got, err := r.dev.Load(ctx, nil, r.dev.VaultPins()); !errors.Is(err, vault.ErrLocked) || got != nil {
		t.Fatalf("enrolment removed beside the app: %+v, %v; want vault.ErrLocked, never the device's own configuration", got, err)
	}
}

// TestVaultDeletedRefused: an enrolled device whose vault was deleted
// loads no configuration (vault.ErrMissing): the pin the configuration is
// checked against went with the vault; before, the device had "no pin"
// and a configuration put back was no longer checked against the newest
// installed.
func TestVaultDeletedRefused(t *testing.T) {
	ctx := context.Background()
	r := newSignedRig(t)
	r.publish(t, centralRisk, "ofac", "Ivan Petrovich Sidorov")
	v := r.pinnedVault(t)
	r.syncPass(t, v)
	v.Close()
	if c, err := r.dev.Load(ctx, nil, r.dev.VaultPins()); err != nil || c.Source != SourceCentral {
		t.Fatalf("enrolled and synced: %+v, %v; want central's configuration", c, err)
	}
	if err := os.Remove(r.dev.VaultPath()); err != nil {
		t.Fatal(err)
	}
	if got, err := r.dev.Load(ctx, nil, r.dev.VaultPins()); !errors.Is(err, vault.ErrMissing) || got != nil {
		t.Fatalf("vault deleted: %+v, %v; want vault.ErrMissing", got, err)
	}
}
