package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestInstalledVerifiesWhileSyncInstalls: while sync replaces the lists
// one after another, a verification loading the configuration (the app
// does, beside the sync loop) finds it central's: a list already
// replaced matches the version sync is installing, which the state names
// before the file changes.
func TestInstalledVerifiesWhileSyncInstalls(t *testing.T) {
	var dir string
	var pub []byte
	var during atomic.Pointer[error]
	var aReplaced atomic.Bool
	var on atomic.Bool
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if on.Load() && req.URL.Path == protocol.WatchlistPath("b") {
				data, _ := os.ReadFile(filepath.Join(dir, agent.WatchlistDir, "a"))
				aReplaced.Store(bytes.Equal(data, []byte("list a v2")))
				_, err := agent.VerifyInstalled(dir, pub)
				during.Store(&err)
			}
			next.ServeHTTP(w, req)
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	pub = r.enr.CentralSignKey
	u := r.uploader(t, agent.Config{})
	dir = filepath.Join(t.TempDir(), "config")
	ctx := context.Background()
	publish(t, r.central, "a", []byte("list a v1"))
	publish(t, r.central, "b", []byte("list b v1"))
	if _, err := agent.SyncConfig(ctx, u, dir); err != nil {
		t.Fatal(err)
	}
	publish(t, r.central, "a", []byte("list a v2"))
	publish(t, r.central, "b", []byte("list b v2"))
	on.Store(true)
	if _, err := agent.SyncConfig(ctx, u, dir); err != nil {
		t.Fatal(err)
	}
	errp := during.Load()
	if errp == nil || !aReplaced.Load() {
		t.Fatal("no load while a was replaced and b not yet: the test proves nothing")
	}
	if *errp != nil {
		t.Errorf("loaded while sync installs: %v; want central's configuration", *errp)
	}
	if _, err := agent.VerifyInstalled(dir, pub); err != nil {
		t.Errorf("after the sync: %v", err)
	}
}

// TestInstalledListNotRegular: a FIFO in a list's place is
// ErrConfigAltered at once, not a load waiting for a writer.
func TestInstalledListNotRegular(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	u := r.uploader(t, agent.Config{})
	dir := filepath.Join(t.TempDir(), "config")
	publish(t, r.central, "a", []byte("list a v1"))
	if _, err := agent.SyncConfig(context.Background(), u, dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, agent.WatchlistDir, "a")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func(string, ed25519.PublicKey) (agent.Installed, error){
		"VerifyInstalled": agent.VerifyInstalled, "LoadInstalled": agent.LoadInstalled,
	} {
		done := make(chan error, 1)
		go func() { _, err := load(dir, r.enr.CentralSignKey); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, agent.ErrConfigAltered) || !errors.Is(err, atomicfile.ErrNotRegular) {
				t.Errorf("%s with a FIFO for a list = %v, want ErrConfigAltered and ErrNotRegular", name, err)
			}
			if err != nil && strings.Count(err.Error(), path) != 1 {
				t.Errorf("%s: %q names %s %d times, want once", name, err, path, strings.Count(err.Error(), path))
			}
		case <-time.After(time.Minute):
			// Unblocks the reader so the test can end.
			if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
			t.Fatalf("%s still blocked on a FIFO after a minute", name)
		}
	}
}
