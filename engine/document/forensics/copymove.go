package forensics

import (
	"context"
	"encoding/binary"
	"image"
	"math"
	"math/bits"
	"slices"

	"gocv.io/x/gocv"
)

const (
	// orbDescBytes is the length of an ORB descriptor (256 bits).
	orbDescBytes = 32
	// cmSameSpot is the distance (working pixels) under which two
	// keypoints are the same spot seen at two pyramid levels.
	cmSameSpot = 6.0
	// cmOffsetTol is how far (working pixels) two displacements may differ
	// and still describe one copied region.
	cmOffsetTol = 4.0
	// cmHarmonicShare: a displacement is periodic when its harmonics have
	// at least 1/cmHarmonicShare of its own support.
	cmHarmonicShare = 4
	// cmMaxReported bounds the pairs listed in the evidence.
	cmMaxReported = 20
)

type pair struct{ from, to gocv.KeyPoint }

func (p pair) shift() (float64, float64) { return p.to.X - p.from.X, p.to.Y - p.from.Y }

// copyMoveCheck matches the image's ORB descriptors against themselves and
// looks for many distinct keypoint pairs sharing one displacement: the
// trace of a region copied elsewhere in the same image. Repeated printed
// patterns fail the ratio test (each element has many equally good twins),
// and isolated coincidences do not form a cluster.
func copyMoveCheck(ctx context.Context, img gocv.Mat, opts Options) Check {
	work, scale := downscaleGrey(img, opts.WorkLongSide)
	defer work.Close()
	orb := gocv.NewORBWithParams(opts.CopyMoveFeatures, 1.2, 8, 31, 0, 2, gocv.ORBScoreTypeHarris, 31, 10)
	defer orb.Close()
	mask := gocv.NewMat()
	defer mask.Close()
	kps, desc := orb.DetectAndCompute(work, mask)
	defer desc.Close()
	if err := ctx.Err(); err != nil {
		return notApplicable(CheckCopyMove, err.Error())
	}
	ev := map[string]any{"keypoints": len(kps)}
	if len(kps) < 2 || desc.Cols() != orbDescBytes {
		ev["cluster_size"] = 0
		return Check{Name: CheckCopyMove, Score: 1, Applicable: true, Evidence: ev}
	}
	// A rival further than this cannot fail the ratio test of a pair that
	// passes the distance cap, so no match beyond it is needed.
	reach := int(math.Ceil(float64(opts.CopyMoveMaxHamming) / opts.CopyMoveRatio))
	near := hammingNeighbours(packDescriptors(pixels(desc)), reach)

	diag := math.Hypot(float64(work.Cols()), float64(work.Rows()))
	minShift := opts.CopyMoveMinShift * diag
	var pairs []pair
	seen := map[[2]int]bool{}
	for i, ms := range near {
		best, bestD, secondD := -1, 0, math.Inf(1)
		for _, m := range ms {
			if dist(kps[i], kps[m.idx]) < minShift {
				continue
			}
			if best < 0 {
				best, bestD = m.idx, m.dist
				continue
			}
			// The same target spot at another pyramid level is no rival.
			if dist(kps[best], kps[m.idx]) >= cmSameSpot {
				secondD = float64(m.dist)
				break
			}
		}
		if best < 0 || bestD > opts.CopyMoveMaxHamming {
			continue
		}
		if float64(bestD) >= opts.CopyMoveRatio*secondD {
			continue
		}
		a, b := i, best
		p := pair{kps[a], kps[b]}
		if dx, dy := p.shift(); dx < 0 || (dx == 0 && dy < 0) {
			a, b = b, a
			p = pair{kps[a], kps[b]}
		}
		if !seen[[2]int{a, b}] {
			seen[[2]int{a, b}] = true
			pairs = append(pairs, p)
		}
	}
	cluster := largestShiftCluster(pairs)
	size := distinctSources(cluster)
	ev["candidate_pairs"] = len(pairs)
	ev["cluster_size"] = size
	c := Check{Name: CheckCopyMove, Score: ramp(float64(size), opts.CopyMoveThreshold), Applicable: true, Evidence: ev}
	if size == 0 {
		return c
	}
	var src, dst image.Rectangle
	var reported [][4]int
	sx, sy := 0.0, 0.0
	for i, p := range cluster {
		a := image.Pt(int(p.from.X/scale), int(p.from.Y/scale))
		b := image.Pt(int(p.to.X/scale), int(p.to.Y/scale))
		if i == 0 {
			src, dst = image.Rectangle{a, a.Add(image.Pt(1, 1))}, image.Rectangle{b, b.Add(image.Pt(1, 1))}
		}
		src = src.Union(image.Rectangle{a, a.Add(image.Pt(1, 1))})
		dst = dst.Union(image.Rectangle{b, b.Add(image.Pt(1, 1))})
		dx, dy := p.shift()
		sx, sy = sx+dx, sy+dy
		if len(reported) < cmMaxReported {
			reported = append(reported, [4]int{a.X, a.Y, b.X, b.Y})
		}
	}
	n := float64(len(cluster))
	ev["displacement"] = [2]int{int(math.Round(sx / n / scale)), int(math.Round(sy / n / scale))}
	ev["source_region"] = regionOf(src)
	ev["target_region"] = regionOf(dst)
	ev["pairs"] = reported // each [from x, from y, to x, to y]
	return c
}

// largestShiftCluster returns the pairs whose displacement lies within
// cmOffsetTol of the displacement shared by the most pairs, leaving out
// displacements that are harmonics of a periodic pattern: repeated printed
// text (filler characters, a repeated word) also matches at twice and half
// the offset, a copied region does not.
func largestShiftCluster(pairs []pair) []pair {
	support := func(dx, dy float64) []pair {
		var members []pair
		for _, q := range pairs {
			qx, qy := q.shift()
			if math.Hypot(dx-qx, dy-qy) <= cmOffsetTol {
				members = append(members, q)
			}
		}
		return members
	}
	var best []pair
	for _, p := range pairs {
		px, py := p.shift()
		members := support(px, py)
		if len(members) <= len(best) {
			continue
		}
		harmonics := len(support(2*px, 2*py)) + len(support(px/2, py/2)) + len(support(-px/2, -py/2))
		if harmonics*cmHarmonicShare >= len(members) {
			continue
		}
		best = members
	}
	return best
}

// distinctSources counts the pairs whose source points are at least
// cmSameSpot apart, so one corner found at several pyramid levels counts
// once.
func distinctSources(ps []pair) int {
	var kept []gocv.KeyPoint
next:
	for _, p := range ps {
		for _, k := range kept {
			if dist(k, p.from) < cmSameSpot {
				continue next
			}
		}
		kept = append(kept, p.from)
	}
	return len(kept)
}

// neighbour is a descriptor within reach of another one.
type neighbour struct{ idx, dist int }

// packDescriptors turns rows of 32 descriptor bytes into 4 words each.
func packDescriptors(b []byte) [][4]uint64 {
	out := make([][4]uint64, len(b)/orbDescBytes)
	for i := range out {
		for w := range out[i] {
			out[i][w] = binary.LittleEndian.Uint64(b[i*orbDescBytes+8*w:])
		}
	}
	return out
}

// hammingNeighbours returns, for every descriptor, the others at most
// reach bits away, nearest first (ties by index). Each unordered pair is
// compared once; with reach far below the 128 bits of unrelated
// descriptors the lists stay short, so this exact search costs less than
// a k-nearest brute-force match and needs no arbitrary k.
func hammingNeighbours(d [][4]uint64, reach int) [][]neighbour {
	out := make([][]neighbour, len(d))
	for i := range d {
		a := &d[i]
		for j := i + 1; j < len(d); j++ {
			b := &d[j]
			h := bits.OnesCount64(a[0]^b[0]) + bits.OnesCount64(a[1]^b[1]) + bits.OnesCount64(a[2]^b[2]) + bits.OnesCount64(a[3]^b[3])
			if h <= reach {
				out[i] = append(out[i], neighbour{j, h})
				out[j] = append(out[j], neighbour{i, h})
			}
		}
	}
	for _, ns := range out {
		slices.SortFunc(ns, func(x, y neighbour) int {
			if x.dist != y.dist {
				return x.dist - y.dist
			}
			return x.idx - y.idx
		})
	}
	return out
}

func dist(a, b gocv.KeyPoint) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }

// downscaleGrey returns a grey copy of img whose long side is at most
// longSide, and the scale factor applied (<= 1).
func downscaleGrey(img gocv.Mat, longSide int) (gocv.Mat, float64) {
	grey := gocv.NewMat()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	long := max(img.Cols(), img.Rows())
	if long <= longSide {
		return grey, 1
	}
	scale := float64(longSide) / float64(long)
	small := gocv.NewMat()
	// At least a pixel each way: a strip over 2048 times longer than wide
	// rounded to none, and OpenCV's assertion aborted the process.
	size := image.Pt(max(1, int(float64(img.Cols())*scale+0.5)), max(1, int(float64(img.Rows())*scale+0.5)))
	gocv.Resize(grey, &small, size, 0, 0, gocv.InterpolationArea)
	grey.Close()
	return small, scale
}
