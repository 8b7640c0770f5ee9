package forgery

import (
	"context"
	"image"
	"sort"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/ocr"
)

// textLine is a line of text as read on the photo, with one cell per
// character of text (an empty rectangle for a space).
type textLine struct {
	text  string
	box   image.Rectangle
	cells []image.Rectangle
}

// zone is the machine readable zone: its lines top to bottom (text as the
// parser corrected it) and its parsed format.
type zone struct {
	lines  []textLine
	format mrz.Format
}

// layout is where a forger would edit the page.
type layout struct {
	portrait image.Rectangle // the printed portrait, empty when none was found
	lines    []textLine      // every line read, the zone's included
	mrz      *zone
}

// findLayout finds the largest face (the printed portrait, widened to the
// photo around it) and reads the text lines, the MRZ among them.
func findLayout(ctx context.Context, img gocv.Mat, tools Tools) (layout, error) {
	var l layout
	bounds := image.Rect(0, 0, img.Cols(), img.Rows())
	if tools.Faces != nil {
		faces, err := tools.Faces.Detect(ctx, img)
		if err != nil {
			return l, err
		}
		if f, err := face.Largest(faces); err == nil && f.Box.W >= 24 {
			b := f.Box
			l.portrait = image.Rect(int(b.X-0.22*b.W), int(b.Y-0.3*b.H), int(b.X+1.22*b.W), int(b.Y+1.25*b.H)).Intersect(bounds)
		}
	}
	if tools.OCR == nil {
		return l, nil
	}
	lines, err := tools.OCR.Read(ctx, img, ocr.DecodeOptions{})
	if err != nil {
		return l, err
	}
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	var texts []string
	for _, ol := range lines {
		b := ol.Box.Bounds().Intersect(bounds)
		if b.Dx() < 8 || b.Dy() < 6 || ol.Turned {
			continue
		}
		tl := textLine{text: ol.Text, box: b}
		tl.cells = cellsOf(grey, b, ol.Text, false)
		l.lines = append(l.lines, tl)
		texts = append(texts, ol.Text)
	}
	zl := mrz.FindLines(texts)
	if len(zl) < 2 {
		return l, nil
	}
	res, err := mrz.Parse(zl, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || res.ValidScore < 50 || len(res.Lines) != len(zl) {
		return l, nil
	}
	z := &zone{format: res.Format}
	for i, src := range zl {
		for _, tl := range l.lines {
			if tl.text == src {
				// The corrected text, its cells spaced evenly: the MRZ's
				// typeface is monospaced.
				z.lines = append(z.lines, textLine{text: res.Lines[i], box: tl.box, cells: cellsOf(grey, tl.box, res.Lines[i], true)})
				break
			}
		}
	}
	if len(z.lines) == len(zl) {
		sort.Slice(z.lines, func(a, b int) bool { return z.lines[a].box.Min.Y < z.lines[b].box.Min.Y })
		l.mrz = z
	}
	return l, nil
}

// cellsOf cuts box into one cell per character of text. The ink (dark on
// light, Otsu) is split at empty columns into blobs; when the blobs are as
// many as the characters that are not spaces they are the cells, else the
// ink's extent is shared evenly (monospaced: by character; else spaces
// count half). Cells span the ink's rows.
func cellsOf(grey gocv.Mat, box image.Rectangle, text string, monospaced bool) []image.Rectangle {
	runes := []rune(text)
	cells := make([]image.Rectangle, len(runes))
	if len(runes) == 0 {
		return cells
	}
	roi := grey.Region(box)
	bin := gocv.NewMat()
	gocv.Threshold(roi, &bin, 0, 255, gocv.ThresholdBinaryInv|gocv.ThresholdOtsu)
	roi.Close()
	defer bin.Close()
	w, h := bin.Cols(), bin.Rows()
	px, _ := bin.DataPtrUint8()
	cols := make([]int, w)
	top, bottom := h, -1
	for y := 0; y < h; y++ {
		n := 0
		for x := 0; x < w; x++ {
			if px[y*w+x] != 0 {
				cols[x]++
				n++
			}
		}
		if n > w/40 {
			top, bottom = min(top, y), max(bottom, y)
		}
	}
	if bottom < top {
		top, bottom = 0, h-1
	}
	var blobs [][2]int
	minInk := max(1, (bottom-top+1)/12)
	for x := 0; x < w; {
		if cols[x] < minInk {
			x++
			continue
		}
		s := x
		for x < w && cols[x] >= minInk {
			x++
		}
		blobs = append(blobs, [2]int{s, x})
	}
	if len(blobs) == 0 {
		return cells
	}
	y0, y1 := box.Min.Y+top-1, box.Min.Y+bottom+2
	nonSpace := 0
	for _, r := range runes {
		if r != ' ' {
			nonSpace++
		}
	}
	if !monospaced && len(blobs) == nonSpace {
		k := 0
		for i, r := range runes {
			if r == ' ' {
				continue
			}
			cells[i] = image.Rect(box.Min.X+blobs[k][0], y0, box.Min.X+blobs[k][1], y1)
			k++
		}
		return cells
	}
	x0, x1 := blobs[0][0], blobs[len(blobs)-1][1]
	if monospaced && len(runes) > 1 {
		// Centres of the first and last glyphs, a pitch apart each.
		c0 := float64(blobs[0][0]+blobs[0][1]) / 2
		c1 := float64(blobs[len(blobs)-1][0]+blobs[len(blobs)-1][1]) / 2
		pitch := (c1 - c0) / float64(len(runes)-1)
		for i := range runes {
			c := c0 + float64(i)*pitch
			cells[i] = image.Rect(box.Min.X+int(c-pitch/2), y0, box.Min.X+int(c+pitch/2+0.5), y1)
		}
		return cells
	}
	units := 0.0
	for _, r := range runes {
		units += unit(r)
	}
	at := 0.0
	scale := float64(x1-x0) / units
	for i, r := range runes {
		if r != ' ' {
			cells[i] = image.Rect(box.Min.X+x0+int(at*scale), y0, box.Min.X+x0+int((at+unit(r))*scale+0.5), y1)
		}
		at += unit(r)
	}
	return cells
}

func unit(r rune) float64 {
	if r == ' ' {
		return 0.5
	}
	return 1
}

// mrzPositions returns, for a zone format, the line and columns of the
// expiry date (6 characters), of its check digit, and of the composite
// check digit, and the text the composite covers.
func mrzPositions(z *zone) (line, expiry, expiryCheck, compLine, comp int, composite func([]string) string, ok bool) {
	switch z.format {
	case mrz.TD3:
		return 1, 21, 27, 1, 43, func(l []string) string { return l[1][0:10] + l[1][13:20] + l[1][21:43] }, len(z.lines) == 2
	case mrz.TD2:
		return 1, 21, 27, 1, 35, func(l []string) string { return l[1][0:10] + l[1][13:20] + l[1][21:35] }, len(z.lines) == 2
	case mrz.TD1:
		return 1, 8, 14, 1, 29, func(l []string) string { return l[0][5:30] + l[1][0:7] + l[1][8:15] + l[1][18:29] }, len(z.lines) == 3
	}
	return 0, 0, 0, 0, 0, nil, false
}
