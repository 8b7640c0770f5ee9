package app

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document"
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
// session past its lifetime is cleared even while in use.
func TestIdleTimeout(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	a := New(Config{Clock: clock.now, Logger: slog.New(slog.DiscardHandler)})
	a.settings, a.sessionCfg = DefaultSettings(), DefaultSessionConfig()
	a.settings.IdleSeconds = 60
	a.lastActivity = clock.now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.watchIdle(ctx) }()
	defer func() { cancel(); <-done }()

	raw := []byte{1, 2, 3}
	front := &document.Image{Mat: gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC3), Raw: raw}
	a.mu.Lock()
	a.operator, a.screen = "agent01", ScreenCaptureSelfie
	a.sess = &session{id: "ses-1", started: clock.now(), captures: captures{front: front}}
	a.mu.Unlock()

	// within the timeout nothing happens
	clock.advance(50 * time.Second)
	time.Sleep(1500 * time.Millisecond)
	if st := state(a); st.sess == nil || st.screen != ScreenCaptureSelfie {
		t.Fatalf("cleared before the timeout: %+v", st)
	}

	clock.advance(20 * time.Second)
	st := waitFor(t, a, func(s idleState) bool { return s.sess == nil })
	if st.screen != ScreenHome || st.operator != "agent01" || st.message == "" {
		t.Errorf("after the timeout: %+v, want home with a message and the operator still signed in", st)
	}
	if front.Mat.Ptr() != nil || raw[0] != 0 {
		t.Error("the captured document is still in memory")
	}

	// idle again: the operator is signed out
	clock.advance(61 * time.Second)
	st = waitFor(t, a, func(s idleState) bool { return s.operator == "" })
	if st.screen != ScreenSignIn {
		t.Errorf("operator signed out to %s, want sign-in", st.screen)
	}

	// a session past its lifetime ends even with activity
	a.mu.Lock()
	a.operator, a.screen = "agent01", ScreenDocumentSelect
	a.sess = &session{id: "ses-2", started: clock.now()}
	a.mu.Unlock()
	for range 4 {
		clock.advance(10 * time.Minute)
		a.Activity()
	}
	waitFor(t, a, func(s idleState) bool { return s.sess == nil })
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
	return idleState{a.sess, a.screen, a.operator, a.lastError}
}

// waitFor polls the app (its watchdog ticks every second) until ok.
func waitFor(t *testing.T, a *App, ok func(idleState) bool) idleState {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := state(a)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out in state %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
