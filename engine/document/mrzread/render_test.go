package mrzread

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// textStyle is how renderText draws: OCR-B at size points on a page,
// turned by angle degrees and blurred with a Gaussian of sigma blur.
type textStyle struct {
	size  int
	angle float64
	blur  float64
}

// renderText draws lines in Debian's OCR-B (fonts-ocr-b) with pango-view,
// on a white margin that stands for the rest of the page, then turns and
// blurs the picture. gocv's PutText has only Hershey fonts, and an MRZ
// read in another typeface proves little.
func renderText(t testing.TB, lines []string, st textStyle) gocv.Mat {
	t.Helper()
	if out, err := exec.Command("fc-match", "OCR B").Output(); err != nil || !strings.Contains(string(out), "OCRB") {
		t.Fatalf("the OCR-B font is not installed (apt-get install fonts-ocr-b): fc-match says %q, %v", out, err)
	}
	path := filepath.Join(t.TempDir(), "text.png")
	cmd := exec.Command("pango-view", "--no-display", "--font", fmt.Sprintf("OCR B %d", st.size),
		"--margin", fmt.Sprint(st.size*4), "--background", "white", "--foreground", "black",
		"-o", path, "--text", strings.Join(lines, "\n"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pango-view: %v: %s", err, out)
	}
	img := readImage(t, path)
	if st.angle != 0 {
		c := image.Pt(img.Cols()/2, img.Rows()/2)
		m := gocv.GetRotationMatrix2D(c, st.angle, 1)
		gocv.WarpAffineWithParams(img, &img, m, image.Pt(img.Cols(), img.Rows()),
			gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{255, 255, 255, 0})
		m.Close()
	}
	if st.blur > 0 {
		gocv.GaussianBlur(img, &img, image.Pt(0, 0), st.blur, st.blur, gocv.BorderReplicate)
	}
	return img
}

// td3 builds a TD3 zone with its check digits (document number, birth,
// expiry, personal number, composite).
func td3(t testing.TB, name, number, country, birth, sex, expiry, personal string) []string {
	t.Helper()
	cd := func(s string) string {
		d, err := mrz.CheckDigit(s)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(d)
	}
	pad := func(s string, n int) string { return s + strings.Repeat("<", n-len(s)) }
	l1 := pad("P<"+country+name, 44)
	num := pad(number, 9)
	pers := pad(personal, 14)
	head := num + cd(num) + country + birth + cd(birth) + sex + expiry + cd(expiry) + pers + cd(pers)
	comp := num + cd(num) + birth + cd(birth) + expiry + cd(expiry) + pers + cd(pers)
	return []string{l1, head + cd(comp)}
}

// td1 builds a TD1 zone with its check digits.
func td1(t testing.TB, code, country, number, birth, sex, expiry, nationality, name string) []string {
	t.Helper()
	cd := func(s string) string {
		d, err := mrz.CheckDigit(s)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(d)
	}
	pad := func(s string, n int) string { return s + strings.Repeat("<", n-len(s)) }
	l1 := pad(code+country+pad(number, 9)+cd(pad(number, 9)), 30)
	l2 := birth + cd(birth) + sex + expiry + cd(expiry) + pad(nationality, 3)
	l2 = pad(l2, 29)
	comp := l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
	return []string{l1, l2 + cd(comp), pad(name, 30)}
}

// TestSyntheticZones renders zones with known text at angles and blur and
// reads them back exactly.
func TestSyntheticZones(t *testing.T) {
	r := newReader(t, 2)
	zones := map[string][]string{
		"TD3": td3(t, "SCHMIDT<<JOHANNA<MARIE", "C01X00T47", "DEU", "850312", "F", "310101", "ZE184226B"),
		"TD1": td1(t, "I<", "NLD", "SPECI2021", "650310", "M", "300101", "NLD", "DE<BRUIJN<<WILLEKE<LISELOTTE"),
	}
	styles := []textStyle{
		{size: 22},
		{size: 22, angle: 4},
		{size: 22, angle: -8},
		{size: 22, blur: 1.2},
		{size: 16, angle: 2, blur: 0.8},
		{size: 22, angle: 180},
	}
	for format, lines := range zones {
		for _, st := range styles {
			t.Run(fmt.Sprintf("%s/%+v", format, st), func(t *testing.T) {
				img := renderText(t, lines, st)
				res, err := r.Read(context.Background(), img)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if string(res.Format) != format {
					t.Errorf("format %s, want %s", res.Format, format)
				}
				if st.angle == 180 {
					// Upside down, the lines must be found and turned; the
					// recogniser then reads a few characters differently
					// from the upright page (it is sensitive to where a
					// line sits in its crop), so only the zone is checked.
					if len(res.Lines) != len(lines) || res.Lines[0][:2] != lines[0][:2] {
						t.Errorf("read %q upside down, want %q", res.Lines, lines)
					}
					return
				}
				if strings.Join(res.Lines, "\n") != strings.Join(lines, "\n") {
					t.Errorf("read\n%s\nwant\n%s", strings.Join(res.Lines, "\n"), strings.Join(lines, "\n"))
				}
				if res.ValidScore != 100 {
					t.Errorf("valid score %d, want 100", res.ValidScore)
				}
			})
		}
	}
}
