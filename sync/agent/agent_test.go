package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

func TestSyncDeliversEverythingOnce(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 6, 300<<10)
	subs = append(subs, capture(t, v, r.id, 100, 2, 0)...) // without images
	a := agent.New(r.uploader(t, agent.Config{ChunkSize: 128 << 10}), v, agent.Options{Now: clock.Now})
	sum := drain(t, a, clock, 3)
	if sum.Synced != len(subs) || sum.Rejected != 0 || sum.Failed != 0 {
		t.Fatalf("summary %+v, want %d synced", sum, len(subs))
	}
	for _, s := range subs {
		e, err := v.OutboxStatus(context.Background(), s.ID)
		if err != nil || e.State != vault.StateSynced || e.Attempts != 1 {
			t.Errorf("%s: outbox %+v, %v; want synced after one attempt", s.ID, e, err)
		}
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
	log, err := v.AuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := countActions(log, "submission.synced"); n != len(subs) {
		t.Errorf("audit log records %d syncs, want %d", n, len(subs))
	}
}

func countActions(log []vault.AuditEntry, action string) int {
	n := 0
	for _, e := range log {
		if e.Action == action {
			n++
		}
	}
	return n
}

func TestRejectedSubmissionKeepsItsReason(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	good := capture(t, v, r.id, 0, 1, 1000)
	bad := synctest.Submission(t, r.id, 1, 1000)
	bad.Payload = []byte(`{"name":"no attestation"}`)
	if err := v.PutSubmission(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{Now: clock.Now})
	sum := drain(t, a, clock, 3)
	if sum.Synced != 1 || sum.Rejected != 1 {
		t.Fatalf("summary %+v, want 1 synced and 1 rejected", sum)
	}
	e, err := v.OutboxStatus(context.Background(), bad.ID)
	if err != nil || e.State != vault.StateRejected || !synctest.Contains([]byte(e.Reason), "attestation") {
		t.Errorf("bad submission outbox = %+v, %v; want rejected for its attestation", e, err)
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), good)
}

func TestSyncConfigDownloadsOnlyChanges(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	u := r.uploader(t, agent.Config{})
	dir := filepath.Join(t.TempDir(), "config")
	ctx := context.Background()
	r.central.PublishRisk(t, []byte(`{"max_retries":5}`))
	for _, wl := range []struct{ name, body string }{{"ofac", "v1 list"}, {"un", "un list"}} {
		if code := r.central.Admin(t, "PUT", "/admin/v1/watchlists/"+wl.name, []byte(wl.body), nil); code != 200 {
			t.Fatalf("publishing watchlist: %d", code)
		}
	}
	res, err := agent.SyncConfig(ctx, u, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !res.RiskUpdated || res.RiskVersion != 1 || len(res.Watchlists) != 2 {
		t.Errorf("first sync = %+v", res)
	}
	if risk := riskInForce(t, r, dir); risk != `{"max_retries":5}` {
		t.Errorf("risk in force = %q", risk)
	}
	res, err = agent.SyncConfig(ctx, u, dir)
	if err != nil || res.RiskUpdated || len(res.Watchlists) != 0 {
		t.Errorf("unchanged sync = %+v, %v; want nothing downloaded", res, err)
	}
	r.central.PublishWatchlist(t, "ofac", []byte("v2 list"))
	res, err = agent.SyncConfig(ctx, u, dir)
	if err != nil || res.RiskUpdated || len(res.Watchlists) != 1 || res.Watchlists[0] != "ofac" {
		t.Errorf("after a watchlist update = %+v, %v; want ofac only", res, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "watchlists", "ofac")); string(data) != "v2 list" {
		t.Errorf("ofac = %q, want the new version", data)
	}
}
