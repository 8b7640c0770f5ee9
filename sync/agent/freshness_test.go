package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
)

// TestStaleWatchlistsGoToReview: a device decides with the lists and the
// risk configuration its real configuration sync installed. Fresh, a clean
// verification is approved; offline past central's screening_max_age_days
// it goes to review (SCREENING_STALE) with the list's age recorded; a
// sync makes it fresh again; a clock set back before that sync is no
// fresh list but an unknown age, to review.
func TestStaleWatchlistsGoToReview(t *testing.T) {
	start := time.Now().Truncate(time.Second)
	clock := synctest.NewClock(start) // central's and the device's
	r := newRig(t, synctest.CentralOptions{Now: clock.Now})
	u := r.uploader(t, agent.Config{Now: clock.Now})
	ctx := context.Background()

	// Central publishes a real list file and a three-day limit.
	listDir := t.TempDir()
	lists, err := screening.OpenStore(listDir)
	if err != nil {
		t.Fatal(err)
	}
	l := &screening.List{Name: "un", Version: "2026-02-27", Date: start.Add(-40 * 24 * time.Hour), Published: true,
		Entries: []screening.Entry{{ID: "QDi.001", Kind: screening.KindIndividual, Name: "Juan Carlos Ortega Ruiz"}}}
	if err := lists.Put(ctx, l); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(listDir, "un.list.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, r.central, "un.list.json.gz", file)
	r.central.PublishRisk(t, []byte(`{"screening_max_age_days": 3}`))

	dev := deviceconf.Device{Dir: t.TempDir()}
	syncConfig := func() {
		t.Helper()
		if _, err := agent.SyncConfig(ctx, u, dev.ConfigDir()); err != nil {
			t.Fatal(err)
		}
	}
	// decide verifies a clean attempt as the device would now.
	decide := func() risk.Result {
		t.Helper()
		c, err := dev.Load(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Watchlists.Lists) != 1 || c.Risk.Config.ScreeningMaxAgeDays != 3 {
			t.Fatalf("device config: lists %v, risk %+v (%s)", c.Watchlists.Names(), c.Risk, c.Risk.Problem)
		}
		in := risk.Input{Signals: map[risk.SignalName]float64{}, Attempt: 1, Device: risk.DeviceOK,
			Screening: dev.ScreeningData(c.Watchlists, clock.Now())}
		for _, s := range risk.Signals() {
			in.Signals[s] = 1
		}
		res, err := risk.Evaluate(c.Risk.Config, in)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	check := func(when string, want risk.Decision, stale bool) risk.Result {
		t.Helper()
		res := decide()
		if res.Decision != want || res.HasReason(risk.ScreeningStale) != stale || res.Screening == nil || res.Screening.Stale != stale {
			t.Errorf("%s: %s, SCREENING_STALE %v, ages %+v; want %s, %v", when, res.Decision, res.HasReason(risk.ScreeningStale), res.Screening, want, stale)
		}
		return res
	}

	syncConfig()
	check("just synced", risk.Approve, false)

	clock.Advance(4 * 24 * time.Hour) // offline four days: central confirmed nothing since
	res := check("offline four days", risk.Review, true)
	if a := res.Screening.Lists; len(a) != 1 || a[0].Since != "confirmed" || a[0].Age < 4*24*time.Hour-2*time.Second || a[0].Age > 4*24*time.Hour+2*time.Second {
		t.Errorf("the result records %+v, want un four days since central confirmed it", a)
	}

	syncConfig() // back online: the same list, confirmed again
	check("synced again", risk.Approve, false)

	clock.Advance(-2 * 24 * time.Hour) // the clock set back before that sync
	check("clock set back", risk.Review, true)
}
