package forensics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

func analyze(t testing.TB, raw []byte) Report {
	t.Helper()
	img := decodeBGR(t, raw)
	defer img.Close()
	rep, err := Analyze(context.Background(), raw, img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func check(t testing.TB, rep Report, name string) Check {
	t.Helper()
	for _, c := range append(rep.Authenticity.Checks, rep.Liveness.Checks...) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s", name)
	return Check{}
}

func flagged(c Check) bool { return c.Applicable && c.Score < 0.5 }

// TestSynthetic measures each check on cards the tuning never saw
// (evalSeeds): the forgery it targets must be flagged, the genuine card
// must not be.
func TestSynthetic(t *testing.T) {
	type tally struct{ hit, n int }
	rates := map[string]*tally{}
	count := func(key string, ok bool) {
		if rates[key] == nil {
			rates[key] = &tally{}
		}
		rates[key].n++
		if ok {
			rates[key].hit++
		}
	}
	seeds := evalSeeds[:6]
	for _, seed := range seeds {
		genuine := genuineJPEG(t, seed)
		g := analyze(t, genuine)
		for _, name := range []string{CheckELA, CheckDoubleJPEG, CheckBlockGrid, CheckMetadata, CheckCopyMove} {
			count("false alarm "+name, flagged(check(t, g, name)))
		}
		count("false alarm liveness", g.Liveness.Attack != "")

		d := analyze(t, doubleSaved(t, seed, 70))
		count("detect double (70 then 90)", flagged(check(t, d, CheckDoubleJPEG)))

		cm, src, dst := copyMoved(t, seed)
		c := check(t, analyze(t, cm), CheckCopyMove)
		found := flagged(c)
		if found {
			r := c.Evidence["source_region"].(Region)
			got := image.Rect(r.X, r.Y, r.X+r.W, r.Y+r.H)
			// Pairs are canonicalised left to right: the reported source
			// may be either copy.
			found = got.Overlaps(src) || got.Overlaps(dst)
		}
		count("detect copy-move (region located)", found)

		m := analyze(t, withSoftware(t, genuine, "Adobe Photoshop 24.0 (Windows)"))
		mc := check(t, m, CheckMetadata)
		count("detect editor metadata", flagged(mc) && strings.Contains(strings.Join(mc.Evidence["editors"].([]string), ","), "Photoshop"))

		sp, pasted := spliced(t, seed)
		spr := analyze(t, sp)
		count("detect splice, off-grid (ELA)", flagged(check(t, spr, CheckELA)))
		bg := check(t, spr, CheckBlockGrid)
		located := flagged(bg)
		if located {
			r := bg.Evidence["region"].(Region)
			located = image.Rect(r.X, r.Y, r.X+r.W, r.Y+r.H).Overlaps(pasted)
		}
		count("detect splice, off-grid (block grid)", located)
		muted := decodeBGR(t, mutedGenuine(t, seed))
		count("false alarm photocopy, faint colours", flagged(colourCheck(muted, DefaultOptions())))
		muted.Close()

		count("attack screen", analyze(t, screenReplay(t, seed)).Liveness.Attack == AttackScreen)
		count("attack print", analyze(t, printedCopy(t, seed)).Liveness.Attack == AttackPrint)
		count("attack photocopy", analyze(t, photocopied(t, seed)).Liveness.Attack == AttackPhotocopy)
	}
	// Regression floors on the evaluation seeds (the first run measured
	// 6/6 for each except screen, 4/6). Error level analysis misses the
	// off-grid splice (reported, not required); the block-grid check is
	// there for it (it measured 4/6 when added).
	want := map[string]float64{
		"detect splice, off-grid (block grid)": 0.6,
		"detect double (70 then 90)":           0.8,
		"detect copy-move (region located)":    0.8,
		"detect editor metadata":               1,
		"attack screen":                        0.6,
		"attack print":                         0.8,
		"attack photocopy":                     0.8,
	}
	for key, r := range rates {
		rate := float64(r.hit) / float64(r.n)
		t.Logf("%-36s %d/%d", key, r.hit, r.n)
		if min, ok := want[key]; ok && rate < min {
			t.Errorf("%s: rate %.2f below %.2f", key, rate, min)
		}
		if strings.HasPrefix(key, "false alarm") && rate > 0.2 {
			t.Errorf("%s: rate %.2f above 0.2", key, rate)
		}
	}
}

// TestSpecimens runs on the real PassportEye specimen photos and scans,
// which are genuine documents: it reports the false-alarm rate of every
// check, and requires the metadata check to name the editors their EXIF
// really holds.
func TestSpecimens(t *testing.T) {
	dir := testenv.Data(t, "mrz", "passporteye")
	paths, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no specimens in %s: %v", dir, err)
	}
	alarms := map[string]int{}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rep := analyze(t, raw)
		var flags []string
		for _, c := range append(rep.Authenticity.Checks, rep.Liveness.Checks...) {
			if flagged(c) {
				alarms[c.Name]++
				flags = append(flags, c.Name)
			}
		}
		t.Logf("%-22s auth %.2f live %.2f attack %q flags %v", filepath.Base(p), rep.Authenticity.Score, rep.Liveness.Score, rep.Liveness.Attack, flags)
		// Files whose EXIF Software names an editor must be flagged, and a
		// flag must name the editor it found.
		md := check(t, rep, CheckMetadata)
		sw, _ := md.Evidence["software"].([]string)
		editors, _ := md.Evidence["editors"].([]string)
		named := strings.Join(sw, ",")
		if (strings.Contains(named, "Photoshop") || strings.Contains(named, "Paint.NET")) && !flagged(md) {
			t.Errorf("%s: software %v not flagged", filepath.Base(p), sw)
		}
		if flagged(md) != (len(editors) > 0) {
			t.Errorf("%s: flagged %v with editors %v", filepath.Base(p), flagged(md), editors)
		}
	}
	for _, name := range []string{CheckELA, CheckDoubleJPEG, CheckBlockGrid, CheckMetadata, CheckCopyMove, CheckScreen, CheckPrint, CheckPhotocopy} {
		t.Logf("flagged by %-24s %d/%d", name, alarms[name], len(paths))
	}
}

func TestEstimateQuality(t *testing.T) {
	card := renderCard(t, 1, 320, 200)
	defer card.Close()
	for _, q := range []int{40, 75, 90, 97} {
		info, err := parseJPEG(encodeJPEG(t, card, q))
		if err != nil {
			t.Fatal(err)
		}
		got, exact := estimateQuality(info.quant[info.lumaTable])
		if got != q || !exact {
			t.Errorf("quality %d: estimated %d exact %v", q, got, exact)
		}
	}
}

func TestMalformed(t *testing.T) {
	card := renderCard(t, 2, 320, 200)
	defer card.Close()
	jpg := encodeJPEG(t, card, 90)
	var png bytes.Buffer
	pbuf, err := gocv.IMEncode(gocv.PNGFileExt, card)
	if err != nil {
		t.Fatal(err)
	}
	png.Write(pbuf.GetBytes())
	pbuf.Close()
	tiny := gocv.NewMatWithSize(20, 20, gocv.MatTypeCV8UC3)
	defer tiny.Close()
	grey := gocv.NewMatWithSize(200, 200, gocv.MatTypeCV8UC1)
	defer grey.Close()
	empty := gocv.NewMat()
	defer empty.Close()

	cases := []struct {
		name    string
		raw     []byte
		img     gocv.Mat
		wantErr error
		jpegOK  bool // JPEG checks applicable
	}{
		{"valid jpeg", jpg, card, nil, true},
		{"no bytes", nil, card, nil, false},
		{"png", png.Bytes(), card, nil, false},
		{"garbage", []byte("definitely not an image"), card, nil, false},
		{"header cut short", jpg[:40], card, nil, false},
		{"bad segment length", append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF}, jpg[6:100]...), card, nil, false},
		{"tiny image", jpg, tiny, ErrTooSmall, false},
		{"empty image", jpg, empty, ErrTooSmall, false},
		{"grey image", jpg, grey, errors.New("channels"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Analyze(context.Background(), tc.raw, tc.img, Options{})
			if tc.wantErr != nil {
				if err == nil || (!errors.Is(err, tc.wantErr) && !strings.Contains(err.Error(), tc.wantErr.Error())) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{CheckDoubleJPEG, CheckBlockGrid} {
				if got := check(t, rep, name).Applicable; got != tc.jpegOK {
					t.Errorf("%s applicable = %v, want %v", name, got, tc.jpegOK)
				}
			}
			if len(rep.Authenticity.Checks) != 5 || len(rep.Liveness.Checks) != 4 {
				t.Errorf("checks: %d authenticity, %d liveness", len(rep.Authenticity.Checks), len(rep.Liveness.Checks))
			}
			if _, err := json.Marshal(rep); err != nil {
				t.Errorf("report does not marshal: %v", err)
			}
		})
	}
}

func TestCancelled(t *testing.T) {
	card := renderCard(t, 3, 320, 200)
	defer card.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Analyze(ctx, encodeJPEG(t, card, 90), card, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// FuzzParseJPEG shows the header and metadata parsers never panic.
func FuzzParseJPEG(f *testing.F) {
	f.Add(withSoftware(f, []byte{0xFF, 0xD8, 0xFF, 0xD9}, "GIMP 2.10"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00})
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x04tEXtSo\x00x"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		info, err := parseJPEG(raw)
		metadataCheck(raw, info, err, DefaultOptions())
	})
}

// BenchmarkAnalyze runs every check on a 1600x1000 capture.
func BenchmarkAnalyze(b *testing.B) {
	card := renderCard(b, 42, 1600, 1000)
	defer card.Close()
	raw := encodeJPEG(b, card, 90)
	img := decodeBGR(b, raw)
	defer img.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Analyze(context.Background(), raw, img, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRegion puts a card on a cluttered desk: told where the card is,
// Analyze checks only it, finds a copy-moved block there, reports it in the
// frame's coordinates, and does not flag a genuine card.
func TestRegion(t *testing.T) {
	// On the 8-pixel grid, so that the card's own JPEG blocks stay the
	// frame's, as in one camera picture; the region handed to Analyze is
	// a few pixels off it, to be widened.
	off := image.Pt(200, 160)
	onDesk := func(cardJPEG []byte) ([]byte, image.Rectangle) {
		card := decodeBGR(t, cardJPEG)
		defer card.Close()
		desk := synth.Background(card.Cols()+400, card.Rows()+300, 3)
		defer desk.Close()
		r := image.Rectangle{Min: off, Max: off.Add(image.Pt(card.Cols(), card.Rows()))}
		roi := desk.Region(r)
		card.CopyTo(&roi)
		roi.Close()
		return encodeJPEG(t, desk, 90), r
	}
	forged, src, dst := copyMoved(t, evalSeeds[0])
	for name, c := range map[string]struct {
		jpg    []byte
		forged bool
	}{"genuine": {genuineJPEG(t, evalSeeds[0]), false}, "copy-moved": {forged, true}} {
		raw, r := onDesk(c.jpg)
		img := decodeBGR(t, raw)
		loose := image.Rect(r.Min.X+3, r.Min.Y+5, r.Max.X-2, r.Max.Y-1)
		for _, file := range [][]byte{raw, nil} { // the file, and pixels only
			rep, err := Analyze(context.Background(), file, img, Options{Region: loose})
			if err != nil {
				t.Fatal(err)
			}
			cm := check(t, rep, CheckCopyMove)
			if flagged(cm) != c.forged {
				t.Errorf("%s (file %v): copy-move flagged %v, score %.2f", name, file != nil, flagged(cm), cm.Score)
			}
			for _, chk := range append(rep.Authenticity.Checks, rep.Liveness.Checks...) {
				if !c.forged && flagged(chk) && !chk.Advisory {
					t.Errorf("%s (file %v): %s flagged on a genuine card", name, file != nil, chk.Name)
				}
			}
			if !c.forged {
				continue
			}
			// The evidence is where the block is in the frame.
			got := map[string]Region{}
			for _, k := range []string{"source_region", "target_region"} {
				got[k], _ = cm.Evidence[k].(Region)
			}
			for k, want := range map[string]image.Rectangle{"source_region": src.Add(off), "target_region": dst.Add(off)} {
				g := got[k]
				centre := image.Pt(g.X+g.W/2, g.Y+g.H/2)
				if !centre.In(want) && !centre.In(src.Add(off)) && !centre.In(dst.Add(off)) {
					t.Errorf("%s %v does not lie on the copied blocks %v, %v", k, g, src.Add(off), dst.Add(off))
				}
			}
		}
		img.Close()
	}
}

// TestPageCoverage: an outline with a document's aspect covers the page;
// one that does not (the portrait alone, a strip of the page), or that
// leaves the MRZ or the page outside, sends the checks to the whole photo.
func TestPageCoverage(t *testing.T) {
	photo := image.Pt(1600, 1000)
	for _, tc := range []struct {
		name   string
		o      Outline
		covers bool
	}{
		{"ID-1 card", Outline{Found: true, Aspect: 1.58, Bounds: image.Rect(300, 200, 1300, 830)}, true},
		{"TD3 page", Outline{Found: true, Aspect: 1.43, Bounds: image.Rect(200, 100, 1400, 940)}, true},
		{"TD2 page", Outline{Found: true, Aspect: AspectTD2, Bounds: image.Rect(200, 100, 1400, 940)}, true},
		{"the portrait alone", Outline{Found: true, Aspect: 1.25, Bounds: image.Rect(300, 200, 600, 590)}, false},
		{"a strip of the page", Outline{Found: true, Aspect: 2.4, Bounds: image.Rect(200, 100, 1400, 600)}, false},
		{"MRZ outside", Outline{Found: true, Aspect: 1.58, Bounds: image.Rect(300, 200, 1300, 830), MRZOutside: true}, false},
		{"portrait fills it", Outline{Found: true, Aspect: 1.58, Bounds: image.Rect(300, 200, 1300, 830), PortraitFills: true}, false},
		{"no text inside", Outline{Found: true, Aspect: 1.58, Bounds: image.Rect(300, 200, 1300, 830), NoText: true}, false},
		{"nothing found", Outline{}, false},
	} {
		covers, c := PageCoverage(tc.o, photo, Options{})
		if covers != tc.covers {
			t.Errorf("%s: covers %v, want %v (%v)", tc.name, covers, tc.covers, c.Evidence)
		}
		want := regionOf(image.Rectangle{Max: photo})
		if covers {
			want = regionOf(tc.o.Bounds)
		}
		if got := c.Evidence["examined"]; got != want {
			t.Errorf("%s: examined %v, want %v", tc.name, got, want)
		}
		if !c.Advisory || c.Score != 1 {
			t.Errorf("%s: coverage must be advisory evidence, got %+v", tc.name, c)
		}
	}
}

// TestEditorNames: the editors issue 16 found missed are named, in the
// metadata a JPEG carries; a camera's own software is not an editor.
func TestEditorNames(t *testing.T) {
	card := renderCard(t, 42, 400, 252)
	defer card.Close()
	genuine := encodeJPEG(t, card, 90)
	for sw, editor := range map[string]bool{
		"Pixlr Editor": true, "Adobe Express": true, "Microsoft Photos 2024.11050.3002.0": true,
		"GIMP 2.10.34": true, "HDR+ 1.0.641377693zd": false, "Samsung Camera": false,
	} {
		c := check(t, analyze(t, withSoftware(t, genuine, sw)), CheckMetadata)
		if flagged(c) != editor {
			t.Errorf("%q: flagged %v (evidence %v), want %v", sw, flagged(c), c.Evidence, editor)
		}
	}
}

// TestAnalyzeRefusesOtherDepths: a 3-channel image of another depth than
// 8 bits is an error, to Analyze and to each exported check; OpenCV's
// colour conversion aborted the whole process on a 16-bit one.
func TestAnalyzeRefusesOtherDepths(t *testing.T) {
	for _, c := range []struct {
		typ gocv.MatType
		ok  bool
	}{{gocv.MatTypeCV8UC3, true}, {gocv.MatTypeCV16UC3, false}, {gocv.MatTypeCV32FC3, false}, {gocv.MatTypeCV8UC4, false}} {
		m := gocv.NewMatWithSize(600, 800, c.typ)
		ctx, box := context.Background(), image.Rect(200, 150, 400, 400)
		for name, run := range map[string]func() error{
			"Analyze":         func() error { _, err := Analyze(ctx, nil, m, Options{}); return err },
			"AnalyzePortrait": func() error { _, err := AnalyzePortrait(ctx, m, box, Options{}); return err },
			"Reproduction":    func() error { _, _, err := Reproduction(ctx, m, image.Rect(0, 0, 800, 600), 0, Options{}); return err },
			"AnalyzeGhost": func() error {
				marks := FaceMarks{Box: box}
				_, err := AnalyzeGhost(ctx, m, marks, FaceMarks{Box: image.Rect(500, 150, 700, 400)}, Options{})
				return err
			},
		} {
			if err := run(); !c.ok && err == nil {
				t.Errorf("an 800x600 image of type %v: %s succeeded", c.typ, name)
			}
		}
		_, err := Analyze(ctx, nil, m, Options{})
		m.Close()
		if (err == nil) != c.ok {
			t.Errorf("an 800x600 image of type %v: Analyze = %v, want success %v", c.typ, err, c.ok)
		}
	}
}

// TestAttackOf: the lowest failing score names the attack, ties in order
// of specificity, and the dither check names a print only when no other
// liveness check fails (a photocopy's toner is dithered too).
func TestAttackOf(t *testing.T) {
	chk := func(name string, score float64) Check { return Check{Name: name, Applicable: true, Score: score} }
	tests := []struct {
		name string
		cs   []Check
		want string
	}{
		{"nothing fails", []Check{chk(CheckPrint, 0.9), chk(CheckPrintDither, 0.6)}, attackNone},
		{"dither alone", []Check{chk(CheckPrint, 0.9), chk(CheckPrintDither, 0.2)}, AttackPrint},
		{"photocopy beside a lower dither", []Check{chk(CheckPrintDither, 0), chk(CheckPhotocopy, 0.44)}, AttackPhotocopy},
		{"screen below print", []Check{chk(CheckPrint, 0.3), chk(CheckScreen, 0.1)}, AttackScreen},
		{"print and screen tied", []Check{chk(CheckScreen, 0.2), chk(CheckPrint, 0.2)}, AttackPrint},
		{"photocopy tied with print", []Check{chk(CheckPhotocopy, 0.2), chk(CheckPrint, 0.2)}, AttackPrint},
		{"not applicable", []Check{{Name: CheckPhotocopy, Score: 0}, chk(CheckPrintDither, 0.3)}, AttackPrint},
	}
	for _, tt := range tests {
		if got := attackOf(tt.cs, 0.5); got != tt.want {
			t.Errorf("%s: attackOf = %q, want %q", tt.name, got, tt.want)
		}
	}
}
