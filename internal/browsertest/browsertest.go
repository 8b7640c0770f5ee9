// Package browsertest is the shared harness of the repository's browser
// end-to-end tests (the console's and the hosted flow's Playwright
// scripts): finding node, Chromium and playwright-core, building the
// checkout's binaries, the artifacts folder, free loopback addresses,
// kyc-central's test certificates, and starting a process whose stderr a
// test can wait on; and, with axe.mjs and screenshot.mjs, what every
// browser script shares. Every function takes the test and marks itself a
// helper; a missing tool skips the test with how to get it.
package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tools is where a browser script's tools are.
type Tools struct {
	Chromium, Playwright string
}

// FindTools finds node, Chromium ($KYC_E2E_CHROMIUM or chromium on PATH)
// and playwright-core (the desktop frontend's, as frontend/e2e uses)
// below the module root; a missing one skips the test with how to get it.
func FindTools(t testing.TB, root string) Tools {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed (make setup)")
	}
	var ts Tools
	ts.Chromium = os.Getenv("KYC_E2E_CHROMIUM")
	if ts.Chromium == "" {
		p, err := exec.LookPath("chromium")
		if err != nil {
			t.Skip("chromium not installed (make setup), or set KYC_E2E_CHROMIUM")
		}
		ts.Chromium = p
	}
	ts.Playwright = filepath.Join(root, "frontend", "node_modules", "playwright-core", "index.mjs")
	if _, err := os.Stat(ts.Playwright); err != nil {
		t.Skipf("playwright-core missing (cd frontend && npm install): %v", err)
	}
	return ts
}

// FindAxe is axe-core's axe.min.js, the console's dev dependency (the
// one lockfile that pins it), for the browser scripts' accessibility
// checks (axe.mjs); a missing one skips the test with how to get it.
func FindAxe(t testing.TB, root string) string {
	t.Helper()
	p := filepath.Join(root, "sync", "central", "console", "web", "node_modules", "axe-core", "axe.min.js")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("axe-core missing (cd sync/central/console/web && npm install): %v", err)
	}
	return p
}

// GoBuild builds pkg (relative to the module root) into dir and returns
// the binary's path: the test runs the code of this checkout, not
// whatever bin/ holds.
func GoBuild(t testing.TB, root, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// ArtifactsDir is $KYC_ARTIFACTS, or artifacts/test-<time> at the module
// root, as the repository's other end-to-end tests keep theirs; absolute.
func ArtifactsDir(t testing.TB, root string) string {
	t.Helper()
	d := os.Getenv("KYC_ARTIFACTS")
	if d == "" {
		d = filepath.Join(root, "artifacts", "test-"+time.Now().UTC().Format("20060102-150405"))
	}
	abs, err := filepath.Abs(d)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// RandomString is n random bytes, base64url without padding.
func RandomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// FreeAddr is a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TLSInit makes kyc-central's certificates for 127.0.0.1 with `bin tls
// init` in a temporary folder and returns that folder (ca.crt,
// server.crt, server.key), the CA's path and a pool trusting it.
func TLSInit(t testing.TB, ctx context.Context, bin string) (dir, ca string, pool *x509.CertPool) {
	t.Helper()
	dir = t.TempDir()
	if out, err := exec.CommandContext(ctx, bin, "tls", "init", "--dir", dir, "--host", "127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("kyc-central tls init: %v\n%s", err, out)
	}
	ca = filepath.Join(dir, "ca.crt")
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.crt holds no certificate")
	}
	return dir, ca, pool
}

// Log collects a process's stderr and lets a test wait for a line.
type Log struct {
	mu   sync.Mutex
	buf  strings.Builder
	seen chan string
	done chan struct{} // closed once the process closed its stderr
	stop func()
}

// StartLogged starts cmd, collecting its stderr (its stdout is
// discarded), and stops it (SIGTERM, then SIGKILL after ten seconds) when
// the test ends, or earlier through Stop.
func StartLogged(t testing.TB, cmd *exec.Cmd) *Log {
	t.Helper()
	l := &Log{seen: make(chan string, 4096), done: make(chan struct{})}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := l.done
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.buf.WriteString(sc.Text() + "\n")
			l.mu.Unlock()
			select {
			case l.seen <- sc.Text():
			default:
			}
		}
	}()
	var once sync.Once
	l.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			_ = cmd.Wait()
		})
	}
	t.Cleanup(l.stop)
	return l
}

// Stop stops the process (SIGTERM, then SIGKILL) and waits for it; only
// the first call does anything.
func (l *Log) Stop() { l.stop() }

// Done is closed once the process has closed its stderr: it ended.
func (l *Log) Done() <-chan struct{} { return l.done }

// Wait reports whether a line containing substr appears within d.
func (l *Log) Wait(substr string, d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case line := <-l.seen:
			if strings.Contains(line, substr) {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// Text is all the process has written to stderr so far.
func (l *Log) Text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Tail is the last n lines of the log.
func (l *Log) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.Text(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// RunScript runs a node script with env added to the test's environment
// and talks to it: a line "@@<request>" on its stdout is answered with
// answer(request) and a newline on its stdin; any other line goes to
// line. It returns what the script wrote to stderr and how it ended.
func RunScript(t testing.TB, ctx context.Context, script string, env []string, answer func(req string) string, line func(string)) (stderr string, err error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(), env...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		l := sc.Text()
		req, ok := strings.CutPrefix(l, "@@")
		if !ok {
			line(l)
			continue
		}
		if _, err := io.WriteString(stdin, answer(req)+"\n"); err != nil {
			t.Fatalf("answering the script: %v", err)
		}
	}
	stdin.Close()
	err = cmd.Wait()
	return errBuf.String(), err
}
