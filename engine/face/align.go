package face

import (
	"fmt"
	"image"
	"image/color"

	"gocv.io/x/gocv"
)

// AlignedSize is the side of an aligned face crop.
const AlignedSize = 112

// ArcFaceTemplate is where the five landmarks of an aligned 112x112 face
// lie (the InsightFace/ArcFace reference points the embedding model was
// trained with), in Face.Landmarks order.
var ArcFaceTemplate = [5]Point{
	{38.2946, 51.6963},
	{73.5318, 51.5014},
	{56.0252, 71.7366},
	{41.5493, 92.3655},
	{70.7299, 92.2041},
}

// Similarity is the transform x' = A*x - B*y + TX, y' = B*x + A*y + TY: a
// rotation, a uniform scale and a translation.
type Similarity struct{ A, B, TX, TY float64 }

// Apply maps p.
func (s Similarity) Apply(p Point) Point {
	return Point{X: s.A*p.X - s.B*p.Y + s.TX, Y: s.B*p.X + s.A*p.Y + s.TY}
}

// EstimateSimilarity returns the least-squares similarity transform taking
// src onto dst (Umeyama's solution without reflection, closed form in 2-D).
// It fails when the source points coincide.
func EstimateSimilarity(src, dst [5]Point) (Similarity, error) {
	var ms, md Point
	for i := range src {
		ms.X, ms.Y = ms.X+src[i].X/5, ms.Y+src[i].Y/5
		md.X, md.Y = md.X+dst[i].X/5, md.Y+dst[i].Y/5
	}
	var dot, cross, norm float64
	for i := range src {
		sx, sy := src[i].X-ms.X, src[i].Y-ms.Y
		dx, dy := dst[i].X-md.X, dst[i].Y-md.Y
		dot += sx*dx + sy*dy
		cross += sx*dy - sy*dx
		norm += sx*sx + sy*sy
	}
	if norm < 1e-9 {
		return Similarity{}, fmt.Errorf("landmarks coincide: no transform")
	}
	a, b := dot/norm, cross/norm
	return Similarity{A: a, B: b, TX: md.X - (a*ms.X - b*ms.Y), TY: md.Y - (b*ms.X + a*ms.Y)}, nil
}

// Align warps the face with the given landmarks onto the ArcFace template
// and returns the 112x112 BGR crop; the caller closes it.
func Align(img gocv.Mat, landmarks [5]Point) (gocv.Mat, error) {
	if err := checkImage(img); err != nil {
		return gocv.NewMat(), err
	}
	s, err := EstimateSimilarity(landmarks, ArcFaceTemplate)
	if err != nil {
		return gocv.NewMat(), fmt.Errorf("aligning face: %w", err)
	}
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	for i, v := range [6]float64{s.A, -s.B, s.TX, s.B, s.A, s.TY} {
		m.SetDoubleAt(i/3, i%3, v)
	}
	out := gocv.NewMat()
	gocv.WarpAffineWithParams(img, &out, m, image.Pt(AlignedSize, AlignedSize), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
	return out, nil
}
