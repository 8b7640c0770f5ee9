package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

// TestPassRecordsContact: a pass central answered keeps the contact in the
// vault, where the device check reads it after a restart; the passes of
// the following minute leave it be (a write a minute, not one a pass),
// and a pass a minute later moves it on.
func TestPassRecordsContact(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	a := agent.New(r.uploader(t, agent.Config{Now: clock.Now}), v, agent.Options{Now: clock.Now})
	p, err := a.RunOnce(ctx)
	if err != nil || !p.Online {
		t.Fatalf("first pass: %+v, %v", p, err)
	}
	first := p.LastContact
	if got, err := v.LastContact(ctx); err != nil || !got.Equal(first) {
		t.Fatalf("vault's last contact %v, %v; want the pass's %v", got, err, first)
	}
	clock.Advance(30 * time.Second)
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.LastContact(ctx); !got.Equal(first) {
		t.Errorf("recorded again within the minute: %v", got)
	}
	clock.Advance(time.Minute)
	p, err = a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := v.LastContact(ctx); !got.Equal(p.LastContact) || !got.After(first) {
		t.Errorf("a minute on: %v; want the pass's %v", got, p.LastContact)
	}
}
