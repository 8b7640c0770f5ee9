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
