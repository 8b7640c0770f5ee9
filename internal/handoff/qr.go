package handoff

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// quietZone is the QR code's margin in modules.
const quietZone = 4

func encode(s string) (barcode.Barcode, error) {
	code, err := qr.Encode(s, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("encoding the QR code: %w", err)
	}
	return code, nil
}

// QRPNG draws s (a Handoff's URL) as a QR code PNG of about size pixels
// a side, quiet zone included.
func QRPNG(s string, size int) ([]byte, error) {
	code, err := encode(s)
	if err != nil {
		return nil, err
	}
	n := code.Bounds().Dx()
	px := max(1, size/(n+2*quietZone))
	scaled, err := barcode.Scale(code, n*px, n*px)
	if err != nil {
		return nil, fmt.Errorf("scaling the QR code: %w", err)
	}
	// barcode.Scale draws no quiet zone: padded by drawing onto white.
	img := padded(scaled, quietZone*px)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("writing the QR code PNG: %w", err)
	}
	return b.Bytes(), nil
}

// QRText draws s as a QR code for a terminal: two modules a character
// (half and full blocks for the light modules, spaces for the dark), so
// on the usual light-on-dark terminal it shows dark on light, quiet zone
// included.
func QRText(s string) (string, error) {
	code, err := encode(s)
	if err != nil {
		return "", err
	}
	n := code.Bounds().Dx()
	dark := func(x, y int) bool {
		x, y = x-quietZone, y-quietZone
		if x < 0 || y < 0 || x >= n || y >= n {
			return false
		}
		r, _, _, _ := code.At(x, y).RGBA()
		return r < 0x8000
	}
	size := n + 2*quietZone
	var b strings.Builder
	for y := 0; y < size; y += 2 {
		for x := range size {
			top, bottom := dark(x, y), y+1 < size && dark(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune(' ')
			case top:
				b.WriteRune('▄')
			case bottom:
				b.WriteRune('▀')
			default:
				b.WriteRune('█')
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// padded draws img on a white square margin pixels larger on every side.
func padded(img image.Image, margin int) *image.Gray {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx()+2*margin, b.Dy()+2*margin))
	draw.Draw(out, out.Bounds(), &image.Uniform{C: color.White}, image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(margin, margin, margin+b.Dx(), margin+b.Dy()), img, b.Min, draw.Src)
	return out
}
