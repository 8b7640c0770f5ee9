package forensics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/bits"
	"slices"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
)

// jpegChecks runs the checks that need the file's own 8x8 grid: error
// level analysis, double quantisation and block-grid alignment. For a JPEG the file is decoded
// again to grey (libjpeg then returns its Y plane exactly, and ignoring
// EXIF orientation keeps the block grid); other input falls back to the
// grey of img and skips the DCT check.
// img is the region of the picture that is checked; full is the whole
// picture's rectangle, region img's place in it (the file decodes to full,
// turned by its EXIF orientation). A turned file is checked as stored, on
// its own grid, and the regions found are mapped to the picture.
func jpegChecks(ctx context.Context, raw []byte, jpg jpegInfo, jpgErr error, img gocv.Mat, full, region image.Rectangle, opts Options) []Check {
	quality := opts.ELAQuality
	var dq, grid Check
	// Where grey lies in the file: the region, unless the file decodes to
	// another size than the picture (a rectified document with its
	// original file), when grey is the whole file.
	at := region.Min
	// The file's orientation and size, to map the evidence to the picture.
	orient, fw, fh := 1, 0, 0
	var reason string // why the checks of the file's own grid cannot run
	grey := gocv.NewMat()
	defer grey.Close()
	switch {
	case jpgErr != nil:
		reason = "not a JPEG"
		if !errors.Is(jpgErr, ErrNotJPEG) {
			reason = jpgErr.Error()
		}
	case jpg.quant[jpg.lumaTable] == nil:
		reason = "no luminance quantisation table"
	case jpg.width*jpg.height > opts.MaxPixels:
		reason = fmt.Sprintf("%dx%d is over %d pixels", jpg.width, jpg.height, opts.MaxPixels)
	default:
		g, err := gocv.IMDecode(raw, gocv.IMReadGrayScale|gocv.IMReadIgnoreOrientation)
		if err != nil || g.Empty() {
			g.Close()
			reason = "JPEG does not decode"
			break
		}
		grey.Close()
		grey = g
		o := imageio.Orientation(raw) // as the picture was decoded
		switch file := image.Rect(0, 0, g.Cols(), g.Rows()); {
		case orientedSize(o, g.Cols(), g.Rows()) != full.Size():
			at = image.Point{}
		default:
			orient, fw, fh = o, g.Cols(), g.Rows()
			// The region on the file, widened to its grid.
			r := gridAligned(orientRect(inverseOrientation(o), region, full.Dx(), full.Dy())).Intersect(file)
			if r.Dx() < MinSide || r.Dy() < MinSide {
				r = file
			}
			at = r.Min
			if r != file {
				sub := g.Region(r)
				grey = sub.Clone()
				sub.Close()
				g.Close()
			}
		}
		table := jpg.quant[jpg.lumaTable]
		quality, _ = estimateQuality(table)
		dq = doubleQuantCheck(grey, table, jpg, opts)
		grid = blockGridCheck(ctx, pixels(grey), grey.Cols(), grey.Rows(), opts)
	}
	if reason != "" {
		dq, grid = notApplicable(CheckDoubleJPEG, reason), notApplicable(CheckBlockGrid, reason)
		gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	}
	cs := offsetEvidence([]Check{elaCheck(ctx, grey, quality, opts), dq, grid}, at)
	return orientEvidence(cs, orient, fw, fh)
}

// elaGhostSteps are how far below the file's quality the image is
// re-encoded. A region first saved at a lower quality and then saved again
// with the rest keeps coefficients near that lower quality's grid, so
// re-encoding near that quality changes it unusually little (a "JPEG
// ghost"); the rest, quantised only at the file's quality, changes more.
var elaGhostSteps = [...]int{30, 20, 10}

// elaCheck re-encodes the grey image at qualities below the file's own
// and, for each, compares block by block the error level with that of
// blocks of similar texture, looking for a connected region of unusually
// low error. It reports the strongest such region over the qualities.
func elaCheck(ctx context.Context, grey gocv.Mat, quality int, opts Options) Check {
	b := opts.ELABlock
	w, h := grey.Cols(), grey.Rows()
	bw, bh := w/b, h/b
	if bw < 4 || bh < 4 {
		return notApplicable(CheckELA, "image too small for block statistics")
	}
	g := pixels(grey)
	classes := textureClassesOf(blockTexture(g, w, h, b))
	c := Check{Name: CheckELA, Applicable: true, Evidence: map[string]any{"file_quality": quality, "block": b}}
	bestMass, bestQ := 0.0, 0
	var bestComp []int
	var bestErr []float64
	lastQ := 0
	for _, step := range elaGhostSteps {
		if err := ctx.Err(); err != nil {
			return notApplicable(CheckELA, err.Error())
		}
		q := min(max(quality-step, 30), 95)
		if q == lastQ {
			continue // clamped to the same quality: the same error levels
		}
		lastQ = q
		errLevel, err := reencodeError(grey, g, q, b)
		if err != nil {
			return notApplicable(CheckELA, err.Error())
		}
		z := classes.z(errLevel)
		for i := range z {
			z[i] = -z[i] // a ghost is unusually low error
		}
		comp, mass := strongestRegion(boxSmooth(z, bw, bh), bw, bh, opts.ELAZ)
		if mass > bestMass || bestErr == nil {
			bestMass, bestQ, bestComp, bestErr = mass, q, comp, errLevel
		}
	}
	c.Score = ramp(bestMass, opts.ELAThreshold)
	c.Evidence["anomaly_mass"] = round3(bestMass)
	c.Evidence["quality"] = bestQ
	c.Evidence["mean_error_level"] = round3(mean(bestErr))
	if len(bestComp) == 0 {
		return c
	}
	var rect image.Rectangle
	in := make(map[int]bool, len(bestComp))
	var inside, outside float64
	for i, idx := range bestComp {
		x, y := idx%bw, idx/bw
		br := image.Rect(x*b, y*b, (x+1)*b, (y+1)*b)
		if i == 0 {
			rect = br
		}
		rect = rect.Union(br)
		in[idx] = true
		inside += bestErr[idx]
	}
	for i, e := range bestErr {
		if !in[i] {
			outside += e
		}
	}
	c.Evidence["region"] = regionOf(rect)
	c.Evidence["region_blocks"] = len(bestComp)
	c.Evidence["region_error_level"] = round3(inside / float64(len(bestComp)))
	if n := len(bestErr) - len(bestComp); n > 0 {
		c.Evidence["rest_error_level"] = round3(outside / float64(n))
	}
	return c
}

// reencodeError returns the mean absolute difference per b x b block
// between the grey image (pixels g) and its re-encoding at quality q.
func reencodeError(grey gocv.Mat, g []byte, q, b int) ([]float64, error) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, grey, []int{gocv.IMWriteJpegQuality, q})
	if err != nil {
		return nil, fmt.Errorf("re-encoding at quality %d: %w", q, err)
	}
	re, err := gocv.IMDecode(buf.GetBytes(), gocv.IMReadGrayScale)
	buf.Close()
	defer re.Close()
	if err != nil || re.Empty() {
		return nil, fmt.Errorf("re-decoding at quality %d failed", q)
	}
	r := pixels(re)
	w, h := grey.Cols(), grey.Rows()
	bw, bh := w/b, h/b
	out := make([]float64, bw*bh)
	sums := make([]int, bw)
	for by := 0; by < bh; by++ {
		clear(sums)
		for y := by * b; y < (by+1)*b; y++ {
			gr, rr := g[y*w:y*w+bw*b], r[y*w:y*w+bw*b]
			for bx := range sums {
				e := 0
				rb := rr[bx*b : (bx+1)*b]
				for x, v := range gr[bx*b : (bx+1)*b] {
					e += absInt(int(v) - int(rb[x]))
				}
				sums[bx] += e
			}
		}
		for bx, e := range sums {
			out[by*bw+bx] = float64(e) / float64(b*b)
		}
	}
	return out, nil
}

// blockTexture is the mean absolute horizontal plus vertical gradient per
// b x b block.
func blockTexture(g []byte, w, h, b int) []float64 {
	bw, bh := w/b, h/b
	out := make([]float64, bw*bh)
	sums := make([]int, bw)
	// A row's differences with its right (dx) and lower (dy) neighbours;
	// the last column and row have none (0).
	dx, dy := make([]uint8, w), make([]uint8, w)
	for by := 0; by < bh; by++ {
		clear(sums)
		for y := by * b; y < (by+1)*b; y++ {
			row := g[y*w : (y+1)*w]
			absDiffs(dx[:w-1], row[1:], row)
			if y+1 < h {
				absDiffs(dy, g[(y+1)*w:], row)
			} else {
				clear(dy)
			}
			for bx := range sums {
				t := 0
				for x := bx * b; x < (bx+1)*b; x++ {
					t += int(dx[x]) + int(dy[x])
				}
				sums[bx] += t
			}
		}
		for bx, t := range sums {
			out[by*bw+bx] = float64(t) / float64(b*b)
		}
	}
	return out
}

// textureZ scores each block's error level against blocks of similar
// texture (eight texture quantile classes): robust z = (e - median) /
// (1.4826 MAD). JPEG error grows with texture in a non-linear, saturating
// way, so comparing like with like keeps text and guilloche from looking
// anomalous.
func textureZ(e, t []float64) []float64 { return textureClassesOf(t).z(e) }

// textureClasses holds the blocks of each texture class, so that several
// error levels can be scored against one texture (elaCheck's qualities).
type textureClasses [][]int

func textureClassesOf(t []float64) textureClasses {
	const classes = 8
	order := make([]int, len(t))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(t[a], t[b]) })
	cl := make(textureClasses, classes)
	for c := range cl {
		cl[c] = order[c*len(order)/classes : (c+1)*len(order)/classes]
	}
	return cl
}

// z is textureZ of the error levels e.
func (cl textureClasses) z(e []float64) []float64 {
	z := make([]float64, len(e))
	for _, idx := range cl {
		vals := make([]float64, len(idx))
		for i, j := range idx {
			vals[i] = e[j]
		}
		med := median(vals)
		for i := range vals {
			vals[i] = math.Abs(vals[i] - med)
		}
		// The floor keeps flat classes (MAD 0) from turning rounding
		// noise into huge z-scores.
		scale := max(1.4826*median(vals), 0.1*med, 0.05)
		for _, j := range idx {
			z[j] = (e[j] - med) / scale
		}
	}
	return z
}

// boxSmooth averages each cell with its 3x3 neighbourhood, so that a single
// odd block counts for little and a coherent region keeps its level.
func boxSmooth(v []float64, w, h int) []float64 {
	out := make([]float64, len(v))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float64
			n := 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					xx, yy := x+dx, y+dy
					if xx >= 0 && yy >= 0 && xx < w && yy < h {
						s += v[yy*w+xx]
						n++
					}
				}
			}
			out[y*w+x] = s / float64(n)
		}
	}
	return out
}

// strongestRegion finds the 4-connected region of cells above thr with the
// largest mass (mean value times the square root of its size, which grows
// like a significance for a region of independent cells) and returns its
// cells and mass.
func strongestRegion(v []float64, w, h int, thr float64) ([]int, float64) {
	seen := make([]bool, len(v))
	var best []int
	bestMass := 0.0
	for start := range v {
		if seen[start] || v[start] <= thr {
			continue
		}
		comp := []int{start}
		seen[start] = true
		sum := 0.0
		for q := 0; q < len(comp); q++ {
			i := comp[q]
			sum += v[i]
			x, y := i%w, i/w
			for _, n := range [4][2]int{{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}} {
				if n[0] < 0 || n[1] < 0 || n[0] >= w || n[1] >= h {
					continue
				}
				j := n[1]*w + n[0]
				if !seen[j] && v[j] > thr {
					seen[j] = true
					comp = append(comp, j)
				}
			}
		}
		mass := sum / math.Sqrt(float64(len(comp)))
		if mass > bestMass {
			best, bestMass = comp, mass
		}
	}
	return best, bestMass
}

// pixels returns m's bytes, without a copy when m is continuous (as
// decoded, converted or cloned Mats are); they are valid until m is closed.
func pixels(m gocv.Mat) []byte {
	if p, err := m.DataPtrUint8(); err == nil {
		return p
	}
	return m.ToBytes()
}

// absInt is |x|, without a branch: the sign of a pixel difference is
// anyone's guess.
func absInt(x int) int {
	m := x >> (bits.UintSize - 1)
	return (x ^ m) - m
}

// median sorts a copy of v.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
