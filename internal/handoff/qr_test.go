package handoff

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/boombuler/barcode/qr"
)

// TestQR: the PNG decodes to about the size asked with a white quiet zone
// around dark modules; the terminal rendering has one line per two
// module rows (quiet zone included) and its light modules as blocks.
func TestQR(t *testing.T) {
	const link = "https://central.example/flow/h/cGFydG5lcg.c2Vzc2lvbg.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	b, err := QRPNG(link, 400)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	w := img.Bounds().Dx()
	if w < 300 || w > 400 || img.Bounds().Dy() != w {
		t.Errorf("PNG %v, want a square of about 400 px", img.Bounds())
	}
	if r, _, _, _ := img.At(2, 2).RGBA(); r < 0xf000 {
		t.Errorf("the quiet zone's corner is not white: %v", img.At(2, 2))
	}
	dark := 0
	for y := range w {
		for x := range w {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
				dark++
			}
		}
	}
	if dark < w*w/8 || dark > w*w/2 {
		t.Errorf("%d dark pixels of %d", dark, w*w)
	}

	code, err := qr.Encode(link, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	n := code.Bounds().Dx() + 2*quietZone
	txt, err := QRText(link)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(txt, "\n"), "\n")
	if len(lines) != (n+1)/2 || len([]rune(lines[0])) != n {
		t.Errorf("%d lines of %d characters, want %d of %d", len(lines), len([]rune(lines[0])), (n+1)/2, n)
	}
	if strings.Trim(lines[0], "█") != "" {
		t.Errorf("the first line (quiet zone) is not all light: %q", lines[0])
	}
}
