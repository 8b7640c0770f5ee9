package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/models"
)

// TestMain lets a test run the command line in a child process (the test
// binary re-executed), so each run has its own process-wide ONNX Runtime
// and a real exit status, as bin/kyc would.
func TestMain(m *testing.M) {
	if os.Getenv("KYC_CLI_CHILD") == "1" {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, "test"))
	}
	os.Exit(m.Run())
}

type run struct {
	exit   int
	stdout string
	stderr string
}

// kyc runs the command line with args in a child process.
func kyc(t *testing.T, env []string, args ...string) run {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "KYC_CLI_CHILD=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func decodeError(t *testing.T, r run) Error {
	t.Helper()
	var e struct {
		Error Error `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e.Error.Code == "" {
		t.Fatalf("stdout is not a JSON error: %q (%v)", r.stdout, err)
	}
	return e.Error
}

func TestVersionReportsLoadedLibraries(t *testing.T) {
	r := kyc(t, nil, "version", "--format", "json")
	if r.exit != 0 {
		t.Fatalf("exit %d: %s %s", r.exit, r.stdout, r.stderr)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if v["version"] != "test" || v["onnxruntime"] != "1.30.0" || v["opencv"] != "4.6.0" {
		t.Fatalf("version = %v", v)
	}
	if _, err := os.Stat(v["onnxruntime_library"]); err != nil {
		t.Fatalf("reported library %q: %v", v["onnxruntime_library"], err)
	}
}

func TestVersionRuntimeErrors(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "libonnxruntime.so")
	if err := os.WriteFile(junk, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lib, code string
	}{
		{filepath.Join(t.TempDir(), "absent.so"), "runtime_missing"},
		{junk, "runtime_invalid"},
	} {
		r := kyc(t, []string{models.RuntimeEnv + "=" + c.lib}, "version")
		if e := decodeError(t, r); e.Code != c.code || r.exit != ExitMissing {
			t.Errorf("%s: exit %d error %+v, want %s and exit %d", c.lib, r.exit, e, c.code, ExitMissing)
		}
	}
}

// copyModels makes a private copy of the installed model directory so a
// test can damage it.
func copyModels(t *testing.T) string {
	t.Helper()
	src, err := models.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copying models: %v", err)
	}
	return dst
}

func TestModelsVerify(t *testing.T) {
	dir := copyModels(t)
	env := []string{models.DirEnv + "=" + dir}
	r := kyc(t, env, "models", "verify")
	if r.exit != 0 {
		t.Fatalf("verify of the installed models: exit %d\n%s\n%s", r.exit, r.stdout, r.stderr)
	}
	var res modelsResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Models) != len(models.Default().Entries) {
		t.Fatalf("verify listed %d models, manifest has %d", len(res.Models), len(models.Default().Entries))
	}
	for _, m := range res.Models {
		if !m.Verified {
			t.Errorf("%s not verified: %s", m.Name, m.Problem)
		}
	}

	// One changed byte in one model: non-zero exit, the file named.
	target := filepath.Join(dir, "fr-feature", "0.0.1", "fr_feature.onnx")
	f, err := os.OpenFile(target, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	if _, err := f.ReadAt(b, 1000); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, 1000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r = kyc(t, env, "models", "verify")
	e := decodeError(t, r)
	if r.exit != ExitRejected || e.Code != "model_corrupt" || !strings.Contains(e.Message, target) {
		t.Fatalf("verify after tampering: exit %d error %+v; want exit %d, model_corrupt naming %s", r.exit, e, ExitRejected, target)
	}
	if !strings.Contains(r.stderr, "fr-feature") {
		t.Errorf("stderr does not name the corrupt model: %s", r.stderr)
	}

	// A deleted model is "missing", with its own code and exit status.
	if err := os.Remove(target); err != nil {
		t.Fatal(err)
	}
	r = kyc(t, env, "models", "verify")
	if e := decodeError(t, r); r.exit != ExitMissing || e.Code != "model_missing" {
		t.Fatalf("verify with a model missing: exit %d error %+v", r.exit, e)
	}
}

func TestModelsListTable(t *testing.T) {
	r := kyc(t, nil, "--format", "table", "models", "list")
	if r.exit != 0 {
		t.Fatalf("exit %d: %s", r.exit, r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(models.Default().Entries)+1 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("table:\n%s", r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"models"},
		{"models", "explode"},
		{"models", "verify", "--no-such-flag"},
		{"--format", "xml", "version"},
		{"--format"},
	} {
		r := kyc(t, nil, args...)
		if e := decodeError(t, r); r.exit != ExitUsage || e.Code != "usage" {
			t.Errorf("%v: exit %d error %+v, want usage / %d", args, r.exit, e, ExitUsage)
		}
	}
	if r := kyc(t, nil); r.exit != ExitUsage || !strings.Contains(r.stderr, "usage: kyc") {
		t.Errorf("no arguments: exit %d, stderr %q", r.exit, r.stderr)
	}
}

func TestDeviceCheck(t *testing.T) {
	// The test binary is unsealed: a warning in the field profile, a block
	// for an unattended kiosk, which must not run a binary it cannot vouch for.
	r := kyc(t, nil, "device-check", "--profile", "kiosk")
	var rep struct {
		Verdict string `json:"verdict"`
		Checks  []struct {
			Name, Status string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("kiosk report is not JSON: %v\n%s", err, r.stdout)
	}
	if r.exit != ExitRejected || rep.Verdict != "block" {
		t.Fatalf("kiosk profile: exit %d verdict %q, want %d and block", r.exit, rep.Verdict, ExitRejected)
	}
	if len(rep.Checks) < 8 {
		t.Fatalf("only %d checks reported", len(rep.Checks))
	}

	r = kyc(t, nil, "device-check", "--profile", "field")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if r.exit != 0 || rep.Verdict == "block" {
		t.Fatalf("field profile on this machine: exit %d verdict %q\n%s", r.exit, rep.Verdict, r.stdout)
	}

	// The frame check on a camera's first frames (video files here): a
	// still repeats itself, a camera's noise never does.
	videos := t.TempDir()
	scene := synth.Background(320, 240, 5)
	defer scene.Close()
	for name, noisy := range map[string]bool{"still": false, "camera": true} {
		path := filepath.Join(videos, name+".avi")
		err := synth.WriteVideo(path, 10, 8, func(i int) gocv.Mat {
			m := scene.Clone()
			if noisy {
				synth.AddSensorNoise(&m, 2, uint64(i+1))
			}
			return m
		})
		if err != nil {
			t.Fatal(err)
		}
		r := kyc(t, nil, "device-check", "--profile", "field", "--frames-from", path)
		var rep struct {
			Checks []device.Result `json:"checks"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, r.stdout)
		}
		i := slices.IndexFunc(rep.Checks, func(c device.Result) bool { return c.Name == device.CheckFrameStatistics })
		want := map[bool]device.Status{false: device.StatusFail, true: device.StatusPass}[noisy]
		if i < 0 || rep.Checks[i].Status != want {
			t.Errorf("%s video: frame check %+v, want %s", name, rep.Checks, want)
		}
	}

	for _, args := range [][]string{
		{"device-check", "--profile", "mainframe"},
		{"device-check", "--last-contact", "yesterday"},
	} {
		r := kyc(t, nil, args...)
		if e := decodeError(t, r); r.exit != ExitUsage {
			t.Errorf("%v: exit %d error %+v", args, r.exit, e)
		}
	}
}

// TestDeviceCheckWatchlistAge: `kyc device-check` reports the age of the
// lists a verification would screen against and warns when they are
// stale; the device's verdict is not theirs to change.
func TestDeviceCheckWatchlistAge(t *testing.T) {
	lists := t.TempDir()
	env := []string{deviceconf.EnvDeviceDir + "=" + t.TempDir(), deviceconf.EnvWatchlists + "=" + lists}
	check := func(when string, stale bool, want string) {
		t.Helper()
		r := kyc(t, env, "device-check", "--profile", "field")
		var rep struct {
			Verdict    string            `json:"verdict"`
			Watchlists risk.ScreeningAge `json:"watchlists"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", when, err, r.stdout)
		}
		if r.exit != 0 || rep.Verdict == "block" {
			t.Fatalf("%s: exit %d verdict %q", when, r.exit, rep.Verdict)
		}
		warned := strings.Contains(r.stderr, "the watchlists are stale")
		if rep.Watchlists.Stale != stale || warned != stale || !strings.Contains(rep.Watchlists.Problem, want) {
			t.Errorf("%s: watchlists %+v, warned %v (%q); want stale %v with %q", when, rep.Watchlists, warned, r.stderr, stale, want)
		}
	}
	check("no list", true, "no watchlist installed")

	st, err := screening.OpenStore(lists)
	if err != nil {
		t.Fatal(err)
	}
	put := func(date time.Time) {
		t.Helper()
		l := &screening.List{Name: "pep", Version: "1", Date: date, Entries: []screening.Entry{{ID: "1", Kind: screening.KindIndividual, Name: "Siti Rahayu Lestari"}}}
		if err := st.Put(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	put(time.Now().Add(-24 * time.Hour))
	check("a list imported yesterday", false, "")
	put(time.Now().Add(-30 * 24 * time.Hour))
	check("a month-old list", true, "pep: 30.0 days old since its date")
}

// TestTableCellsPrintable: --format table prints stored strings (a
// review's reason stored before it was defused, a name read by OCR, an
// operator's text) with what a terminal would act on (an ANSI escape, a
// bidirectional override) replaced by U+FFFD, and a line break or a tab
// as a space, so no cell clears the screen, reads backwards, shifts the
// columns or forges a row.
func TestTableCellsPrintable(t *testing.T) {
	const hostile = "ok\x1b[2J\x1b]0;pwned\x07 \u202egnp.exe\nforged\trow"
	type item struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	}
	for name, v := range map[string]any{
		"list": []item{{"a", hostile}, {hostile, "b"}},
		"object": struct {
			Reason string            `json:"reason"`
			Labels map[string]string `json:"labels"`
			Items  []item            `json:"items"`
		}{hostile, map[string]string{hostile: hostile}, []item{{"a", hostile}}},
		"scalar": hostile,
	} {
		var out bytes.Buffer
		if err := writeResult(&out, FormatTable, v); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		if strings.ContainsAny(text, "\x1b\x07\u202e\t") || !strings.Contains(text, "\uFFFD[2J") {
			t.Errorf("%s: the table holds what a terminal acts on: %q", name, text)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "forged") {
				t.Errorf("%s: a line break in a value forged a row: %q", name, text)
			}
		}
	}
	var out bytes.Buffer
	if err := writeResult(&out, FormatTable, strings.Repeat("x", 10*maxCell)); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.TrimSpace(out.String())); n > maxCell {
		t.Errorf("a cell of %d bytes printed as %d", 10*maxCell, n)
	}
}
