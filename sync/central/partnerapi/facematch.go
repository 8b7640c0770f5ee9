package partnerapi

import (
	"context"
	"errors"
)

// FaceMatcher runs the Face Match API's comparison (seed 001): a selfie
// against a reference image, document-agnostic. The engine-backed one is
// sync/central/facematch; kyc-central runs without one (the API answers
// 503) when its models are not installed.
type FaceMatcher interface {
	Match(ctx context.Context, req FaceMatchRequest) (FaceMatchResult, error)
}

// FaceMatchRequest is one comparison: encoded images as the partner sent
// them (JPEG, PNG, WebP; at most MaxFaceMatchImage bytes each).
type FaceMatchRequest struct {
	Selfie, Reference []byte
	// SkipLiveness skips the selfie's passive liveness.
	SkipLiveness bool
}

// MaxFaceMatchImage bounds each image of a Face Match request (10 MB).
const MaxFaceMatchImage = 10 << 20

// MaxFaceMatchPixels bounds each decoded image of a Face Match request,
// judged from its header before it is decoded: 4096x4096 (16.7 MP), what
// Azure's and AWS Rekognition's face APIs accept. The face engine works on
// far fewer pixels, and a 40 MP image cost 2.9-5.2 s and some 300 MB per
// call in decoding alone.
const MaxFaceMatchPixels = 4096 * 4096

// FaceMatchResult is the comparison's outcome.
type FaceMatchResult struct {
	Similarity float64 `json:"similarity"` // cosine similarity of the embeddings
	Score      float64 `json:"score"`      // calibrated match score, 0-100
	Threshold  float64 `json:"threshold"`  // the score at or above which it is a match
	Decision   string  `json:"decision"`   // "match" or "no_match"
	// Liveness is the selfie's passive liveness; nil when skipped.
	Liveness  *FaceLiveness      `json:"liveness,omitempty"`
	Selfie    FaceInfo           `json:"selfie"`
	Reference FaceInfo           `json:"reference"`
	TimingsMS map[string]float64 `json:"timings_ms,omitempty"`
}

// FaceLiveness is a selfie's passive liveness.
type FaceLiveness struct {
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
	Live      bool    `json:"live"`
}

// FaceInfo is one image's face.
type FaceInfo struct {
	Box       [4]int       `json:"box"` // x, y, width, height in the image's pixels (turned by Turned)
	Landmarks [][2]float64 `json:"landmarks"`
	Quality   float64      `json:"quality"`
	// QualityFailures names the quality checks the face failed (blurry,
	// too_dark, pose_yaw, ...; the engine's face.Fail* names); empty when
	// Quality is 1.
	QualityFailures []string `json:"quality_failures"`
	// Turned is how many degrees clockwise (0, 90, 180, 270) the image
	// was turned to find its face upright; Box and Landmarks are in the
	// pixels of the image so turned.
	Turned int `json:"turned"`
}

// Face Match errors: each is the same condition, code and message as
// `kyc face-match` reports, and the API maps it to a 422 with that code.
var (
	ErrNoFace    = errors.New("no_face: no face found in the image")
	ErrManyFaces = errors.New("multiple_faces: more than one face in the image")
	ErrNotImage  = errors.New("not_an_image: the file is not a supported image")
	ErrTooLarge  = errors.New("too_large: the image is larger than allowed")
	ErrTruncated = errors.New("truncated_image: the image file is cut short")
)

// FaceMatchError says which image an error is about.
type FaceMatchError struct {
	Image string // "selfie" or "reference"
	Err   error  // one of the errors above
}

func (e *FaceMatchError) Error() string { return e.Image + ": " + e.Err.Error() }
func (e *FaceMatchError) Unwrap() error { return e.Err }
