package engines

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/models"
)

// memory turns on TestMemory, which builds kyc and runs processes.
var memory = flag.Bool("memory", false, "TestMemory: print where the engines' memory goes and kyc document's peak")

// memoryChildEnv makes the test binary the child process of TestMemory.
const memoryChildEnv = "KYC_MEMORY_CHILD"

// maxResidentMB is issue 20's bound on `kyc document`'s peak and on the
// app's engines after warm-up.
const maxResidentMB = 350

// TestMemory prints a table of resident memory: in a fresh process, after
// each step of loading and warming the engines as the app does and after a
// document (VmRSS, and the peak so far, VmHWM); then the peak resident set
// of `kyc document` (built from this checkout) on the passport page and the
// KTP photo of BenchmarkAnalyze. Both must stay under maxResidentMB. The
// desktop app's own process, window included, is the root package's
// TestDesktopMemory.
func TestMemory(t *testing.T) {
	if os.Getenv(memoryChildEnv) != "" {
		memoryChild(t)
		return
	}
	if !*memory {
		t.Skip("builds kyc and runs processes: -memory")
	}
	testenv.ORT(t)
	dir := t.TempDir()
	passport, ktp := filepath.Join(dir, "passport.jpg"), filepath.Join(dir, "ktp.jpg")
	writeBenchDocuments(t, passport, ktp)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestMemory$", "-test.v")
	cmd.Env = append(os.Environ(), memoryChildEnv+"="+passport)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	rows := []string{fmt.Sprintf("%-34s %8s %8s %8s", "engines in one process (as the app)", "RSS MB", "peak MB", "Go heap")}
	var warmRSS float64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 5 || f[0] != "MEM" {
			continue
		}
		rss, _ := strconv.ParseFloat(f[2], 64)
		hwm, _ := strconv.ParseFloat(f[3], 64)
		goHeap, _ := strconv.ParseFloat(f[4], 64)
		if f[1] == "warmed" {
			warmRSS = rss
		}
		rows = append(rows, fmt.Sprintf("%-34s %8.0f %8.0f %8.0f", f[1], rss, hwm, goHeap))
	}
	if warmRSS == 0 {
		t.Fatalf("the child reported no warmed state:\n%s", out)
	}

	kyc := filepath.Join(dir, "kyc")
	build := exec.Command("go", "build", "-o", kyc, "../../cmd/kyc")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building kyc: %v\n%s", err, out)
	}
	rows = append(rows, fmt.Sprintf("%-34s %8s %8s", "kyc document (one process each)", "", "peak MB"))
	peaks := map[string]float64{}
	for _, doc := range []struct{ name, path string }{{"passport page 1600x1000", passport}, {"KTP photo 1600x1000", ktp}} {
		run := exec.Command(kyc, "document", "--image", doc.path)
		if out, err := run.CombinedOutput(); err != nil {
			t.Fatalf("kyc document %s: %v\n%s", doc.path, err, out)
		}
		peak := float64(run.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
		peaks[doc.name] = peak
		rows = append(rows, fmt.Sprintf("%-34s %8s %8.0f", doc.name, "", peak))
	}
	t.Logf("resident memory (bound %d MB)\n%s", maxResidentMB, strings.Join(rows, "\n"))
	if warmRSS > maxResidentMB {
		t.Errorf("engines hold %.0f MB after warm-up, bound %d MB", warmRSS, maxResidentMB)
	}
	for name, p := range peaks {
		if p > maxResidentMB {
			t.Errorf("kyc document on the %s peaks at %.0f MB, bound %d MB", name, p, maxResidentMB)
		}
	}
}

// memoryChild loads the engines step by step in this fresh process,
// printing "MEM step rssMB hwmMB" after each.
func memoryChild(t *testing.T) {
	defer runtimeinfo.TuneGC()()
	report := func(step string) {
		rss, hwm := residentMB(t)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("MEM %s %.1f %.1f %.1f\n", step, rss, hwm, float64(ms.HeapSys-ms.HeapReleased)/(1<<20))
	}
	report("start")
	store, err := models.DefaultStore()
	if err != nil {
		t.Fatal(err)
	}
	if err := runtimeinfo.LoadRuntime(store); err != nil {
		t.Fatal(err)
	}
	report("onnxruntime")
	ctx := context.Background()
	e, err := Open(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	report("models_loaded")
	if err := e.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	report("warmed")
	raw, err := os.ReadFile(os.Getenv(memoryChildEnv))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	res, err := e.Document.Analyze(ctx, document.Image{Raw: raw, Mat: img}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Close()
	report("after_a_passport_page")
	// As the app does after each verification.
	runtimeinfo.ReleaseMemory()
	report("released")
}

// residentMB reads this process's resident set and its peak.
func residentMB(t *testing.T) (rss, hwm float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// writeBenchDocuments writes document/BenchmarkAnalyze's two photos as
// JPEG files.
func writeBenchDocuments(t *testing.T, passport, ktp string) {
	lux, err := imageio.ReadFile(filepath.Join(testenv.Data(t, "mrz", "passporteye"), "100_pass-lux.jpg"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lux.Close()
	page := gocv.NewMat()
	defer page.Close()
	gocv.Resize(lux, &page, image.Pt(1600, 1000), 0, 0, gocv.InterpolationArea)
	card := synth.KTPOnDesk(1600, 1000, 0.7, nil, 4)
	defer card.Close()
	for path, img := range map[string]gocv.Mat{passport: page, ktp: card} {
		if !gocv.IMWriteWithParams(path, img, []int{gocv.IMWriteJpegQuality, 92}) {
			t.Fatalf("writing %s", path)
		}
	}
}
