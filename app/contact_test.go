package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/device"
)

// TestClockCheckAfterRestart: an app started offline judges its clock by
// the last contact with central the vault keeps. Without it the start-up
// check knew of no contact ("never", a low warning), so a clock turned
// back while offline, to dodge the offline limit or an expiry, passed
// once the app was restarted.
func TestClockCheckAfterRestart(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Dir: t.TempDir(), DeviceDir: filepath.Join(t.TempDir(), "device"), KeyDir: filepath.Join(t.TempDir(), "keys"),
		Logger: slog.New(slog.DiscardHandler)}
	// The last run heard from central two hours ahead of this clock: it
	// was turned back since.
	a := New(cfg)
	v, err := a.openVault(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.RecordContact(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	v.Close()

	a = New(cfg)
	if v = a.openAndCheck(ctx); v == nil {
		t.Fatalf("the vault did not open: %s", a.vaultErr)
	}
	defer v.Close()
	var clock *device.Result
	for i, f := range a.device.Findings {
		if f.Name == device.CheckClock {
			clock = &a.device.Findings[i]
		}
	}
	if clock == nil || clock.Status != device.StatusFail || clock.Evidence["clock_behind_by"] == "" {
		t.Fatalf("clock check after a restart: %+v; want it failed, the clock behind the last contact", clock)
	}
	if a.link.status.LastContact.IsZero() {
		t.Error("the sync panel does not know the last contact")
	}
}
