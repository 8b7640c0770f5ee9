package face

import (
	"errors"
	"fmt"
	"math"
)

// Point is a position in image pixels.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Box is an axis-aligned rectangle in image pixels.
type Box struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// Area is the box's area in square pixels.
func (b Box) Area() float64 { return max(b.W, 0) * max(b.H, 0) }

// IoU is the intersection over union of two boxes.
func (b Box) IoU(o Box) float64 {
	x1, y1 := math.Max(b.X, o.X), math.Max(b.Y, o.Y)
	x2, y2 := math.Min(b.X+b.W, o.X+o.W), math.Min(b.Y+b.H, o.Y+o.H)
	inter := math.Max(0, x2-x1) * math.Max(0, y2-y1)
	union := b.Area() + o.Area() - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// Landmark indexes into Face.Landmarks, in YuNet's order (which is also the
// ArcFace template's order). "Right" is the subject's right, which appears
// on the image's left.
const (
	RightEye = iota
	LeftEye
	NoseTip
	RightMouth
	LeftMouth
)

// Face is one detected face.
type Face struct {
	Box       Box      `json:"box"`
	Landmarks [5]Point `json:"landmarks"`
	Score     float64  `json:"score"`
}

// Translate returns f moved by (dx, dy): the same face in the coordinates
// of a crop or a larger image.
func (f Face) Translate(dx, dy float64) Face {
	f.Box.X, f.Box.Y = f.Box.X+dx, f.Box.Y+dy
	for i := range f.Landmarks {
		f.Landmarks[i].X, f.Landmarks[i].Y = f.Landmarks[i].X+dx, f.Landmarks[i].Y+dy
	}
	return f
}

// Plausible checks the landmarks fit a face: all near the box, the image-left
// eye left of the other, the eyes above the mouth. It catches decoding
// errors and detections on things that are not faces.
func (f Face) Plausible() error {
	lm, b := f.Landmarks, f.Box
	slack := 0.15 * math.Max(b.W, b.H)
	for i, p := range lm {
		if p.X < b.X-slack || p.X > b.X+b.W+slack || p.Y < b.Y-slack || p.Y > b.Y+b.H+slack {
			return fmt.Errorf("landmark %d at (%.0f, %.0f) is outside the face box", i, p.X, p.Y)
		}
	}
	if lm[RightEye].X >= lm[LeftEye].X {
		return errors.New("eyes in the wrong order")
	}
	if eyes, mouth := (lm[RightEye].Y+lm[LeftEye].Y)/2, (lm[RightMouth].Y+lm[LeftMouth].Y)/2; eyes >= mouth {
		return errors.New("eyes not above the mouth")
	}
	return nil
}

// nms keeps the highest-scoring face of every group overlapping by more
// than iou; faces must be sorted by descending score.
func nms(faces []Face, iou float64) []Face {
	kept := faces[:0:0]
	for _, f := range faces {
		ok := true
		for _, k := range kept {
			if f.Box.IoU(k.Box) > iou {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, f)
		}
	}
	return kept
}
