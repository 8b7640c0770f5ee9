package device

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
	"strconv"
)

// Frame statistics work on 8x8 blocks. Noise is measured in the flattest
// blocks, where the high-frequency residual of a real sensor is its noise
// and not scene texture.
const (
	noiseBlock = 8
	// noisePercentile picks the flattest blocks. A capture of a face has far
	// more than this share of background and skin.
	noisePercentile = 0.10
	// minNoiseSigma, in 8-bit grey levels. Consumer sensors keep about 1 to
	// 3 levels of noise at mid-tones after ISP denoising; rounding a
	// noise-free rendering to 8 bits contributes at most 0.29 (the standard
	// deviation of uniform rounding error). The limit sits between the two.
	minNoiseSigma = 0.5
	// minUsableShare is the share of unclipped blocks below which frames
	// (a covered lens, a blown-out scene) carry too little signal to judge:
	// clipped pixels are noise-free on a real sensor too.
	minUsableShare = 0.05
)

// ErrNoFrames is returned by CheckFrames when it is given no frames.
var ErrNoFrames = errors.New("no frames")

// ErrBadFrame is returned by CheckFrames for a nil, malformed, tiny or
// differently sized frame.
var ErrBadFrame = errors.New("unusable frame")

// CheckFrames flags consecutive frames too perfect to come from a sensor:
// a frame that repeats an earlier one byte for byte (Repeats: a still image
// or a frame-rate converted video fed through a virtual camera), or frames
// without sensor noise, whose flat regions have no high-frequency residual
// (spatial noise) and do not change between frames (temporal noise).
// Frames must share one size of at least 24x24. A single frame without
// spatial noise only warns: MJPEG compression removes that too, and only
// temporal noise tells them apart.
//
// Noise is estimated with Immerkær's Laplacian-mask estimator per block,
// and from the absolute difference of consecutive frames per block; each
// takes the 10th percentile over unclipped blocks, then the median over
// frames. The test catches still and locally moving renderings, not every
// synthetic video: a rendering panned across the whole frame changes every
// block between frames, so its temporal estimate is high and it passes.
func CheckFrames(frames []*image.Gray) (Result, error) {
	lumas, err := frameLumas(frames)
	if err != nil {
		return Result{}, err
	}
	r := newResult(CheckFrameStatistics, SeverityHigh)
	r.Evidence["frames"] = strconv.Itoa(len(frames))
	var spatial, temporal []float64
	usableShare := 0.0
	judged := make([]bool, len(lumas))
	var prevUsable []bool
	for i, rows := range lumas {
		usable, residual := blockStats(rows)
		share := float64(countTrue(usable)) / float64(len(usable))
		judged[i] = share >= minUsableShare
		usableShare += share / float64(len(lumas))
		spatial = append(spatial, percentile(pick(residual, usable), noisePercentile))
		if i > 0 {
			both := make([]bool, len(usable))
			for b := range both {
				both[b] = usable[b] && prevUsable[b]
			}
			temporal = append(temporal, percentile(blockDiffs(lumas[i-1], rows, both), noisePercentile))
		}
		prevUsable = usable
	}
	identical := repeats(lumas, judged)

	sigma, tsigma := median(spatial), median(temporal)
	r.Evidence["usable_blocks"] = fmt.Sprintf("%.0f%%", 100*usableShare)
	r.Evidence["spatial_noise"] = fmt.Sprintf("%.2f", sigma)
	if len(temporal) > 0 {
		r.Evidence["temporal_noise"] = fmt.Sprintf("%.2f", tsigma)
		r.Evidence["repeated_frames"] = strconv.Itoa(identical)
	}
	switch {
	case identical > 0:
		r.Severity = SeverityCritical
		r.Flag(StatusFail, "finding", "repeated frames: a sensor's noise never repeats")
	case usableShare < minUsableShare:
		r.Severity = SeverityMedium
		r.Flag(StatusWarn, "finding", "frames too clipped (dark or saturated) to judge")
	case sigma < minNoiseSigma && len(temporal) == 0:
		// Compression (an MJPEG webcam) also removes spatial noise; only
		// the change between frames tells the two apart.
		r.Severity = SeverityMedium
		r.Flag(StatusWarn, "finding", "no spatial sensor noise in a single frame: rendered or compressed")
	case sigma < minNoiseSigma && tsigma < minNoiseSigma:
		r.Flag(StatusFail, "finding", "no sensor noise: frames look rendered or re-encoded")
	}
	return r, nil
}

// Repeats counts the frames that repeat an earlier one byte for byte,
// consecutive or not, among those with enough unclipped blocks to judge (a
// covered lens repeats its black on a real sensor too). A sensor's noise
// never repeats: a still image fed through a virtual camera repeats every
// frame, two stills taken in turn every other. Frames must share one size
// of at least 24x24 (ErrNoFrames, ErrBadFrame).
func Repeats(frames []*image.Gray) (int, error) {
	lumas, err := frameLumas(frames)
	if err != nil {
		return 0, err
	}
	judged := make([]bool, len(lumas))
	for i, rows := range lumas {
		usable := unclipped(rows)
		judged[i] = float64(countTrue(usable))/float64(len(usable)) >= minUsableShare
	}
	return repeats(lumas, judged), nil
}

// MinFeedFrames is how many frames must stand behind a capture for
// FeedSuspect to judge its feed.
const MinFeedFrames = 3

// FeedSuspect judges the camera feed behind a selfie from its last frames,
// in the order received: "" for a live feed, else why it is suspect
// (risk.Input.FeedSuspect). A frame that repeats another byte for byte
// (Repeats) is a still image fed through a virtual camera or a script;
// fewer than MinFeedFrames frames show no feed at all, as when a script
// posts a photo as a capture; frames of different sizes are not one
// camera's. Only repeats are judged, not the noise CheckFrames also
// measures: a phone's denoising and its JPEG can take the noise of a real
// camera's flattest blocks, and a capture is judged on every customer's
// frames. A feed that a client fabricates with noise of its own passes: the
// active challenge is for that.
func FeedSuspect(frames []*image.Gray) string {
	if len(frames) < MinFeedFrames {
		return fmt.Sprintf("%d camera frames behind the selfie, fewer than %d: no camera feed was seen", len(frames), MinFeedFrames)
	}
	n, err := Repeats(frames)
	switch {
	case err != nil:
		return fmt.Sprintf("the camera frames behind the selfie are not one camera's: %v", err)
	case n > 0:
		return fmt.Sprintf("%d of the %d camera frames behind the selfie repeat an earlier one byte for byte: a still image, not a camera", n, len(frames))
	}
	return ""
}

// frameLumas validates frames (one size, at least 24x24) and returns their
// rows.
func frameLumas(frames []*image.Gray) ([][][]byte, error) {
	if len(frames) == 0 {
		return nil, ErrNoFrames
	}
	size := image.Point{}
	if frames[0] != nil {
		size = frames[0].Rect.Size()
	}
	lumas := make([][][]byte, len(frames))
	for i, f := range frames {
		rows, err := lumaRows(f, size)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		lumas[i] = rows
	}
	return lumas, nil
}

// repeats counts the judged frames equal to an earlier judged frame.
func repeats(lumas [][][]byte, judged []bool) int {
	n := 0
	for i := range lumas {
		if !judged[i] {
			continue
		}
		for j := range i {
			if judged[j] && sameFrame(lumas[j], lumas[i]) {
				n++
				break
			}
		}
	}
	return n
}

// frameResult runs CheckFrames for Run, where bad frames are a warning.
func frameResult(frames []*image.Gray) Result {
	r, err := CheckFrames(frames)
	if err != nil {
		r = newResult(CheckFrameStatistics, SeverityMedium)
		r.Flag(StatusWarn, "error", err.Error())
	}
	return r
}

// lumaRows validates f against size and returns its rows.
func lumaRows(f *image.Gray, size image.Point) ([][]byte, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: nil", ErrBadFrame)
	}
	w, h := f.Rect.Dx(), f.Rect.Dy()
	if f.Rect.Size() != size {
		return nil, fmt.Errorf("%w: size %dx%d differs from the first frame's %dx%d", ErrBadFrame, w, h, size.X, size.Y)
	}
	if w < 3*noiseBlock || h < 3*noiseBlock {
		return nil, fmt.Errorf("%w: %dx%d is smaller than %dx%d", ErrBadFrame, w, h, 3*noiseBlock, 3*noiseBlock)
	}
	if f.Stride < w || f.PixOffset(f.Rect.Min.X, f.Rect.Max.Y-1)+w > len(f.Pix) {
		return nil, fmt.Errorf("%w: pixel buffer too short for %dx%d", ErrBadFrame, w, h)
	}
	rows := make([][]byte, h)
	for y := range rows {
		o := f.PixOffset(f.Rect.Min.X, f.Rect.Min.Y+y)
		rows[y] = f.Pix[o : o+w]
	}
	return rows, nil
}

// blockStats returns, per whole 8x8 block in row-major order, whether the
// block is unclipped (no pixel at 0 or 255) and its Immerkær noise estimate:
// the mean absolute response to the mask [1 -2 1; -2 4 -2; 1 -2 1], whose
// response to white noise of deviation s has deviation 6s. The mask is the
// outer product of [1 -2 1] with itself, so it is applied as a horizontal
// second difference per row, then a vertical one across three rows.
func blockStats(rows [][]byte) (usable []bool, sigma []float64) {
	h, w := len(rows), len(rows[0])
	bw, bh := w/noiseBlock, h/noiseBlock
	sum := make([]int, bw*bh)
	// Horizontal second differences of rows y-1, y and y+1.
	prev, cur, next := make([]int32, w), make([]int32, w), make([]int32, w)
	hdiff(rows[0], prev)
	hdiff(rows[1], cur)
	for y := 1; y < min(bh*noiseBlock, h-1); y, prev, cur, next = y+1, cur, next, prev {
		b0 := (y / noiseBlock) * bw
		hdiff(rows[y+1], next)
		for bx := range bw {
			var acc int32
			for x := max(bx*noiseBlock, 1); x < min((bx+1)*noiseBlock, w-1); x++ {
				l := prev[x] - 2*cur[x] + next[x]
				acc += max(l, -l)
			}
			sum[b0+bx] += int(acc)
		}
	}
	sigma = make([]float64, bw*bh)
	scale := math.Sqrt(math.Pi/2) / 6
	for i := range sigma {
		bx, by := i%bw, i/bw
		// The mask needs both neighbours, so the image's outer pixels are
		// not centres.
		cols := min((bx+1)*noiseBlock, w-1) - max(bx*noiseBlock, 1)
		centres := min((by+1)*noiseBlock, h-1) - max(by*noiseBlock, 1)
		sigma[i] = scale * float64(sum[i]) / float64(cols*centres)
	}
	return unclipped(rows), sigma
}

// unclipped reports, per whole 8x8 block in row-major order, whether no
// pixel of the block is at 0 or 255.
func unclipped(rows [][]byte) []bool {
	bw, bh := len(rows[0])/noiseBlock, len(rows)/noiseBlock
	lo, hi := make([]byte, bw*bh), make([]byte, bw*bh)
	for i := range lo {
		lo[i] = 255
	}
	for y := range bh * noiseBlock {
		b0 := (y / noiseBlock) * bw
		row := rows[y]
		for bx := range bw {
			l, h := lo[b0+bx], hi[b0+bx]
			for _, v := range row[bx*noiseBlock : (bx+1)*noiseBlock] {
				l, h = min(l, v), max(h, v)
			}
			lo[b0+bx], hi[b0+bx] = l, h
		}
	}
	out := make([]bool, bw*bh)
	for i := range out {
		out[i] = lo[i] > 0 && hi[i] < 255
	}
	return out
}

// hdiff writes the horizontal second difference of row into out; the
// first and last entries, which lack a neighbour, are left alone.
func hdiff(row []byte, out []int32) {
	out = out[:len(row)]
	for x := 1; x < len(row)-1; x++ {
		out[x] = int32(row[x-1]) - 2*int32(row[x]) + int32(row[x+1])
	}
}

// blockDiffs returns the temporal noise estimate of each selected block:
// the difference of two frames with noise deviation s has deviation s√2,
// so its mean absolute value is 2s/√π.
func blockDiffs(a, b [][]byte, selected []bool) []float64 {
	bw := len(a[0]) / noiseBlock
	scale := math.Sqrt(math.Pi) / 2 / (noiseBlock * noiseBlock)
	var out []float64
	for i, ok := range selected {
		if !ok {
			continue
		}
		x0, y0 := (i%bw)*noiseBlock, (i/bw)*noiseBlock
		sum := 0
		for y := y0; y < y0+noiseBlock; y++ {
			ra, rb := a[y][x0:x0+noiseBlock], b[y][x0:x0+noiseBlock]
			for x := range ra {
				sum += abs(int(ra[x]) - int(rb[x]))
			}
		}
		out = append(out, scale*float64(sum))
	}
	return out
}

func sameFrame(a, b [][]byte) bool {
	for y := range a {
		if !bytes.Equal(a[y], b[y]) {
			return false
		}
	}
	return true
}

// pick returns the values whose flag is set.
func pick(vals []float64, keep []bool) []float64 {
	var out []float64
	for i, v := range vals {
		if keep[i] {
			out = append(out, v)
		}
	}
	return out
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// percentile returns the q-quantile of xs (nearest rank), 0 when empty:
// no unclipped block means no measurable noise.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func median(xs []float64) float64 { return percentile(xs, 0.5) }

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
