package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/vault"
)

// rejectedVault is a vault with one delivered-and-refused submission and
// one still queued.
func rejectedVault(t *testing.T) *vault.Vault {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	if err := vault.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(ctx, filepath.Join(dir, "vault.db"), vault.KeyFile(key), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	for _, id := range []string{"ses-1-1", "ses-2-1"} {
		if err := v.PutSubmission(ctx, vault.Submission{ID: id, Payload: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.MarkState(ctx, "ses-1-1", vault.StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "ses-1-1", vault.StateRejected, "attestation: stale"); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRequeueRefused: the operator's re-queue puts a refused submission
// back in the outbox, records who did it, and nobody signed out can (nor
// see the queue: whose customers were verified when, and how).
func TestRequeueRefused(t *testing.T) {
	v := rejectedVault(t)
	a := New(Config{Logger: slog.New(slog.DiscardHandler)})
	a.ctx, a.vault, a.ui.screen = context.Background(), v, ScreenHome

	if _, err := a.Requeue("ses-1-1"); err == nil {
		t.Fatal("re-queued with nobody signed in")
	}
	if q := a.Queue(); len(q.Items) != 0 {
		t.Fatalf("the queue shown with nobody signed in: %+v", q.Items)
	}
	if e, _ := v.OutboxStatus(context.Background(), "ses-1-1"); e.State != vault.StateRejected {
		t.Fatalf("state after a refused re-queue: %s", e.State)
	}
	a.staff.operator = "agent01"
	q, err := a.Requeue("ses-1-1")
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]vault.State{}
	for _, it := range q.Items {
		states[it.ID] = it.State
	}
	if states["ses-1-1"] != vault.StateQueued || states["ses-2-1"] != vault.StateQueued {
		t.Errorf("queue after the re-queue: %v", states)
	}
	log, err := v.AuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(log, func(e vault.AuditEntry) bool { return strings.Contains(e.Actor, "agent01") }) {
		t.Errorf("the audit log does not name the operator: %+v", log)
	}
	if _, err := a.Requeue("ses-2-1"); err == nil {
		t.Error("re-queued a submission central never refused")
	}
	if err := a.SyncNow(); err == nil {
		t.Error("sync now on a device that is not enrolled")
	}
}

// TestPassShownOnHome: each pass of the sync loop becomes the home
// screen's status, and a pass that changed something redraws it.
func TestPassShownOnHome(t *testing.T) {
	a := New(Config{Logger: slog.New(slog.DiscardHandler)})
	a.ui.screen = ScreenHome
	a.link.status.Enrolled = true
	contact := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	rev := a.ui.rev
	a.onPass(agent.Pass{At: contact, Online: true, LastContact: contact, QueueDepth: 2, RejectedTotal: 1,
		OldestQueued: contact.Add(-time.Hour), Summary: agent.Summary{Synced: 1}})
	st := a.link.status
	if !st.Online || !st.LastContact.Equal(contact) || st.QueueDepth != 2 || st.Rejected != 1 || st.LastError != "" || a.ui.rev == rev {
		t.Fatalf("after an online pass: %+v (rev %d -> %d)", st, rev, a.ui.rev)
	}
	rev = a.ui.rev
	a.onPass(agent.Pass{At: contact.Add(time.Minute), LastError: "central cannot be reached: connection refused", QueueDepth: 2, RejectedTotal: 1})
	st = a.link.status
	if st.Online || !st.LastContact.Equal(contact) || st.LastError == "" || a.ui.rev == rev {
		t.Fatalf("after an offline pass: %+v, want the last contact kept and the error shown", st)
	}
	rev = a.ui.rev
	a.onPass(agent.Pass{At: contact.Add(2 * time.Minute), LastError: "central cannot be reached: connection refused", QueueDepth: 2, RejectedTotal: 1})
	if a.ui.rev != rev {
		t.Error("a pass that changed nothing redrew the screen")
	}
}
