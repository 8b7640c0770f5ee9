package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/vault"
)

// rejectedVault is a vault with agent01's delivered-and-refused
// submission (ses-1-1), agent01's still queued (ses-2-1) and agent02's
// refused (ses-3-1).
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
	for id, op := range map[string]string{"ses-1-1": "agent01", "ses-2-1": "agent01", "ses-3-1": "agent02"} {
		if err := v.PutSubmission(ctx, vault.Submission{ID: id, Payload: []byte(`{"operator":"` + op + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"ses-1-1", "ses-3-1"} {
		if err := v.MarkState(ctx, id, vault.StateSending, ""); err != nil {
			t.Fatal(err)
		}
		if err := v.MarkState(ctx, id, vault.StateRejected, "attestation: stale"); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// TestRequeueRefused: the operator's re-queue puts a refused submission
// back in the outbox, records who did it, and nobody signed out can (nor
// see the queue: whose customers were verified when, and how; nor the
// sync status beyond whether the device is enrolled: central's address,
// the last pass's error).
func TestRequeueRefused(t *testing.T) {
	v := rejectedVault(t)
	a := New(Config{Logger: slog.New(slog.DiscardHandler)})
	a.ctx, a.vault, a.ui.screen = context.Background(), v, ScreenHome

	if _, err := a.Requeue("ses-1-1"); err == nil {
		t.Fatal("re-queued with nobody signed in")
	}
	a.link.status = SyncStatus{Enrolled: true, CentralURL: "https://central.example:8443", Online: true, QueueDepth: 1, LastError: "central answered 503"}
	if q := a.Queue(); len(q.Items) != 0 || q.Sync.SyncStatus != (SyncStatus{Enrolled: true}) || !reflect.DeepEqual(q.Config, ConfigInUse{}) {
		t.Fatalf("the queue shown with nobody signed in: %+v", q)
	}
	if e, _ := v.OutboxStatus(context.Background(), "ses-1-1"); e.State != vault.StateRejected {
		t.Fatalf("state after a refused re-queue: %s", e.State)
	}
	a.staff.operator, a.staff.role = "agent01", RoleOperator
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

// TestRequeueOthers: a refused submission is sent again by the operator
// who ran it or by a supervisor, not by another plain operator (whose
// page shows its button disabled, the queue item not theirs: Mine), and
// every refused one at once only by a supervisor. A refusal leaves the
// outbox as it was, is logged without the person's data, and says why.
func TestRequeueOthers(t *testing.T) {
	for name, tc := range map[string]struct {
		role    Role
		id      string
		refused bool
		want    map[string]vault.State // the outbox after
	}{
		"another's": {role: RoleOperator, id: "ses-3-1", refused: true,
			want: map[string]vault.State{"ses-1-1": vault.StateRejected, "ses-3-1": vault.StateRejected}},
		"every refused one": {role: RoleOperator, refused: true,
			want: map[string]vault.State{"ses-1-1": vault.StateRejected, "ses-3-1": vault.StateRejected}},
		"own": {role: RoleOperator, id: "ses-1-1",
			want: map[string]vault.State{"ses-1-1": vault.StateQueued, "ses-3-1": vault.StateRejected}},
		"supervisor, another's": {role: RoleSupervisor, id: "ses-3-1",
			want: map[string]vault.State{"ses-1-1": vault.StateRejected, "ses-3-1": vault.StateQueued}},
		"supervisor, every refused one": {role: RoleSupervisor,
			want: map[string]vault.State{"ses-1-1": vault.StateQueued, "ses-3-1": vault.StateQueued}},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			v := rejectedVault(t)
			var logged bytes.Buffer
			a := New(Config{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
			a.ctx, a.vault, a.ui.screen = ctx, v, ScreenHome
			a.staff.operator, a.staff.role = "agent01", tc.role
			q, err := a.Requeue(tc.id)
			if tc.refused != errors.Is(err, ErrNotYoursToResend) {
				t.Fatalf("Requeue(%q): %v, refused want %v", tc.id, err, tc.refused)
			}
			if !tc.refused && err != nil {
				t.Fatal(err)
			}
			for id, want := range tc.want {
				if e, err := v.OutboxStatus(ctx, id); err != nil || e.State != want {
					t.Errorf("%s: %s, %v; want %s", id, e.State, err, want)
				}
			}
			for _, it := range q.Items {
				if it.Mine != (it.Operator == "agent01" || tc.role == RoleSupervisor) {
					t.Errorf("%s (%s's) shown as mine: %v", it.ID, it.Operator, it.Mine)
				}
			}
			if tc.refused {
				if !strings.Contains(logged.String(), "re-queue refused") || a.State().Error != ErrNotYoursToResend.Error() {
					t.Errorf("the refusal: log %q, screen %q", logged.String(), a.State().Error)
				}
			}
		})
	}
}

// TestRequeueLogsNoPageText: an id the page makes up does not reach the
// log as it was sent: it is longer and stranger than the app's ids.
func TestRequeueLogsNoPageText(t *testing.T) {
	var logged bytes.Buffer
	a := New(Config{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	a.ctx, a.vault, a.ui.screen = context.Background(), rejectedVault(t), ScreenHome
	a.staff.operator, a.staff.role = "agent01", RoleSupervisor
	for _, forged := range []string{"ses-1-1\n level=INFO msg=forged", strings.Repeat("forged", 10000)} {
		if _, err := a.Requeue(forged); err == nil {
			t.Fatal("re-queued a submission the vault does not hold")
		}
	}
	if strings.Contains(logged.String(), "forged") || !strings.Contains(logged.String(), "not a submission id") {
		t.Errorf("the page's id reached the log: %.300q", logged.String())
	}
}

// TestSyncNowNeedsSignIn: "Sync now" is the home screen's, a signed-in
// operator's: nobody signed in (a script at a kiosk's sign-in) may end
// every backoff and start a pass.
func TestSyncNowNeedsSignIn(t *testing.T) {
	v := rejectedVault(t)
	a := New(Config{Logger: slog.New(slog.DiscardHandler)})
	a.ctx, a.vault, a.ui.screen = context.Background(), v, ScreenSignIn
	a.link.agent = agent.New(nil, v, agent.Options{}) // not run: SyncNow only kicks it
	if err := a.SyncNow(); err == nil {
		t.Error("a pass started with nobody signed in")
	}
	a.staff.operator, a.staff.role, a.ui.screen = "agent02", RoleOperator, ScreenHome
	if err := a.SyncNow(); err != nil {
		t.Errorf("the operator's sync now: %v", err)
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
