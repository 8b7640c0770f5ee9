package face

import (
	"image"
	"math"

	"gocv.io/x/gocv"
)

// Quality failure names, one per measure and direction.
const (
	FailFaceTooSmall   = "face_too_small"
	FailBlurry         = "blurry"
	FailTooDark        = "too_dark"
	FailTooBright      = "too_bright"
	FailYaw            = "pose_yaw"
	FailPitch          = "pose_pitch"
	FailRoll           = "pose_roll"
	FailEyesNotVisible = "eyes_not_visible"
)

// QualityThresholds bound each quality measure.
type QualityThresholds struct {
	MinFaceSize    float64 // shorter side of the face box, pixels
	MinSharpness   float64 // Laplacian variance of the aligned grey face
	MinBrightness  float64 // mean grey level of the aligned face, 0..255
	MaxBrightness  float64
	MaxYaw         float64 // degrees, absolute
	MaxPitch       float64
	MaxRoll        float64
	MinEyeContrast float64 // grey standard deviation around each eye
}

// DefaultQuality are thresholds for a selfie or a document portrait. A face
// of 48 px still carries identity after alignment to 112 px. Sharpness and
// eye contrast sit well below the real photos of the shared face sets (their
// lowest: sharpness 21 on a 22-pixel AT&T face, the one photo flagged; eye
// contrast 14), so they name only a clearly degraded capture. The pose
// limits are where the similarity to a frontal photo of the same person
// starts to fall off.
var DefaultQuality = QualityThresholds{
	MinFaceSize:    48,
	MinSharpness:   25,
	MinBrightness:  40,
	MaxBrightness:  220,
	MaxYaw:         35,
	MaxPitch:       30,
	MaxRoll:        30,
	MinEyeContrast: 6,
}

// Quality is how usable a face is, each measure with its value, and the
// names of the measures that failed their thresholds.
type Quality struct {
	FaceSize    float64  `json:"face_size"`
	Sharpness   float64  `json:"sharpness"`
	Brightness  float64  `json:"brightness"`
	Yaw         float64  `json:"yaw"`
	Pitch       float64  `json:"pitch"`
	Roll        float64  `json:"roll"`
	EyeContrast float64  `json:"eye_contrast"`
	Failures    []string `json:"failures"`
	OK          bool     `json:"ok"`
}

// Pose estimates yaw, pitch and roll in degrees from the five landmarks.
// Roll is the tilt of the eye line. Yaw and pitch come from how far the nose
// tip sits from the centre of the eyes and mouth once roll is removed,
// modelling the nose tip as standing half an inter-ocular distance in front
// of the eye-mouth plane; they are estimates good to a few degrees near
// frontal, which is where the thresholds lie. Positive yaw: the subject
// looks towards the image's left; positive pitch: the subject looks down.
func Pose(lm [5]Point) (yaw, pitch, roll float64) {
	re, le := lm[RightEye], lm[LeftEye]
	rollRad := math.Atan2(le.Y-re.Y, le.X-re.X)
	cos, sin := math.Cos(-rollRad), math.Sin(-rollRad)
	rot := func(p Point) Point { return Point{X: p.X*cos - p.Y*sin, Y: p.X*sin + p.Y*cos} }
	eR, eL, nose := rot(re), rot(le), rot(lm[NoseTip])
	mR, mL := rot(lm[RightMouth]), rot(lm[LeftMouth])
	eyeMid := Point{X: (eR.X + eL.X) / 2, Y: (eR.Y + eL.Y) / 2}
	mouthMid := Point{X: (mR.X + mL.X) / 2, Y: (mR.Y + mL.Y) / 2}
	iod := math.Hypot(eL.X-eR.X, eL.Y-eR.Y)
	if iod < 1e-6 {
		return 0, 0, rollRad * 180 / math.Pi
	}
	const depth = 0.5 // nose-tip depth in inter-ocular distances
	centreX := (eyeMid.X + mouthMid.X) / 2
	yaw = math.Atan((centreX-nose.X)/(depth*iod)) * 180 / math.Pi
	// On the frontal template the nose tip sits at this fraction of the way
	// from the eye line to the mouth line.
	t := ArcFaceTemplate
	frontal := (t[NoseTip].Y - (t[RightEye].Y+t[LeftEye].Y)/2) / ((t[RightMouth].Y+t[LeftMouth].Y)/2 - (t[RightEye].Y+t[LeftEye].Y)/2)
	span := mouthMid.Y - eyeMid.Y
	pitch = math.Atan((nose.Y-eyeMid.Y-frontal*span)/(depth*iod)) * 180 / math.Pi
	return yaw, pitch, rollRad * 180 / math.Pi
}

// AssessQuality measures the face f of img; aligned is its 112x112 crop
// from Align.
func AssessQuality(f Face, aligned gocv.Mat, th QualityThresholds) Quality {
	q := Quality{FaceSize: math.Min(f.Box.W, f.Box.H)}
	q.Yaw, q.Pitch, q.Roll = Pose(f.Landmarks)
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(aligned, &grey, gocv.ColorBGRToGray)
	// Sharpness and brightness look at the inner face only: the crop's
	// corners hold background, hair, or black fill where the face was near
	// the image edge, whose hard border would pass for detail.
	inner := grey.Region(innerFace)
	defer inner.Close()
	q.Sharpness = LaplacianVariance(inner)
	q.Brightness = inner.Mean().Val1
	q.EyeContrast = math.Min(patchStd(grey, ArcFaceTemplate[RightEye]), patchStd(grey, ArcFaceTemplate[LeftEye]))
	fail := func(bad bool, name string) {
		if bad {
			q.Failures = append(q.Failures, name)
		}
	}
	fail(q.FaceSize < th.MinFaceSize, FailFaceTooSmall)
	fail(q.Sharpness < th.MinSharpness, FailBlurry)
	fail(q.Brightness < th.MinBrightness, FailTooDark)
	fail(q.Brightness > th.MaxBrightness, FailTooBright)
	fail(math.Abs(q.Yaw) > th.MaxYaw, FailYaw)
	fail(math.Abs(q.Pitch) > th.MaxPitch, FailPitch)
	fail(math.Abs(q.Roll) > th.MaxRoll, FailRoll)
	fail(q.EyeContrast < th.MinEyeContrast, FailEyesNotVisible)
	q.OK = len(q.Failures) == 0
	if q.Failures == nil {
		q.Failures = []string{}
	}
	return q
}

// innerFace spans brows to chin and cheek to cheek on the aligned crop.
var innerFace = image.Rect(20, 30, 92, 104)

// LaplacianVariance is the variance of the Laplacian of a grey image: the
// usual measure of focus, high for sharp detail and low for blur.
func LaplacianVariance(grey gocv.Mat) float64 {
	lap := gocv.NewMat()
	defer lap.Close()
	gocv.Laplacian(grey, &lap, gocv.MatTypeCV64F, 1, 1, 0, gocv.BorderDefault)
	mean, std := gocv.NewMat(), gocv.NewMat()
	defer mean.Close()
	defer std.Close()
	gocv.MeanStdDev(lap, &mean, &std)
	s := std.GetDoubleAt(0, 0)
	return s * s
}

// patchStd is the grey standard deviation of a 24x12 window centred on p:
// an open, uncovered eye shows dark iris against sclera and lid; a closed
// eye, a hand or dark glasses leave a flat patch.
func patchStd(grey gocv.Mat, p Point) float64 {
	r := image.Rect(int(p.X)-12, int(p.Y)-6, int(p.X)+12, int(p.Y)+6).Intersect(image.Rect(0, 0, grey.Cols(), grey.Rows()))
	if r.Empty() {
		return 0
	}
	roi := grey.Region(r)
	defer roi.Close()
	mean, std := gocv.NewMat(), gocv.NewMat()
	defer mean.Close()
	defer std.Close()
	gocv.MeanStdDev(roi, &mean, &std)
	return std.GetDoubleAt(0, 0)
}
