package capture

import (
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
)

// Point is a position in frame pixels (the face engine's type).
type Point = face.Point

// Box is an axis-aligned rectangle in frame pixels (the face engine's type).
type Box = face.Box

// Ellipse is an axis-aligned ellipse in frame pixels: the selfie guide oval.
type Ellipse struct {
	CX float64 `json:"cx"`
	CY float64 `json:"cy"`
	RX float64 `json:"rx"`
	RY float64 `json:"ry"`
}

// Check is one measured guidance check of a frame.
type Check struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	OK    bool    `json:"ok"`
}

// Overlay is what the UI draws over an analysed frame.
type Overlay struct {
	Seq     int     `json:"seq"`
	TimeMS  float64 `json:"time_ms"`
	Message Message `json:"message"`
	// Hint is advice that does not hold the capture back (bright or dim
	// lighting within what exposure allows), or empty.
	Hint Message `json:"hint,omitempty"`
	// Step is what is being captured: front, back, selfie or a challenge.
	Step      string   `json:"step"`
	Quad      []Point  `json:"quad,omitempty"` // document corners TL, TR, BR, BL
	Face      *Box     `json:"face,omitempty"`
	Landmarks []Point  `json:"landmarks,omitempty"` // eyes, nose tip, mouth corners
	Oval      *Ellipse `json:"oval,omitempty"`
	// OvalFit is the overlap (intersection over union) of the face box and
	// the oval's bounding box, 0..1.
	OvalFit float64 `json:"oval_fit,omitempty"`
	Checks  []Check `json:"checks"`
	// Captured names the capture this frame completed, if any.
	Captured string `json:"captured,omitempty"`
}

// Frame is one frame handed to a Guide. Image belongs to the pipeline and is
// valid only during the call: clone it to keep it.
type Frame struct {
	Seq   int
	Time  time.Duration // media time for files, time since start for live sources
	Image gocv.Mat
}

// Capture is one auto-captured frame. The receiver owns Image and closes it.
type Capture struct {
	Name  string        `json:"name"` // front, back, selfie, or a challenge's message
	Seq   int           `json:"seq"`
	Time  time.Duration `json:"-"`
	Score float64       `json:"score"`
	// Checks are the chosen frame's check values.
	Checks []Check  `json:"checks"`
	Image  gocv.Mat `json:"-"`
}

// addCheck appends a check and returns its result.
func addCheck(cs *[]Check, name string, value float64, ok bool) bool {
	*cs = append(*cs, Check{Name: name, Value: value, OK: ok})
	return ok
}
