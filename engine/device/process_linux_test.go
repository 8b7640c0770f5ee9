package device

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childTimeout bounds every child process a test starts.
const childTimeout = time.Minute

// childReport parses what runChild printed.
func childReport(t *testing.T, stdout []byte) Report {
	t.Helper()
	var rep Report
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("child output %q: %v", stdout, err)
	}
	return rep
}

// runChildBinary runs exe as a child reporting its own checks, with extra
// environment variables.
func runChildBinary(t *testing.T, exe string, env ...string) (rep Report, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=1"}, env...)...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", exe, err, errBuf.String())
	}
	return childReport(t, out), errBuf.String()
}

func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// systemLibrary finds a real shared library to preload.
func systemLibrary(t *testing.T) string {
	t.Helper()
	for _, pattern := range []string{"/usr/lib/*/libm.so.6", "/lib/*/libm.so.6", "/usr/lib64/libm.so.6", "/lib64/libm.so.6", "/usr/lib/libm.so.6"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	t.Fatal("no libm.so.6 on this system to preload")
	return ""
}

func TestPreloadedChild(t *testing.T) {
	exe := testBinary(t)
	lib := systemLibrary(t)
	tests := []struct {
		name string
		env  []string
		want Status
		key  string
	}{
		{"control", nil, StatusPass, ""},
		{"LD_PRELOAD", []string{"LD_PRELOAD=" + lib}, StatusFail, "env.LD_PRELOAD"},
		{"LD_AUDIT", []string{"LD_AUDIT=" + lib}, StatusFail, "env.LD_AUDIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, _ := runChildBinary(t, exe, tt.env...)
			c := mustCheck(t, rep, CheckHooking)
			if c.Status != tt.want {
				t.Errorf("hooking %s, want %s: %v", c.Status, tt.want, c.Evidence)
			}
			if tt.key != "" && c.Evidence[tt.key] != lib {
				t.Errorf("evidence %s = %q, want %q", tt.key, c.Evidence[tt.key], lib)
			}
		})
	}
}

// TestTracedChild starts the test binary under ptrace, as a debugger or an
// injection tool would, keeps it running, and expects it to see its tracer.
func TestTracedChild(t *testing.T) {
	// ptrace requests must come from the thread that started the tracee.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(testBinary(t))
	cmd.Env = append(os.Environ(), childEnv+"=1")
	// Files, not buffers: Wait is replaced by the wait4 loop below, so no
	// copying goroutine may be left waiting on a pipe.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	timer := time.AfterFunc(childTimeout, func() { cmd.Process.Kill() })
	defer timer.Stop()

	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err == syscall.EINTR {
			continue
		} else if err != nil {
			t.Fatalf("wait4: %v", err)
		}
		if ws.Exited() || ws.Signaled() {
			break
		}
		// Pass every signal on except the trap that reports the exec.
		sig := ws.StopSignal()
		if sig == syscall.SIGTRAP {
			sig = 0
		}
		if err := syscall.PtraceCont(pid, int(sig)); err != nil {
			t.Fatalf("ptrace cont: %v", err)
		}
	}
	if ws.ExitStatus() != 0 {
		t.Fatalf("traced child: %v", ws)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	// stderr (the marker line) and stdout share the file; the report is the
	// last line.
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	rep := childReport(t, []byte(lines[len(lines)-1]))
	c := mustCheck(t, rep, CheckDebugger)
	if c.Status != StatusFail || c.Evidence["tracer_pid"] == "0" || c.Evidence["tracer_pid"] == "" {
		t.Errorf("traced child's debugger check: %s %v", c.Status, c.Evidence)
	}
}

// TestSealedChild seals a copy of the test binary and runs it: the seal
// verifies in the running process, and a copy with one byte changed after
// sealing still runs but fails the check.
func TestSealedChild(t *testing.T) {
	exe := testBinary(t)
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sealed := filepath.Join(dir, "sealed.test")
	if err := os.WriteFile(sealed, data, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := Seal(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	st, err := VerifySeal(ctx, sealed)
	if err != nil {
		t.Fatal(err)
	}

	rep, _ := runChildBinary(t, sealed)
	c := mustCheck(t, rep, CheckBinaryIntegrity)
	if c.Status != StatusPass || c.Evidence["sha256"] != st.Digest {
		t.Errorf("sealed child: %s %v, want pass with digest %s", c.Status, c.Evidence, st.Digest)
	}

	// Change the marker the child prints: the binary still runs, and its
	// output proves the modified copy is what ran.
	flipped := tamperMarker[:len(tamperMarker)-1] + "B"
	b, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(tamperMarker)) {
		t.Fatal("marker not found in the binary")
	}
	tampered := filepath.Join(dir, "tampered.test")
	if err := os.WriteFile(tampered, bytes.ReplaceAll(b, []byte(tamperMarker), []byte(flipped)), 0o755); err != nil {
		t.Fatal(err)
	}
	rep, stderr := runChildBinary(t, tampered)
	if !strings.Contains(stderr, flipped) {
		t.Fatalf("tampered child did not run the modified code: %q", stderr)
	}
	c = mustCheck(t, rep, CheckBinaryIntegrity)
	if c.Status != StatusFail || c.Evidence["seal"] != string(SealBroken) || c.Evidence["recorded_sha256"] != st.Digest {
		t.Errorf("tampered child: %s %v", c.Status, c.Evidence)
	}
}

func TestKernelMatchesUname(t *testing.T) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	if rep := mustRun(t, Options{}); rep.Kernel != b.String() {
		t.Errorf("kernel %q, uname %q", rep.Kernel, b.String())
	}
}
