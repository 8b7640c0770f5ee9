package ocr

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/internal/testenv"
)

// compareAll makes TestRecognizers read all 1000 doubango lines with every
// recogniser (about five minutes on two cores) rather than every fifth.
var compareAll = flag.Bool("ocr.compare-all", false, "TestRecognizers: every doubango line, not every fifth")

// compareOnly limits TestRecognizers to these recognisers (comma-separated
// names); empty compares all.
var compareOnly = flag.String("ocr.only", "", "TestRecognizers: only these recognisers (ch-v4,en-v3,en-v4,en-number)")

// newEngineWith is an engine whose main recogniser is the named one, on
// one thread and one worker, as the comparison times it.
func newEngineWith(t testing.TB, model, keys string, height int) *Engine {
	t.Helper()
	testenv.ORT(t)
	e, err := New(Config{DetModel: testenv.Model(t, "ppocr-det"), Threads: 1,
		RecModel: testenv.Model(t, model), Keys: testenv.Model(t, keys), RecHeight: height})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// doubangoLines reads every step-th doubango MRZ line and its truth; the
// images are closed when the test ends.
func doubangoLines(t testing.TB, step int) ([]gocv.Mat, []string, []string) {
	t.Helper()
	dir := testenv.Data(t, "mrz", "doubango_mrz_lines")
	files, err := filepath.Glob(filepath.Join(dir, "*.tif"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no line images in %s: %v", dir, err)
	}
	var imgs []gocv.Mat
	var truth, paths []string
	for i := 0; i < len(files); i += step {
		paths = append(paths, files[i])
		gt, err := os.ReadFile(strings.TrimSuffix(files[i], ".tif") + ".gt.txt")
		if err != nil {
			t.Fatal(err)
		}
		// Tests may trust their own data: TIFF is outside imageio's formats.
		img := gocv.IMRead(files[i], gocv.IMReadColor)
		if img.Empty() {
			t.Fatalf("cannot read %s", files[i])
		}
		imgs = append(imgs, img)
		truth = append(truth, strings.TrimSpace(string(gt)))
	}
	t.Cleanup(func() {
		for _, m := range imgs {
			m.Close()
		}
	})
	return imgs, truth, paths
}

// TestRecognizers prints, for each recogniser at hand, its character error
// rate on the doubango MRZ lines (free decoding, and the MRZ decoding
// mrzread uses, before and after the parser's corrections) and on the
// short-word test, and its time per line, all on one thread. It is the
// measurement behind the choice of recogniser per kind of line in
// internal/engines; the choice itself is held by TestMRZLineCER and
// TestShortWords. -ocr.compare-all reads all 1000 lines.
func TestRecognizers(t *testing.T) {
	if testing.Short() {
		t.Skip("a measurement of minutes")
	}
	step := 5
	if *compareAll {
		step = 1
	}
	lines, truth, lineFiles := doubangoLines(t, step)
	words, wordTruth := shortWords(t)
	accented, accentTruth := accentedWords(t)
	chars := 0
	for _, s := range truth {
		chars += len([]rune(s))
	}
	ctx := context.Background()
	mrzOpt := DecodeOptions{Allow: MRZAlphabet, Lengths: []int{30, 36, 44}, MaxAdded: 4, FullWidth: true}
	var rows []string
	for _, r := range testenv.Recognizers() {
		if *compareOnly != "" && !slices.Contains(strings.Split(*compareOnly, ","), r.Name) {
			continue
		}
		e := newEngineWith(t, r.Model, r.Keys, r.Height)
		// cer reads the lines once and scores the reading as read and
		// after the parser's corrections.
		cer := func(opt DecodeOptions) (raw, fixed float64, perLine time.Duration) {
			start := time.Now()
			got, err := e.ReadCrops(ctx, lines, opt)
			if err != nil {
				t.Fatal(err)
			}
			perLine = time.Since(start) / time.Duration(len(lines))
			errs, fixErrs := 0, 0
			for i, l := range got {
				errs += editDistance(truth[i], l.Text)
				text, _, _ := mrz.FixLine(l.Text)
				fixErrs += editDistance(truth[i], text)
			}
			return 100 * float64(errs) / float64(chars), 100 * float64(fixErrs) / float64(chars), perLine
		}
		free, _, _ := cer(DecodeOptions{FullWidth: true})
		m, fixed, took := cer(mrzOpt)
		var wordCols []string
		for _, full := range []bool{false, true} {
			got, err := e.ReadCrops(ctx, words, DecodeOptions{FullWidth: full})
			if err != nil {
				t.Fatal(err)
			}
			wcer, wrong := wordErrors(got, wordTruth)
			wordCols = append(wordCols, fmt.Sprintf("%5.2f%% %3d", wcer, wrong))
		}
		got, err := e.ReadCrops(ctx, accented, DecodeOptions{FullWidth: true})
		if err != nil {
			t.Fatal(err)
		}
		kept, total := accentsKept(got, accentTruth)
		rows = append(rows, fmt.Sprintf("%-10s %8.2f%% %8.2f%% %8.2f%% %8.1f %11s %11s %5d/%d",
			r.Name, free, m, fixed, float64(took.Microseconds())/1000, wordCols[0], wordCols[1], kept, total))
	}
	if bin, err := exec.LookPath("tesseract"); err == nil && *compareOnly == "" {
		tessdata := filepath.Dir(testenv.Model(t, "mrz-tessdata"))
		errs, fixErrs := 0, 0
		start := time.Now()
		for i, f := range lineFiles {
			cmd := exec.CommandContext(ctx, bin, f, "stdout", "--tessdata-dir", tessdata, "-l", "mrz", "--psm", "7",
				"-c", "tessedit_char_whitelist="+MRZAlphabet)
			cmd.Env = append(os.Environ(), "OMP_THREAD_LIMIT=1")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tesseract %s: %v", f, err)
			}
			text := strings.Join(strings.Fields(string(out)), "")
			errs += editDistance(truth[i], text)
			text, _, _ = mrz.FixLine(text)
			fixErrs += editDistance(truth[i], text)
		}
		took := time.Since(start) / time.Duration(len(lines))
		rows = append(rows, fmt.Sprintf("%-10s %9s %8.2f%% %8.2f%% %8.1f (a process a line)", "tesseract", "",
			100*float64(errs)/float64(chars), 100*float64(fixErrs)/float64(chars), float64(took.Microseconds())/1000))
	}
	t.Logf("%d doubango lines (%d characters), %d short words (CER, words wrong; squeezed to 0.75 and at full width), %d accented words\n%-10s %9s %9s %9s %8s %11s %11s %s\n%s",
		len(lines), chars, len(words), len(accented),
		"model", "free", "mrz", "mrz+fix", "ms/line", "words 0.75", "words 1.0", "accents kept", strings.Join(rows, "\n"))
}

// accentedWords renders names and words with accented letters in DejaVu
// Sans (pango-view), as a visual zone prints them; the images are closed
// when the test ends.
func accentedWords(t testing.TB) ([]gocv.Mat, []string) {
	t.Helper()
	words := []string{"JOSÉ", "René Müller", "Gérard Dépardieu", "MÜLLER", "Ministère des Affaires étrangères", "ÉTÉ", "Béatrice", "Françoise", "Ångström", "Peña"}
	var imgs []gocv.Mat
	t.Cleanup(func() {
		for _, m := range imgs {
			m.Close()
		}
	})
	for _, w := range words {
		p := filepath.Join(t.TempDir(), "word.png")
		if out, err := exec.Command("pango-view", "--no-display", "--font", "DejaVu Sans 20", "--margin", "6", "-o", p, "--text", w).CombinedOutput(); err != nil {
			t.Fatalf("pango-view: %v: %s", err, out)
		}
		m := gocv.IMRead(p, gocv.IMReadColor)
		if m.Empty() {
			t.Fatalf("cannot read %s", p)
		}
		imgs = append(imgs, m)
	}
	return imgs, words
}

// accentsKept counts the accented letters of truth that the readings hold
// in place (the same letter at the same position after aligning on the
// unaccented text), and all accented letters.
func accentsKept(lines []Line, truth []string) (kept, total int) {
	for i, w := range truth {
		got := []rune(lines[i].Text)
		for j, r := range []rune(w) {
			if r < 0x80 {
				continue
			}
			total++
			if j < len(got) && got[j] == r {
				kept++
			}
		}
	}
	return kept, total
}
