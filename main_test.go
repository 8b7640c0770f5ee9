package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/models"
)

// TestDesktopHomeScreenshot runs the built desktop app in a real window
// under Xvfb, waits for the frontend to report the start screen (sign-in
// with the engine's status) rendered, then grabs the display until a frame
// shows that screen painted, and saves it under the run's artifacts folder.
// It fails when, within paintTimeout, the window stays blank or is not
// that screen.
func TestDesktopHomeScreenshot(t *testing.T) {
	for _, tool := range []string{"Xvfb", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (run `make setup`): %v", tool, err)
		}
	}
	bin := desktopBinary(t)
	display := startXvfb(t)

	modelsDir, err := models.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir() // the app's files and vault, away from the user's

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "KYC_HOME="+home, "KYC_MODELS_DIR="+modelsDir,
		"KYC_DEVICE_DIR="+filepath.Join(home, "device"))
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logText strings.Builder
	rendered := make(chan struct{})
	exited := make(chan struct{}) // the app closed its stderr
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(logs)
		once := sync.Once{}
		for sc.Scan() {
			logMu.Lock()
			logText.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if strings.Contains(sc.Text(), "sign_in screen rendered") {
				once.Do(func() { close(rendered) })
			}
		}
	}()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	select {
	case <-rendered:
	case <-time.After(90 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("the app did not report the start screen rendered within 90 s; its log:\n%s", logText.String())
	}

	start := time.Now()
	frame, grabs, firstProblems, problems, err := waitPainted(display, exited)
	if errors.Is(err, errExited) {
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("the app exited before its window was painted; its log:\n%s", logText.String())
	} else if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifactsDir(t), "screenshots", "home.png")
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, frame, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot saved to %s (screenshot %d, %.1f s after the page reported itself rendered)", shot, grabs, time.Since(start).Seconds())
	if grabs > 1 {
		t.Logf("the first screenshot was not yet painted: %s", strings.Join(firstProblems, "; "))
	}
	if len(problems) > 0 {
		t.Fatalf("after %d screenshots in %s the window is not the painted home screen: %s", grabs, paintTimeout, strings.Join(problems, "; "))
	}
}

// paintTimeout bounds the wait for the window to be painted after the page
// reports itself rendered (a second on an idle machine).
const paintTimeout = 60 * time.Second

// errExited: the app exited while waitPainted waited.
var errExited = errors.New("the app exited")

// waitPainted grabs the display until a frame is the painted home screen,
// for at most paintTimeout or until exited closes: the page reports itself
// rendered before the compositor has necessarily painted it, and a loaded
// machine paints late. It returns the last frame, the number of grabs, the
// problems of the first frame and of the last (none once painted).
func waitPainted(display string, exited <-chan struct{}) (frame []byte, grabs int, first, problems []string, err error) {
	deadline := time.After(paintTimeout)
	for {
		if frame, err = grabScreen(display); err != nil {
			return nil, grabs, nil, nil, err
		}
		grabs++
		if problems, err = homeScreenProblems(frame); err != nil {
			return nil, grabs, nil, nil, err
		}
		if grabs == 1 {
			first = problems
		}
		if len(problems) == 0 {
			return frame, grabs, first, nil, nil
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-deadline:
			return frame, grabs, first, problems, nil
		case <-exited:
			return nil, grabs, first, problems, errExited
		}
	}
}

// grabScreen takes one screenshot of the X display as a PNG.
func grabScreen(display string) ([]byte, error) {
	var out, errOut bytes.Buffer
	grab := exec.Command("ffmpeg", "-loglevel", "error", "-f", "x11grab", "-draw_mouse", "0",
		"-video_size", "1280x800", "-i", display, "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-")
	grab.Stdout, grab.Stderr = &out, &errOut
	if err := grab.Run(); err != nil {
		return nil, fmt.Errorf("screenshot: %v\n%s", err, errOut.String())
	}
	return out.Bytes(), nil
}

// TestKioskSingleInstance starts the desktop app in kiosk mode on a private
// session bus, then launches it again: the second launch must hand over to
// the running kiosk and exit, and the kiosk must keep running and say it
// was brought forward.
func TestKioskSingleInstance(t *testing.T) {
	for _, tool := range []string{"Xvfb", "dbus-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (run `make setup`): %v", tool, err)
		}
	}
	bin := desktopBinary(t)
	display := startXvfb(t)
	bus := startSessionBus(t)
	modelsDir, err := models.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	env := append(os.Environ(), "DISPLAY="+display, "KYC_HOME="+home, "KYC_MODELS_DIR="+modelsDir,
		"KYC_DEVICE_DIR="+filepath.Join(home, "device"), "KYC_KIOSK=1", "DBUS_SESSION_BUS_ADDRESS="+bus)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := exec.CommandContext(ctx, bin)
	first.Env = env
	log := browsertest.StartLogged(t, first)
	// Kiosk mode checks the device with the kiosk policy: on a virtual
	// machine that is the blocked screen, elsewhere sign-in; either shows
	// the window is up.
	if !log.Wait(" screen rendered", 90*time.Second) {
		t.Fatalf("the kiosk did not render its first screen; its log:\n%s", log.Text())
	}

	second := exec.CommandContext(ctx, bin)
	second.Env = env
	done := make(chan error, 1)
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- second.Wait() }()
	select {
	case <-done: // handed over (Wails exits with status 1 once it has)
	case <-time.After(30 * time.Second):
		_ = second.Process.Kill()
		t.Fatal("the second launch is still running: the kiosk is not single-instance")
	}
	if !log.Wait("second launch: the running kiosk is brought forward", 10*time.Second) {
		t.Errorf("the running kiosk did not hear of the second launch; its log:\n%s", log.Text())
	}
	// Not waited for, an exited process lingers as a zombie: read its state.
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", first.Process.Pid)); err != nil || strings.Contains(string(stat), ") Z ") {
		t.Errorf("the kiosk is gone (%v): %s", err, stat)
	}
}

// startSessionBus starts a private D-Bus session bus and returns its
// address; it is stopped when the test ends.
func startSessionBus(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the bus address: %v", err)
	}
	return strings.TrimSpace(addr)
}

// homeScreenProblems says what keeps a screenshot from being the painted
// home screen (nothing when it is): varied content, the header band's
// colour at the top, and the green "verified" badges of the model table. It
// errs only when the picture cannot be read.
func homeScreenProblems(data []byte) ([]string, error) {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding screenshot: %w", err)
	}
	b := img.Bounds()
	var sum, sumSq float64
	var green int
	colours := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl := rgb(img, x, y)
			l := 0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)
			sum += l
			sumSq += l * l
			colours[[3]uint32{r >> 4, g >> 4, bl >> 4}] = true
			if near(r, 46) && near(g, 125) && near(bl, 50) {
				green++
			}
		}
	}
	n := float64((b.Dx() / 2) * (b.Dy() / 2))
	std := math.Sqrt(sumSq/n - (sum/n)*(sum/n))
	if std < 10 || len(colours) < 20 {
		return []string{fmt.Sprintf("looks blank: luma std %.1f, %d colours", std, len(colours))}, nil
	}
	var problems []string
	if r, g, bl := rgb(img, 5, 5); !(near(r, 31) && near(g, 58) && near(bl, 104)) {
		problems = append(problems, fmt.Sprintf("top-left pixel is (%d,%d,%d), want the header's (31,58,104): the home screen did not render", r, g, bl))
	}
	if green < 200 {
		problems = append(problems, fmt.Sprintf("only %d green badge pixels: the model table did not render its statuses", green))
	}
	return problems, nil
}

func rgb(img image.Image, x, y int) (uint32, uint32, uint32) {
	r, g, b, _ := img.At(x, y).RGBA()
	return r >> 8, g >> 8, b >> 8
}

func near(v, want uint32) bool { return v+12 >= want && v <= want+12 }

// desktopBinary returns $KYC_DESKTOP_BIN (the Makefile's build) or builds
// the app into a temporary folder.
func desktopBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KYC_DESKTOP_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	out := filepath.Join(t.TempDir(), "kyc-desktop")
	build := exec.Command("go", "build", "-tags", "desktop,production,webkit2_41", "-o", out, ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the desktop app: %v\n%s", err, b)
	}
	return out
}

// startXvfb starts a private X server on a free display and stops it when
// the test ends.
func startXvfb(t *testing.T) string {
	t.Helper()
	for n := 90; n < 190; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		display := fmt.Sprintf(":%d", n)
		cmd := exec.Command("Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting Xvfb: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		socket := fmt.Sprintf("/tmp/.X11-unix/X%d", n)
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(socket); err == nil {
				t.Cleanup(func() {
					_ = cmd.Process.Signal(syscall.SIGTERM)
					<-exited
				})
				return display
			}
			select {
			case <-exited:
				i = 100 // display taken meanwhile: try the next one
			case <-time.After(100 * time.Millisecond):
			}
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Fatal("no free X display for Xvfb")
	return ""
}

// artifactsDir is the folder this test run saves pictures in: $KYC_ARTIFACTS
// (the Makefile names one per run), else artifacts/test-<time>. It is
// absolute: the e2e flow hands it to a process running in frontend/, which
// would otherwise save inside the source tree.
func artifactsDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("KYC_ARTIFACTS")
	if d == "" {
		d = filepath.Join("artifacts", "test-"+time.Now().UTC().Format("20060102-150405"))
	}
	abs, err := filepath.Abs(d)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestBuildAssets checks the Wails project file and the icon the window
// embeds: the file names the binary the Makefile builds, the icon is a
// square PNG large enough for every launcher.
func TestBuildAssets(t *testing.T) {
	raw, err := os.ReadFile("wails.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Name           string `json:"name"`
		OutputFilename string `json:"outputfilename"`
		BuildTags      string `json:"build:tags"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("wails.json: %v", err)
	}
	if cfg.Name == "" || cfg.OutputFilename != "kyc-desktop" || cfg.BuildTags != "webkit2_41" {
		t.Errorf("wails.json = %+v, want kyc-desktop built with webkit2_41", cfg)
	}
	img, err := png.Decode(bytes.NewReader(icon))
	if err != nil {
		t.Fatalf("build/appicon.png: %v", err)
	}
	if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() < 256 {
		t.Errorf("icon is %v, want a square of at least 256 pixels", b)
	}
}
