package forensics

import (
	"context"
	"image"
	"math"
)

const (
	// gridWindow is the side (pixels) of the windows whose block-grid
	// phase is measured: 4x4 JPEG blocks give each of the 8 phases 128
	// gradients per direction.
	gridWindow = 32
	// gridMinWindows is the fewest windows per side for the statistics.
	gridMinWindows = 4
)

// blockGridCheck looks for a region whose JPEG block grid is out of step
// with the file's. Every JPEG compression leaves small steps at its 8x8
// block borders. A photo pasted from another JPEG carries its own old
// grid, which lands at an arbitrary offset unless the forger aligned it to
// a multiple of 8; the final save only adds a weak grid at the file's
// phase. Error level analysis barely sees such a paste (the final save
// re-quantised everything on one grid); the misaligned steps remain.
//
// For each window the mean absolute gradient across columns (and rows) is
// profiled by position modulo 8; a grid shows as a peak of that profile
// over its two neighbouring phases (a second difference, which texture
// spread over all phases cancels). The window's statistic is the strongest
// peak at a phase other than the file's, relative to the window's mean
// gradient, summed over both directions. As in error level analysis it is
// scored against windows of similar texture, and the strongest connected
// region of anomalous windows is reported.
func blockGridCheck(ctx context.Context, grey []byte, w, h int, opts Options) Check {
	ww, wh := w/gridWindow, h/gridWindow
	if ww < gridMinWindows || wh < gridMinWindows {
		return notApplicable(CheckBlockGrid, "image too small for block statistics")
	}
	prof, err := gridProfiles(ctx, grey, w, h)
	if err != nil {
		return notApplicable(CheckBlockGrid, err.Error())
	}
	score := make([]float64, len(prof))
	texture := make([]float64, len(prof))
	phase := make([][2]int, len(prof))
	for i := range prof {
		for dir := range prof[i] {
			// The counts as float64 (exact), and their sums per block.
			var blocks [gridBlocks][8]float64
			var sums [gridBlocks]float64
			for k, b := range prof[i][dir] {
				n := int32(0)
				for ph, v := range b {
					blocks[k][ph] = float64(v)
					n += v
				}
				sums[k] = float64(n)
				texture[i] += float64(n)
			}
			best, bestPhase := 0.0, 0
			for ph := 1; ph < 8; ph++ {
				// A grid steps at the same phase in every block of the
				// window; an edge of the content in one block only, so
				// the weakest block decides.
				weakest := math.Inf(1)
				for k, b := range blocks {
					mean := sums[k]/8 + 1 // +1 keeps flat blocks from dividing by ~0
					weakest = min(weakest, (b[ph]-(b[(ph+7)%8]+b[(ph+1)%8])/2)/mean)
				}
				if weakest > best {
					best, bestPhase = weakest, ph
				}
			}
			score[i] += best
			phase[i][dir] = bestPhase
		}
	}
	z := textureZ(score, texture)
	comp, mass := strongestRegion(boxSmooth(z, ww, wh), ww, wh, opts.ELAZ)
	c := Check{Name: CheckBlockGrid, Score: ramp(mass, opts.BlockGridThreshold), Applicable: true, Advisory: true, Evidence: map[string]any{
		"window": gridWindow, "anomaly_mass": round3(mass),
	}}
	if len(comp) == 0 {
		return c
	}
	var rect image.Rectangle
	var votes [2][8]int
	for i, idx := range comp {
		x, y := idx%ww, idx/ww
		r := image.Rect(x*gridWindow, y*gridWindow, (x+1)*gridWindow, (y+1)*gridWindow)
		if i == 0 {
			rect = r
		}
		rect = rect.Union(r)
		votes[0][phase[idx][0]]++
		votes[1][phase[idx][1]]++
	}
	c.Evidence["region"] = regionOf(rect)
	c.Evidence["region_windows"] = len(comp)
	// The region's own grid offset: what a reviewer can verify by eye.
	c.Evidence["region_grid_phase"] = [2]int{argmax(votes[0][:]), argmax(votes[1][:])}
	return c
}

// gridProfiles returns, for each window of the w x h grey image (row by
// row), prof[dir][k][phase]: the pixels whose difference across the border
// before column (dir 0) or row (dir 1) phase is a strict local maximum
// along the row (column), in the window's k-th block column (row).
// Counting maxima rather than summing magnitudes keeps a strong edge of
// the content from outweighing the faint but regular steps of a grid.
// Pixels of the first and last row and column are not counted (their
// differences have no neighbour on one side). It fails only when ctx ends.
func gridProfiles(ctx context.Context, grey []byte, w, h int) ([]gridProfile, error) {
	ww, wh := w/gridWindow, h/gridWindow
	prof := make([]gridProfile, ww*wh)
	xEnd, yEnd := min(ww*gridWindow, w-1), min(wh*gridWindow, h-1)
	// Absolute differences with the left neighbour along row y (dh) and
	// with the upper neighbour in rows y-1, y and y+1 (dv0, dv1, dv2), one
	// row at a time: the whole image's would not stay in cache.
	dh := make([]uint8, xEnd+1)
	dv0, dv1, dv2 := make([]uint8, xEnd+1), make([]uint8, xEnd+1), make([]uint8, xEnd+1)
	absDiffs(dv1, grey[w:], grey)
	for y := 1; y < yEnd; y++ {
		if y%gridWindow == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		absDiffs(dv2, grey[(y+1)*w:], grey[y*w:])
		row := grey[y*w:]
		absDiffs(dh[1:], row[1:], row)
		countMaxima(prof[(y/gridWindow)*ww:][:ww], dh, dv0, dv1, dv2, xEnd, y)
		dv0, dv1, dv2 = dv1, dv2, dv0
	}
	return prof, nil
}

// gridBlocks is the number of JPEG blocks across a window.
const gridBlocks = gridWindow / 8

// gridProfile is a window's count of maxima by direction, block and phase.
type gridProfile [2][gridBlocks][8]int32

// absDiffs sets dst[x] to |a[x]-b[x]|.
func absDiffs(dst, a, b []uint8) {
	a, b = a[:len(dst)], b[:len(dst)]
	for x, u := range a {
		// Arithmetic, not min and max: those branch, and image data
		// defeats the predictor.
		d := int32(u) - int32(b[x])
		m := d >> 31
		dst[x] = uint8((d ^ m) - m)
	}
}

// countMaxima adds row y's maxima (x from 1 to xEnd-1) to the profiles
// of its windows: along the row in dh, across it in dv1 (between dv0
// above and dv2 below). Flags, not branches: whether a pixel is a
// maximum is anyone's guess.
func countMaxima(win []gridProfile, dh, dv0, dv1, dv2 []uint8, xEnd, y int) {
	ky, py := (y%gridWindow)/8, y%8
	dh, dv0, dv1, dv2 = dh[:xEnd+1], dv0[:xEnd], dv1[:xEnd], dv2[:xEnd]
	for wx := range win {
		p := &win[wx]
		x0, x1 := wx*gridWindow, (wx+1)*gridWindow
		var vertical int32
		if x0 == 0 || x1 > xEnd {
			// A window at the image's edge: only its pixels from 1 to xEnd-1.
			for x := max(x0, 1); x < min(x1, xEnd); x++ {
				d, v := dh[x], dv1[x]
				p[0][(x-x0)/8][x%8] += flag(d > dh[x-1]) & flag(d > dh[x+1])
				vertical += flag(v > dv0[x]) & flag(v > dv2[x])
			}
			p[1][ky][py] += vertical
			continue
		}
		for k := range p[0] {
			x := x0 + 8*k
			h := (*[10]uint8)(dh[x-1 : x+9])
			a, v, b := (*[8]uint8)(dv0[x:x+8]), (*[8]uint8)(dv1[x:x+8]), (*[8]uint8)(dv2[x:x+8])
			c := &p[0][k]
			for ph := range c {
				d := h[ph+1]
				c[ph] += flag(d > h[ph]) & flag(d > h[ph+2])
				vertical += flag(v[ph] > a[ph]) & flag(v[ph] > b[ph])
			}
		}
		p[1][ky][py] += vertical
	}
}

// flag is 1 for true, 0 for false.
func flag(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

func argmax(v []int) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
