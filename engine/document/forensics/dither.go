package forensics

import (
	"image"

	"gocv.io/x/gocv"
)

// noiseSide is the side of the centre crop whose fine noise is measured.
const noiseSide = 384

// fineNoise measures the pixel-scale noise of img's luminance and chroma:
// for each Lab channel, the median absolute difference between a pixel
// and the mean of its 3x3 neighbourhood, over every other pixel of every
// other row of a centre crop of at most noiseSide pixels a side, on the
// pixels whose neighbourhood is flat in luminance (no edge of the content
// within 3x3). A camera's noise is mostly in luminance, its chroma
// smoothed by demosaicing and by JPEG's halved chroma resolution; an
// inkjet print photographed close brings the scatter of its
// error-diffused droplets. A file that was never a photograph (a
// greyscale scan, a rendered specimen) has hardly any.
func fineNoise(img gocv.Mat) (luma, chroma float64, ok bool) {
	w, h := img.Cols(), img.Rows()
	side := min(noiseSide, w, h)
	r := image.Rect((w-side)/2, (h-side)/2, (w-side)/2+side, (h-side)/2+side)
	sub := img.Region(r)
	lab := gocv.NewMat()
	gocv.CvtColor(sub, &lab, gocv.ColorBGRToLab)
	sub.Close()
	defer lab.Close()
	px := pixels(lab)
	// Residuals in ninths of a level (9 times the pixel less the sum of
	// its neighbourhood), counted for their medians.
	var hl, hc [9 * 512]int
	n := 0
	row := side * 3
	offsets := [9]int{-row - 3, -row, -row + 3, -3, 0, 3, row - 3, row, row + 3}
	for y := 1; y < side-1; y += 2 {
		for x := 1; x < side-1; x += 2 {
			i := y*row + x*3
			var sum [3]int
			lo, hi := 255, 0
			for _, o := range offsets {
				l := int(px[i+o])
				sum[0] += l
				sum[1] += int(px[i+o+1])
				sum[2] += int(px[i+o+2])
				lo, hi = min(lo, l), max(hi, l)
			}
			if hi-lo > 40 {
				continue // an edge of the content
			}
			hl[min(absInt(9*int(px[i])-sum[0]), len(hl)-1)]++
			hc[min(absInt(9*int(px[i+1])-sum[1])+absInt(9*int(px[i+2])-sum[2]), len(hc)-1)]++
			n++
		}
	}
	if n < 500 {
		return 0, 0, false
	}
	med := func(h []int) float64 {
		c := 0
		for v, k := range h {
			if c += k; 2*c > n {
				return float64(v) / 9
			}
		}
		return float64(len(h)) / 9
	}
	return med(hl[:]), med(hc[:]), true
}

// midtone is midtoneNoise's result: the median fine noise of the flat
// mid-tone areas and of the flat paper (light) areas, and how many sampled
// pixels each rests on.
type midtone struct {
	noise, paper float64
	n, paperN    int
	ok           bool
}

// excess is how far the mid-tones' noise exceeds the paper's.
func (m midtone) excess() float64 { return m.noise - m.paper }

// Mid-tone dither: the grey levels whose flat areas midtoneNoise reads as
// tints (paper from paperLo up), and the least number of sampled pixels of
// each for its median to describe the page rather than a patch of it.
const (
	midtoneLo, midtoneHi = 64, 192
	paperLo              = 192
	midtoneMinPixels     = 1000
)

// midtoneNoise is fineNoise's luminance residual (9 times the pixel less
// its 3x3 neighbourhood, in ninths of a grey level) read over the whole
// image, every other pixel of every other row, on the flat neighbourhoods
// (no edge within 3x3), its median taken separately over the mid-tones
// (mean grey 64 to 191) and over the paper (192 and up). An error-diffused
// print scatters droplets where the paper is partly inked and leaves bare
// paper bare: its tints are far noisier than its paper, and a page of
// mostly white paper keeps fineNoise's median near zero. A camera's own
// noise, however strong, is on the paper as much as on the tints, and a
// genuine card's tints are smooth offset or fine lines that the flatness
// test leaves out. ok is false when either has under midtoneMinPixels.
func midtoneNoise(img gocv.Mat) midtone {
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	w, h := grey.Cols(), grey.Rows()
	px := pixels(grey)
	var mid, paper [9 * 256]int
	var m midtone
	for y := 1; y < h-1; y += 2 {
		up, row, down := px[(y-1)*w:y*w], px[y*w:(y+1)*w], px[(y+1)*w:(y+2)*w]
		for x := 1; x < w-1; x += 2 {
			a, b, c := int(up[x-1]), int(up[x]), int(up[x+1])
			d, e, f := int(row[x-1]), int(row[x]), int(row[x+1])
			g, hh, i := int(down[x-1]), int(down[x]), int(down[x+1])
			lo := min(a, b, c, d, e, f, g, hh, i)
			hi := max(a, b, c, d, e, f, g, hh, i)
			if hi-lo > 40 {
				continue // an edge of the content
			}
			sum := a + b + c + d + e + f + g + hh + i
			r := min(absInt(9*e-sum), len(mid)-1)
			switch {
			case sum >= 9*paperLo:
				paper[r]++
				m.paperN++
			case sum >= 9*midtoneLo && sum < 9*midtoneHi:
				mid[r]++
				m.n++
			}
		}
	}
	if m.n < midtoneMinPixels || m.paperN < midtoneMinPixels {
		return m
	}
	m.noise, m.paper, m.ok = histMedian(mid[:], m.n), histMedian(paper[:], m.paperN), true
	return m
}

// histMedian is the median of n values counted in h (value v at h[v]), in
// ninths.
func histMedian(h []int, n int) float64 {
	c := 0
	for v, k := range h {
		if c += k; 2*c > n {
			return float64(v) / 9
		}
	}
	return float64(len(h)) / 9
}
