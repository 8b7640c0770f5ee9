package agent_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// TestSyncPinsTheEnrolment: a pass pins the enrolment in a vault that
// holds none (a device enrolled before the pin was kept) and records the
// configuration it installed; a vault pinned to another enrolment (the
// enrolment file changed by hand) installs nothing, and the pass says so.
func TestSyncPinsTheEnrolment(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	v := r.openVault(t, vault.Options{})
	dir := filepath.Join(t.TempDir(), "config")
	r.central.PublishRisk(t, []byte(`{"max_retries":5}`))
	publish(t, r.central, "a", []byte("list a"))
	a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{ConfigDir: dir})
	if p, err := a.RunOnce(ctx); err != nil || p.Err != nil {
		t.Fatalf("first pass: %v, %v", err, p.Err)
	}
	pin, ok, err := v.Pinned(ctx)
	if err != nil || !ok {
		t.Fatalf("after the first sync: pinned %v, %v", ok, err)
	}
	installed, err := agent.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := agent.PinOf(r.enr)
	if pin.CentralURL != want.CentralURL || pin.DeviceID != want.DeviceID || !bytes.Equal(pin.Keys, want.Keys) {
		t.Errorf("pinned %+v, want %+v", pin, want)
	}
	if m := agent.MarkOf(installed); pin.Config == nil || !pin.Config.IssuedAt.Equal(m.IssuedAt) || pin.Config.RiskVersion != m.RiskVersion || !reflect.DeepEqual(pin.Config.Watchlists, m.Watchlists) {
		t.Errorf("mark %+v, want %+v", pin.Config, m)
	}

	other := want
	other.Keys = bytes.Clone(want.Keys)
	other.Keys[0] ^= 1
	if err := v.SetPin(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	p, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(p.Err, agent.ErrEnrollmentRemoved) || p.Config != nil {
		t.Errorf("a vault pinned to another enrolment: %v, installed %+v; want ErrEnrollmentRemoved, nothing installed", p.Err, p.Config)
	}
	if _, err := os.Stat(filepath.Join(dir, agent.ConfigFile)); err == nil {
		t.Error("a configuration was installed for an enrolment the vault did not pin")
	}
}

// TestSyncRefusesAnOlderConfigPutBack: a copy of an older configuration
// central signed, put back on disk, with central's older answer replayed,
// is not installed: the vault's mark of the newest installed judges it,
// not the copy. Central's current answer installs again.
func TestSyncRefusesAnOlderConfigPutBack(t *testing.T) {
	ctx := context.Background()
	clock := synctest.NewClock(time.Now())
	tp := &tamper{match: func(p string) bool { return p == protocol.PathConfig }}
	var (
		mu     sync.Mutex
		replay []byte
	)
	tp.edit = func(b []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		if replay == nil {
			replay = bytes.Clone(b) // the first answer, kept
		}
		return replay
	}
	r := newRig(t, synctest.CentralOptions{Wrap: tp.wrap, Now: clock.Now})
	v := r.openVault(t, vault.Options{})
	dir := filepath.Join(t.TempDir(), "config")
	a := agent.New(r.uploader(t, agent.Config{Now: clock.Now}), v, agent.Options{ConfigDir: dir, Now: clock.Now})
	r.central.PublishRisk(t, []byte(`{"max_retries":20}`))
	publish(t, r.central, "a", []byte("list a v1"))
	tp.on.Store(true)
	if p, err := a.RunOnce(ctx); err != nil || p.Err != nil {
		t.Fatalf("first sync: %v, %v", err, p.Err)
	}
	tp.on.Store(false)
	old := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(old, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}

	// Central publishes newer versions, and they install.
	clock.Advance(time.Hour)
	newer := r.central.PublishRisk(t, []byte(`{"max_retries":30}`))
	publish(t, r.central, "a", []byte("list a v2, one more name"))
	if p, err := a.RunOnce(ctx); err != nil || p.Err != nil {
		t.Fatalf("second sync: %v, %v", err, p.Err)
	}

	// The older copy put back, and central's older answer replayed.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(old)); err != nil {
		t.Fatal(err)
	}
	tp.on.Store(true)
	p, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(p.Err, agent.ErrConfigRollback) || p.ConfigVersion != 0 {
		t.Errorf("the older copy put back, the older answer replayed: %v, in use version %d; want ErrConfigRollback, none in use", p.Err, p.ConfigVersion)
	}
	if p.Config != nil || !strings.Contains(p.ConfigError, "older") {
		t.Errorf("the replayed older answer: installed %+v, %q; want it refused as older", p.Config, p.ConfigError)
	}

	tp.on.Store(false)
	if p, err := a.RunOnce(ctx); err != nil || p.Err != nil || p.ConfigVersion != newer || p.Watchlists["a"] != 2 {
		t.Fatalf("central's current answer: %v, %v, version %d, lists %v; want version %d, list a v2", err, p.Err, p.ConfigVersion, p.Watchlists, newer)
	}
}
