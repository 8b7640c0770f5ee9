//go:build linux

package vault

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// The tests below re-run the test binary as a writer process, so it can be
// killed or starved of disk without taking the test down with it.
const (
	childEnv       = "VAULT_TEST_CHILD" // "writer" selects the child role
	childPathEnv   = "VAULT_TEST_PATH"
	childKeyEnv    = "VAULT_TEST_KEY"
	childPrefixEnv = "VAULT_TEST_PREFIX"
	childFSizeEnv  = "VAULT_TEST_FSIZE" // RLIMIT_FSIZE in bytes; unset means none
	childImageSize = 16 << 10
	childMaxWrites = 5000
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "writer":
		os.Exit(runWriter())
	case "maintainer":
		os.Exit(runMaintainer())
	case "maker":
		os.Exit(runMaker())
	}
	os.Exit(m.Run())
}

// runWriter stores submissions until it is killed, fails, or reaches
// childMaxWrites, printing "ack <id>" after each commit returns and
// "fail <error>" when a write fails.
func runWriter() int {
	if err := limitFileSize(); err != nil {
		fmt.Println("setup", err)
		return 2
	}
	ctx := context.Background()
	v, err := Open(ctx, os.Getenv(childPathEnv), KeyFile(os.Getenv(childKeyEnv)), Options{})
	if err != nil {
		fmt.Println("setup", err)
		return 2
	}
	defer v.Close()
	prefix := os.Getenv(childPrefixEnv)
	for i := range childMaxWrites {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if err := v.PutSubmission(ctx, testSubmission(id, childImageSize)); err != nil {
			fmt.Println("fail", err)
			return 0
		}
		fmt.Println("ack", id)
	}
	return 0
}

// limitFileSize sets the child's RLIMIT_FSIZE from childFSizeEnv, if set.
func limitFileSize() error {
	lim := os.Getenv(childFSizeEnv)
	if lim == "" {
		return nil
	}
	n, err := strconv.ParseUint(lim, 10, 64)
	if err != nil {
		return err
	}
	return syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n})
}

// writer is a running child writer process.
type writer struct {
	cmd   *exec.Cmd
	lines chan string
}

// startWriter starts a writer child on the vault at path, its ids
// prefixed with prefix, its files limited to fsize bytes if fsize > 0.
func startWriter(t *testing.T, path, key, prefix string, fsize int64) *writer {
	t.Helper()
	env := []string{childKeyEnv + "=" + key, childPrefixEnv + "=" + prefix}
	if fsize > 0 {
		env = append(env, childFSizeEnv+"="+strconv.FormatInt(fsize, 10))
	}
	return startChild(t, "writer", path, env...)
}

// startChild re-runs the test binary in role (childEnv) on the vault at
// path, with env added, collecting what it prints.
func startChild(t *testing.T, role, path string, env ...string) *writer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role, childPathEnv+"="+path), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &writer{cmd: cmd, lines: make(chan string, 2*childMaxWrites+8)}
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
	}()
	return w
}

// finish waits for the child and sorts its output into acknowledged ids and
// failure messages.
func (w *writer) finish(t *testing.T) (acked []string, fails []string) {
	t.Helper()
	for line := range w.lines {
		switch verb, rest, _ := strings.Cut(line, " "); verb {
		case "ack":
			acked = append(acked, rest)
		case "fail":
			fails = append(fails, rest)
		case "setup":
			t.Fatalf("writer could not start: %s", rest)
		}
	}
	w.cmd.Wait() // killed children exit with an error by design
	return acked, fails
}

// checkDurable opens the vault and checks that every acknowledged
// submission is present and intact, that every stored submission has its
// outbox entry, and that at most one unacknowledged submission per writer
// run made it (committed, then killed before printing).
func checkDurable(t *testing.T, path, key string, acked map[string]bool, runs int) {
	t.Helper()
	ctx := context.Background()
	v := openAt(t, path, KeyFile(key), Options{})
	defer v.Close()
	for id := range acked {
		got, err := v.GetSubmission(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged submission %s lost: %v", id, err)
		}
		assertSameSubmission(t, got, testSubmission(id, childImageSize))
	}
	list, err := v.ListSubmissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unacked := 0
	for _, s := range list {
		if !acked[s.ID] {
			unacked++
		}
		if e, err := v.OutboxStatus(ctx, s.ID); err != nil || e.State != StateQueued {
			t.Fatalf("submission %s has no queued outbox entry: %+v, %v", s.ID, e, err)
		}
	}
	if unacked > runs {
		t.Fatalf("%d unacknowledged submissions after %d writer runs", unacked, runs)
	}
}

// TestPowerFailure SIGKILLs a writer at random moments and checks that
// every submission it acknowledged survived with its outbox entry.
func TestPowerFailure(t *testing.T) {
	dir := t.TempDir()
	key := newKeyFile(t, dir, "kiosk.key")
	path := filepath.Join(dir, "vault.db")
	openAt(t, path, KeyFile(key), Options{}).Close()

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	const rounds = 6
	acked := make(map[string]bool)
	for round := range rounds {
		w := startWriter(t, path, key, fmt.Sprintf("r%d", round), 0)
		// Kill between process start-up (possibly mid-Open) and well into
		// the write loop.
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		ids, fails := w.finish(t)
		if len(fails) > 0 {
			t.Fatalf("round %d: writer failed: %v", round, fails)
		}
		t.Logf("round %d: %d submissions acknowledged before SIGKILL", round, len(ids))
		for _, id := range ids {
			acked[id] = true
		}
		checkDurable(t, path, key, acked, round+1)
	}
	if len(acked) == 0 {
		t.Fatal("no writer got far enough to acknowledge anything; the test proved nothing")
	}
}

// TestDiskFull lets a writer fill its file-size limit (RLIMIT_FSIZE, the
// kernel's "disk full" for one process) and checks that the failed write
// lost nothing acknowledged and the vault keeps working once space returns.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := newKeyFile(t, dir, "kiosk.key")
	path := filepath.Join(dir, "vault.db")
	openAt(t, path, KeyFile(key), Options{}).Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	w := startWriter(t, path, key, "full", fi.Size()+1<<20)
	ids, fails := w.finish(t)
	if len(fails) != 1 || !strings.Contains(fails[0], "file too large") {
		t.Fatalf("writer failures = %q, want one 'file too large'", fails)
	}
	if len(ids) == 0 {
		t.Fatal("nothing was written before the disk filled")
	}
	t.Logf("%d submissions acknowledged before the disk filled", len(ids))
	acked := make(map[string]bool)
	for _, id := range ids {
		acked[id] = true
	}
	checkDurable(t, path, key, acked, 0)

	v := openAt(t, path, KeyFile(key), Options{})
	if err := v.PutSubmission(ctx, testSubmission("after-space-freed", childImageSize)); err != nil {
		t.Fatalf("writing after the disk has room again: %v", err)
	}
	if err := v.Compact(ctx); err != nil {
		t.Fatal(err)
	}
}

// countdownCtx reports cancellation once Err has been called n times, to
// cancel an operation deterministically part-way through.
type countdownCtx struct {
	context.Context
	n int
}

func (c *countdownCtx) Err() error {
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// TestCancelledMidOperation cancels writes part-way and checks the vault
// file is exactly as before: nothing half-written, nothing lost.
func TestCancelledMidOperation(t *testing.T) {
	tests := []struct {
		name string
		op   func(ctx context.Context, v *Vault) error
		// checks is how many Err calls succeed before cancellation.
		checks func(v *Vault) int
	}{
		{"PutSubmission just before commit", func(ctx context.Context, v *Vault) error {
			return v.PutSubmission(ctx, testSubmission("late", 256))
		}, func(*Vault) int { return 1 }},
		{"Rotate part-way through the keys", func(ctx context.Context, v *Vault) error {
			return v.Rotate(ctx, Passphrase("never applied"))
		}, func(*Vault) int { return 2 }}, // entry check, first batch; second batch cancels
		{"ShredOlderThan just before commit", func(ctx context.Context, v *Vault) error {
			_, err := v.ShredOlderThan(ctx, time.Now().Add(time.Hour))
			return err
		}, func(v *Vault) int { return 1 + countKeys(t, v, bucketKeys) }},
		{"Compact after the copy", func(ctx context.Context, v *Vault) error {
			return v.Compact(ctx)
		}, func(*Vault) int { return 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			v := openTest(t, Options{})
			const sessions, subs = rotateCheckEvery + 50, 5
			fillSessions(t, v, sessions)
			for i := range subs {
				id := fmt.Sprint("s", i)
				if err := v.PutSubmission(ctx, testSubmission(id, 0)); err != nil {
					t.Fatal(err)
				}
				if err := v.MarkState(ctx, id, StateRejected, "test"); err != nil {
					t.Fatal(err)
				}
			}
			path := v.Path()
			before := rawFile(t, path)
			err := tc.op(&countdownCtx{Context: ctx, n: tc.checks(v)}, v)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if err := v.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, rawFile(t, path)) {
				t.Fatal("cancelled operation changed the vault file")
			}
			v = openAt(t, path, Passphrase(testPassphrase), Options{})
			list, err := v.ListSubmissions(ctx)
			if err != nil || len(list) != subs {
				t.Fatalf("%d submissions, %v; want %d", len(list), err, subs)
			}
			if got := countKeys(t, v, bucketSessions); got != sessions {
				t.Fatalf("%d sessions, want %d", got, sessions)
			}
		})
	}
}

// fillSessions stores n sessions in one transaction, to give Rotate and the
// retention sweep many data keys without n fsyncs.
func fillSessions(t *testing.T, v *Vault, n int) {
	t.Helper()
	err := v.update(context.Background(), func(tx *bbolt.Tx, k *keyring) error {
		for i := range n {
			if err := v.putRecord(tx, k, bucketSessions, k.recordID(kindSession, fmt.Sprint("sess", i)), []byte("state")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countKeys(t *testing.T, v *Vault, bucket string) int {
	t.Helper()
	var n int
	if err := v.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket([]byte(bucket)).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCompactFailureKeepsVault makes compaction fail (its temporary file
// cannot be created) and checks the vault is untouched and still usable.
func TestCompactFailureKeepsVault(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	want := testSubmission("s", 1024)
	if err := v.PutSubmission(ctx, want); err != nil {
		t.Fatal(err)
	}
	blocker := v.Path() + ".compact"
	if err := os.MkdirAll(filepath.Join(blocker, "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := v.Compact(ctx); err == nil {
		t.Fatal("Compact succeeded with its temporary path blocked")
	}
	got, err := v.GetSubmission(ctx, "s")
	if err != nil {
		t.Fatalf("after failed Compact: %v", err)
	}
	assertSameSubmission(t, got, want)
	if err := v.PutSubmission(ctx, testSubmission("s2", 0)); err != nil {
		t.Fatalf("writing after failed Compact: %v", err)
	}
}
