package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/internal/testsub"
	"github.com/openkyc/kyc/sync/vault"
)

// The kill tests re-execute the test binary as the agent process, selected
// by these environment variables, and SIGKILL it.
const (
	helperEnv    = "KYC_AGENT_HELPER"     // "write" or "send"
	helperDirEnv = "KYC_AGENT_HELPER_DIR" // the rig's device directory
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode, os.Getenv(helperDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperImageSize makes each write long enough for a kill to land inside
// one now and then.
const helperImageSize = 300 << 10

// runHelper is the agent process. "write" captures submissions 0, 1, 2...
// into the vault (skipping those a previous run stored), printing "put N"
// after each is durable; "send" syncs the
// vault once. Either runs until killed or done.
func runHelper(mode, dir string) error {
	ctx := context.Background()
	v, err := vault.Open(ctx, filepath.Join(dir, "vault.db"), vault.KeyFile(filepath.Join(dir, "vault.key")), vault.Options{})
	if err != nil {
		return err
	}
	defer v.Close()
	id, err := identity.Load(filepath.Join(dir, "device.key"))
	if err != nil {
		return err
	}
	switch mode {
	case "write":
		for n := 0; n < 1000; n++ {
			s, err := testsub.New(id, n, helperImageSize)
			if err != nil {
				return err
			}
			if err := v.PutSubmission(ctx, s); err != nil && !errors.Is(err, vault.ErrExists) {
				return err
			}
			fmt.Printf("put %d\n", n)
		}
		return nil
	case "send":
		enr, err := identity.LoadEnrollment(filepath.Join(dir, "enrollment.json"))
		if err != nil {
			return err
		}
		u, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr, ChunkSize: 64 << 10})
		if err != nil {
			return err
		}
		_, err = agent.New(u, v, agent.Options{}).SyncOnce(ctx)
		return err
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

func startHelper(t *testing.T, mode, dir string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper was not killed by SIGKILL (it ended first?): %v", err)
	}
}

// TestKilledMidWrite kills the agent process while it writes submissions.
// Every submission whose write returned must then arrive exactly once and
// intact; the one being written at the kill is either wholly there (and
// arrives) or wholly absent.
func TestKilledMidWrite(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	// Two kills: the second run continues the first's vault.
	for round, killAfter := range []int{3, 7} {
		cmd, out := startHelper(t, "write", r.dir)
		confirmed := -1
		for out.Scan() {
			if _, err := fmt.Sscanf(out.Text(), "put %d", &confirmed); err != nil {
				t.Fatalf("helper said %q", out.Text())
			}
			if confirmed >= killAfter {
				break
			}
		}
		// Let the next write get under way before the kill.
		time.Sleep(time.Duration(round+1) * 3 * time.Millisecond)
		kill(t, cmd)
		if confirmed < killAfter {
			t.Fatalf("helper stopped after %d writes", confirmed+1)
		}
	}
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	infos, err := v.ListSubmissions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var want []vault.Submission
	held := map[int]bool{}
	for _, info := range infos {
		var n int
		if _, err := fmt.Sscanf(info.ID[strings.LastIndex(info.ID, "-")+1:], "%d", &n); err != nil {
			t.Fatalf("unexpected id %q", info.ID)
		}
		held[n] = true
		want = append(want, synctest.Submission(t, r.id, n, helperImageSize))
	}
	for n := 0; n <= 7; n++ {
		if !held[n] {
			t.Errorf("submission %d was confirmed by the killed agent but is not in the vault", n)
		}
	}
	sum := drain(t, agent.New(r.uploader(t, agent.Config{}), v, agent.Options{Now: clock.Now}), clock, 5)
	if sum.Synced != len(want) {
		t.Errorf("summary %+v, want %d synced", sum, len(want))
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), want)
}

// TestKilledMidSend kills the agent process while it uploads; a new agent
// run (after the send lease lapses) completes the job without duplicates.
func TestKilledMidSend(t *testing.T) {
	var chunks atomic.Int64
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isChunk(r) {
				chunks.Add(1)
				time.Sleep(5 * time.Millisecond) // keep the send long enough to interrupt
			}
			next.ServeHTTP(w, r)
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	v := r.openVault(t, vault.Options{})
	subs := capture(t, v, r.id, 0, 12, 200<<10)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	cmd, _ := startHelper(t, "send", r.dir)
	deadline := time.Now().Add(20 * time.Second)
	for chunks.Load() < 23 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	kill(t, cmd)
	partial, err := r.store.Submissions(context.Background(), centralFilterDevice(r.id.DeviceID()))
	if err != nil {
		t.Fatal(err)
	}
	if len(partial) == 0 || len(partial) == len(subs) {
		t.Fatalf("central held %d of %d submissions at the kill; want a kill mid-way", len(partial), len(subs))
	}
	// The killed sender's lease lapses after 5 minutes of vault time.
	clock := synctest.NewClock(time.Now().Add(6 * time.Minute))
	v = r.openVault(t, vault.Options{Now: clock.Now})
	sending := 0
	for _, s := range subs {
		e, err := v.OutboxStatus(context.Background(), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.State == vault.StateSending {
			sending++
		}
	}
	if sending != 1 {
		t.Errorf("%d submissions left in sending by the killed agent, want 1", sending)
	}
	drain(t, agent.New(r.uploader(t, agent.Config{}), v, agent.Options{Now: clock.Now}), clock, 5)
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
}
