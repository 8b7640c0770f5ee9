package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/sync/agent"
)

// fakeClock is a clock the test moves forward.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestIdleTimeout: a session left idle is cleared from the screen and from
// memory (its captures closed), then the idle operator is signed out; a
// session past its lifetime is cleared even while in use; a kiosk shows
// its welcome instead, which says nothing of the customer. The watchdog's
// look at the clock (checkIdle, once a second in the app) runs here at
// chosen moments of a fake clock.
func TestIdleTimeout(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	a := New(Config{Clock: clock.now, Logger: slog.New(slog.DiscardHandler)})
	a.settings, a.sessionCfg = DefaultSettings(), DefaultSessionConfig()
	a.settings.IdleSeconds = 60
	a.ui.lastActivity = clock.now()

	raw := []byte{1, 2, 3}
	front := &document.Image{Mat: gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC3), Raw: raw}
	a.mu.Lock()
	a.staff.operator, a.ui.screen = "agent01", ScreenCaptureSelfie
	a.sess = &session{id: "ses-1", started: clock.now(), captures: captures{front: front}}
	a.mu.Unlock()

	// within the timeout nothing happens
	clock.advance(50 * time.Second)
	a.checkIdle()
	if st := state(a); st.sess == nil || st.screen != ScreenCaptureSelfie {
		t.Fatalf("cleared before the timeout: %+v", st)
	}

	clock.advance(20 * time.Second)
	a.checkIdle()
	st := state(a)
	if st.sess != nil || st.screen != ScreenHome || st.operator != "agent01" || st.message == "" {
		t.Errorf("after the timeout: %+v, want home with a message and the operator still signed in", st)
	}
	if front.Mat.Ptr() != nil || raw[0] != 0 {
		t.Error("the captured document is still in memory")
	}

	// idle again: the operator is signed out
	clock.advance(61 * time.Second)
	a.checkIdle()
	if st := state(a); st.operator != "" || st.screen != ScreenSignIn {
		t.Errorf("operator signed out to %+v, want sign-in", st)
	}

	// a session past its lifetime ends even with activity
	a.mu.Lock()
	a.staff.operator, a.ui.screen = "agent01", ScreenDocumentSelect
	a.sess = &session{id: "ses-2", started: clock.now()}
	a.mu.Unlock()
	for range 4 {
		clock.advance(10 * time.Minute)
		a.Activity()
		a.checkIdle()
	}
	if st := state(a); st.sess != nil {
		t.Errorf("a session past its lifetime: %+v", st)
	}

	// A kiosk: the welcome screen, no message about who left; a touch
	// returns home.
	a.mu.Lock()
	a.settings.Kiosk = true
	a.ui.screen, a.ui.lastError = ScreenResult, ""
	a.sess = &session{id: "ses-3", started: clock.now(), result: &ResultView{SubmissionID: "ses-3-1"}}
	a.mu.Unlock()
	clock.advance(61 * time.Second)
	a.checkIdle()
	if st := state(a); st.sess != nil || st.screen != ScreenIdle || st.message != "" {
		t.Errorf("a kiosk's idle session: %+v, want the welcome screen and nothing else", st)
	}
	if v := a.State(); v.Result != nil || v.Session != nil {
		t.Errorf("the welcome screen's view holds the session: %+v", v)
	}
	if v := a.Wake(); v.Screen != ScreenHome {
		t.Errorf("a touch on the welcome screen shows %s, want home", v.Screen)
	}
}

type idleState struct {
	sess     *session
	screen   Screen
	operator string
	message  string
}

func state(a *App) idleState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return idleState{a.sess, a.ui.screen, a.staff.operator, a.ui.lastError}
}

// TestSyncView: the sync panel says since when the device is offline and
// warns once that is longer than the device policy allows.
func TestSyncView(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{"max_offline": "2h"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Clock: clock.now, DevicePolicy: policy, Logger: slog.New(slog.DiscardHandler)})
	a.link.status.Enrolled = true
	contact := clock.now()
	a.onPass(agent.Pass{At: contact, Online: true, LastContact: contact})
	if sv := a.syncView(a.link.status); !sv.Online || !sv.OfflineSince.IsZero() || sv.OverPolicy || sv.MaxOfflineSeconds != 7200 {
		t.Fatalf("online: %+v", sv)
	}
	clock.advance(time.Hour)
	a.onPass(agent.Pass{At: clock.now(), LastError: "central is unreachable"})
	clock.advance(time.Minute)
	a.onPass(agent.Pass{At: clock.now(), LastError: "central is unreachable"})
	sv := a.syncView(a.link.status)
	if sv.Online || !sv.OfflineSince.Equal(contact) || sv.OverPolicy {
		t.Errorf("offline for an hour: %+v, want offline since the last contact, within the policy", sv)
	}
	clock.advance(2 * time.Hour)
	if sv := a.syncView(a.link.status); !sv.OverPolicy || !sv.Now.Equal(clock.now()) {
		t.Errorf("offline for three hours: %+v, want the policy warning", sv)
	}
	a.onPass(agent.Pass{At: clock.now(), Online: true, LastContact: clock.now()})
	if sv := a.syncView(a.link.status); sv.OverPolicy || !sv.OfflineSince.IsZero() {
		t.Errorf("back online: %+v", sv)
	}
}
