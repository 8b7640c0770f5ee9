package drill

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/internal/testenv"
)

// centralBin is the kyc-central the drills run: $KYC_DRILL_CENTRAL_BIN,
// else this checkout's, built for the test.
func centralBin(t *testing.T) string {
	if b := os.Getenv("KYC_DRILL_CENTRAL_BIN"); b != "" {
		return b
	}
	root, ok := testenv.ModuleRoot()
	if !ok {
		t.Fatal("module root not found")
	}
	return browsertest.GoBuild(t, root, t.TempDir(), "./cmd/kyc-central")
}

// TestDrillsShort runs the drills of `kyc-drill drills` with a few hundred
// uploads instead of thousands, against two instances behind HAProxy on
// one PostgreSQL: a hung instance taken out and back, kill -9 during
// uploads, PostgreSQL restarted, the key rotated, webhooks delivered by
// both instances, a backup restored and read. Every drill's row must pass.
// kill -9 during webhook deliveries is left to the command: the deliveries
// the dead instance held wait for the job queue's rescue (two minutes).
func TestDrillsShort(t *testing.T) {
	// A bound on a hang, not a speed target: the drills take about 70 s on
	// a quiet machine and ran past 3 minutes at a load of 12 on two cores.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Instances: 2, CentralBin: centralBin(t), Dir: t.TempDir(), Models: NoModels})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := NewDrills(ctx, c, 8)
	if err != nil {
		t.Fatal(err)
	}
	d.Log = t.Logf
	rows := []Row{
		d.FreezeTakenOut(ctx, 100, 0),
		d.KillDuringUploads(ctx, 200, 1),
		d.RestartPostgres(ctx, 100),
		d.RotateKeys(ctx, 100),
		d.Webhooks(ctx, 100, -1, time.Minute),
		d.BackupRestore(ctx),
	}
	for _, r := range rows {
		t.Logf("%s: %s: %s", r.Drill, r.Result(), r.Detail)
		if !r.Passed {
			t.Errorf("drill failed: %s: %s", r.Drill, r.Detail)
		}
	}
}
