package agent_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

// TestPassCompactsAfterShredding: the images dropped once central has
// them stay whole in the vault file's free pages, with their wrapped data
// keys, until the file is rewritten (vault.TestShred shows what Compact
// takes out). The loop rewrites it on its first pass, for what an earlier
// run left, then once RetentionEvery has passed if something was shredded
// meanwhile; never for nothing.
func TestPassCompactsAfterShredding(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	capture(t, v, r.id, 0, 2, 300<<10)
	a := agent.New(r.uploader(t, agent.Config{Now: clock.Now}), v, agent.Options{Now: clock.Now})
	file := func() os.FileInfo {
		t.Helper()
		fi, err := os.Stat(r.vaultPath())
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	pass := func(name string, compacted bool) {
		t.Helper()
		before := file()
		p, err := a.RunOnce(ctx)
		if err != nil || p.Err != nil {
			t.Fatalf("%s: %+v, %v", name, p, err)
		}
		if p.Compacted != compacted || os.SameFile(before, file()) == compacted {
			t.Fatalf("%s: compacted %v (file replaced: %v), want %v", name, p.Compacted, !os.SameFile(before, file()), compacted)
		}
	}
	pass("first pass, delivering and dropping images", true)
	clock.Advance(time.Minute)
	pass("nothing shredded since", false)
	capture(t, v, r.id, 10, 1, 300<<10)
	pass("images dropped within the hour", false)
	clock.Advance(agent.DefaultRetentionEvery)
	pass("an hour on", true)
	if _, err := v.ListSubmissions(ctx); err != nil {
		t.Fatalf("the vault after compaction: %v", err)
	}
}
