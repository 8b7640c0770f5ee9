package capture

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
)

// SelfieConfig holds the selfie guidance thresholds.
type SelfieConfig struct {
	// The guide oval: centre as fractions of the frame, vertical radius as
	// a fraction of the frame height, and horizontal over vertical radius.
	OvalX, OvalY, OvalRY, OvalAspect float64
	// MinFill and MaxFill bound the face box height over the oval height.
	MinFill, MaxFill float64
	// MaxOffset bounds the face centre's distance from the oval centre, in
	// oval radii.
	MaxOffset float64
	// MinOtherFace is the height, as a share of the largest face's, from
	// which another face counts as a second person.
	MinOtherFace float64
	// MaxYaw and MaxPitch bound the head turn, degrees.
	MaxYaw, MaxPitch float64
	// Quality holds the brightness, sharpness and eye contrast limits
	// (face.AssessQuality's measures on the aligned face).
	Quality face.QualityThresholds
	// MaxEyeDarkness bounds how much darker the eye band may be than the
	// cheeks (1 - eyes/cheeks): sunglasses. MaxMouthMismatch bounds the
	// largest channel difference between the mouth region and the cheeks:
	// a mask or a hand.
	MaxEyeDarkness, MaxMouthMismatch float64
	// MaxSpeed bounds the face centre's movement, frame widths per second.
	MaxSpeed float64
	// StableFrames is how many consecutive good frames make the window the
	// selfie is chosen from.
	StableFrames int
	// Challenges are the active-liveness prompts to pass after the selfie,
	// in order: TurnLeft, TurnRight, Blink, Smile. Empty for passive. The
	// callers draw the order at random (ShuffleChallenges), so that a
	// recording made for one order does not follow another.
	Challenges []Message
	// PromptTime bounds the time from a prompt's showing (the selfie's
	// capture for the first, the previous prompt met for the next) to the
	// frame that meets it; ChallengeTime bounds all the prompts from the
	// first one's showing. Both are judged on the frames' times
	// (Frame.Time); 0 leaves them unbounded. Past either the guide is
	// done with the challenge failed (Failed): a replay cannot wait for
	// the prompt it needs, and a loop of both turns must be shorter than
	// PromptTime to pass.
	PromptTime, ChallengeTime time.Duration
	// ChallengeYaw is how far a turn challenge must turn, degrees.
	ChallengeYaw float64
	// BlinkRatio is the share of the open-eye contrast below which the eyes
	// count as shut during a blink challenge.
	BlinkRatio float64
	// SmileGain is the relative widening of the mouth (over the eye
	// distance) that counts as a smile.
	SmileGain float64
	// UprightEvery is how often, in frame time, a frame without a face is
	// searched again turned by a quarter each way: a face found so means
	// the camera is held sideways (the hint HoldUpright, kept until the
	// next search or a face found upright). Two more detections at most
	// this often, never on a frame with a face; 0 never searches.
	UprightEvery time.Duration
}

// DefaultSelfieConfig returns the default thresholds, passive liveness.
func DefaultSelfieConfig() SelfieConfig {
	return SelfieConfig{
		OvalX: 0.5, OvalY: 0.45, OvalRY: 0.36, OvalAspect: 0.75,
		MinFill: 0.45, MaxFill: 1.0,
		MaxOffset:        0.3,
		MinOtherFace:     0.4,
		MaxYaw:           20,
		MaxPitch:         20,
		Quality:          face.DefaultQuality,
		MaxEyeDarkness:   0.5,
		MaxMouthMismatch: 70,
		MaxSpeed:         0.15,
		StableFrames:     5,
		ChallengeYaw:     20,
		BlinkRatio:       0.5,
		SmileGain:        0.12,
		PromptTime:       5 * time.Second,
		ChallengeTime:    20 * time.Second,
		UprightEvery:     time.Second,
	}
}

func (c SelfieConfig) validate() error {
	switch {
	case c.OvalRY <= 0 || c.OvalAspect <= 0:
		return errors.New("selfie guidance: oval radii must be positive")
	case c.MinFill <= 0 || c.MaxFill <= c.MinFill:
		return fmt.Errorf("selfie guidance: fill range %.2f..%.2f", c.MinFill, c.MaxFill)
	case c.StableFrames < 1:
		return errors.New("selfie guidance: stable frames must be at least 1")
	case c.MaxOffset <= 0 || c.MaxSpeed <= 0 || c.MaxYaw <= 0 || c.MaxPitch <= 0:
		return errors.New("selfie guidance: offset, speed and pose limits must be positive")
	case c.PromptTime < 0 || c.ChallengeTime < 0:
		return errors.New("selfie guidance: challenge time bounds must not be negative")
	case c.UprightEvery < 0:
		return errors.New("selfie guidance: the sideways search's interval must not be negative")
	}
	for _, ch := range c.Challenges {
		if ch != TurnLeft && ch != TurnRight && ch != Blink && ch != Smile {
			return fmt.Errorf("selfie guidance: unknown challenge %q", ch)
		}
	}
	return nil
}

// ParseChallenge reads a challenge name (turn_left, turn_right, blink,
// smile).
func ParseChallenge(s string) (Message, error) {
	m := Message(s)
	if m != TurnLeft && m != TurnRight && m != Blink && m != Smile {
		return "", fmt.Errorf("unknown challenge %q (want turn_left, turn_right, blink or smile)", s)
	}
	return m, nil
}

// Selfie check names, as they appear in Overlay.Checks.
const (
	CheckFaces          = "faces"
	CheckFill           = "oval_fill"
	CheckOffset         = "oval_offset"
	CheckFaceBrightness = "brightness"
	CheckEyeDarkness    = "eye_darkness"
	CheckMouthMismatch  = "mouth_mismatch"
	CheckYaw            = "yaw_deg"
	CheckPitch          = "pitch_deg"
	CheckEyeContrast    = "eye_contrast"
	CheckFaceSharpness  = "sharpness"
	CheckFaceSpeed      = "speed"
	CheckMouthWidth     = "mouth_width"
)

// SelfieGuide guides a selfie capture, then the active challenges. It is
// used by one goroutine at a time.
type SelfieGuide struct {
	det face.Detector
	cfg SelfieConfig

	prev     *face.Point // previous face centre
	prevTime float64
	window   []selfieCandidate
	captured
	selfie bool // the selfie is captured
	next   int  // index of the current challenge
	// firstShown and shown are the frame times the first and the current
	// prompt showed at; failed that a bound passed before a prompt was met.
	firstShown, shown time.Duration
	failed            bool
	// Baselines from the selfie window, for the challenges.
	eyeOpen, mouthWidth float64
	shut                bool // the blink challenge has seen the eyes shut
	// searchedAt is the frame time of the last search for a sideways face
	// (searched whether there was one), sideways its answer.
	searchedAt         time.Duration
	searched, sideways bool
}

type selfieCandidate struct {
	frame         Frame
	score         float64
	checks        []Check
	eyes, mouthWd float64
}

// NewSelfieGuide returns a guide finding faces with det.
func NewSelfieGuide(det face.Detector, cfg SelfieConfig) (*SelfieGuide, error) {
	if det == nil {
		return nil, errors.New("selfie guidance: no face detector")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &SelfieGuide{det: det, cfg: cfg}, nil
}

// Oval returns the guide oval for a w x h frame.
func (c SelfieConfig) Oval(w, h int) Ellipse {
	ry := c.OvalRY * float64(h)
	return Ellipse{CX: c.OvalX * float64(w), CY: c.OvalY * float64(h), RX: ry * c.OvalAspect, RY: ry}
}

// Done implements Guide: the selfie and every prompt are captured, or a
// prompt's time ran out (Failed).
func (g *SelfieGuide) Done() bool { return g.failed || g.selfie && g.next >= len(g.cfg.Challenges) }

// Failed reports whether a prompt was not met within PromptTime of its
// showing, or the prompts within ChallengeTime: the challenge failed.
func (g *SelfieGuide) Failed() bool { return g.failed }

// expired reports whether a frame at time t comes too late for the
// current prompt.
func (g *SelfieGuide) expired(t time.Duration) bool {
	c := g.cfg
	return c.PromptTime > 0 && t-g.shown > c.PromptTime || c.ChallengeTime > 0 && t-g.firstShown > c.ChallengeTime
}

// Close implements Guide.
func (g *SelfieGuide) Close() error {
	g.resetWindow()
	g.closeCaptures()
	return nil
}

func (g *SelfieGuide) resetWindow() {
	for _, c := range g.window {
		c.frame.Image.Close()
	}
	g.window = g.window[:0]
}

func (g *SelfieGuide) challenge() Message {
	if g.selfie && g.next < len(g.cfg.Challenges) {
		return g.cfg.Challenges[g.next]
	}
	return ""
}

// heldSideways reports whether a frame without a face upright has one
// turned by a quarter either way: the camera is held sideways. It searches
// at most once per UprightEvery of frame time; between searches the last
// answer holds.
func (g *SelfieGuide) heldSideways(ctx context.Context, f Frame) (bool, error) {
	every := g.cfg.UprightEvery
	if every <= 0 || g.searched && f.Time-g.searchedAt < every {
		return g.sideways, nil
	}
	g.searched, g.searchedAt, g.sideways = true, f.Time, false
	for _, deg := range []int{90, 270} {
		turned, err := imageio.Turn(f.Image, deg)
		if err != nil {
			return false, err
		}
		faces, err := g.det.Detect(ctx, turned)
		turned.Close()
		if err != nil {
			return false, fmt.Errorf("detecting faces turned %d degrees: %w", deg, err)
		}
		if len(faces) > 0 {
			g.sideways = true
			break
		}
	}
	return g.sideways, nil
}

// Analyse implements Guide.
func (g *SelfieGuide) Analyse(ctx context.Context, f Frame) (Overlay, error) {
	w, h := f.Image.Cols(), f.Image.Rows()
	oval := g.cfg.Oval(w, h)
	ov := Overlay{Seq: f.Seq, TimeMS: ms(f.Time), Step: "selfie", Oval: &oval, Checks: []Check{}}
	if ch := g.challenge(); ch != "" {
		ov.Step = string(ch)
	}
	if g.challenge() != "" && g.expired(f.Time) {
		g.failed = true
	}
	if g.Done() {
		ov.Message = Done
		return ov, nil
	}
	faces, err := g.det.Detect(ctx, f.Image)
	if err != nil {
		return ov, fmt.Errorf("detecting faces: %w", err)
	}
	n := 0
	for _, fc := range faces {
		if len(faces) > 0 && fc.Box.H >= g.cfg.MinOtherFace*faces[0].Box.H {
			n++
		}
	}
	addCheck(&ov.Checks, CheckFaces, float64(n), n == 1)
	if n > 0 {
		g.searched, g.sideways = false, false
	}
	if n != 1 {
		g.prev = nil
		g.resetWindow()
		ov.Message = NoFace
		if n > 1 {
			ov.Message = MultipleFaces
		} else if sideways, err := g.heldSideways(ctx, f); err != nil {
			return ov, err
		} else if sideways {
			ov.Hint = HoldUpright
		}
		return ov, nil
	}
	fc := faces[0]
	ov.Face = &fc.Box
	ov.Landmarks = append(ov.Landmarks, fc.Landmarks[:]...)
	ov.OvalFit = ov.Face.IoU(Box{X: oval.CX - oval.RX, Y: oval.CY - oval.RY, W: 2 * oval.RX, H: 2 * oval.RY})
	m, err := measureFace(f.Image, fc, g.cfg.Quality)
	if err != nil {
		return ov, err
	}
	c := g.cfg
	now := f.Time.Seconds()
	centre := face.Point{X: fc.Box.X + fc.Box.W/2, Y: fc.Box.Y + fc.Box.H/2}
	speed := math.Inf(1)
	if g.prev != nil && now > g.prevTime {
		speed = math.Hypot(centre.X-g.prev.X, centre.Y-g.prev.Y) / float64(w) / (now - g.prevTime)
	}
	g.prev, g.prevTime = &centre, now
	fill := fc.Box.H / (2 * oval.RY)
	offset := math.Hypot((centre.X-oval.CX)/oval.RX, (centre.Y-oval.CY)/oval.RY)
	ch := g.challenge()
	turning := ch == TurnLeft || ch == TurnRight
	addCheck(&ov.Checks, CheckFill, fill, fill >= c.MinFill && fill <= c.MaxFill)
	centred := addCheck(&ov.Checks, CheckOffset, offset, offset <= c.MaxOffset)
	lit := addCheck(&ov.Checks, CheckFaceBrightness, m.q.Brightness, m.q.Brightness >= c.Quality.MinBrightness && m.q.Brightness <= c.Quality.MaxBrightness)
	eyesSeen := addCheck(&ov.Checks, CheckEyeDarkness, m.eyeDarkness, m.eyeDarkness <= c.MaxEyeDarkness)
	mouthSeen := addCheck(&ov.Checks, CheckMouthMismatch, m.mouthMismatch, m.mouthMismatch <= c.MaxMouthMismatch)
	yawOK := addCheck(&ov.Checks, CheckYaw, m.q.Yaw, math.Abs(m.q.Yaw) <= c.MaxYaw)
	pitchOK := addCheck(&ov.Checks, CheckPitch, m.q.Pitch, math.Abs(m.q.Pitch) <= c.MaxPitch)
	open := addCheck(&ov.Checks, CheckEyeContrast, m.q.EyeContrast, m.q.EyeContrast >= c.Quality.MinEyeContrast)
	sharp := addCheck(&ov.Checks, CheckFaceSharpness, m.q.Sharpness, m.q.Sharpness >= c.Quality.MinSharpness)
	still := addCheck(&ov.Checks, CheckFaceSpeed, finite(speed), speed <= c.MaxSpeed)
	addCheck(&ov.Checks, CheckMouthWidth, m.mouthWidth, true)
	switch {
	case fill < c.MinFill:
		ov.Message = MoveCloser
	case fill > c.MaxFill:
		ov.Message = MoveBack
	case !centred:
		ov.Message = CenterFace
	case !lit:
		ov.Message = ImproveLighting
	case !eyesSeen || !mouthSeen:
		ov.Message = RemoveCovering
	case !turning && (!yawOK || !pitchOK):
		ov.Message = FaceCamera
	case ch != Blink && !open:
		ov.Message = OpenEyes
	case ch == "" && (!sharp || !still):
		ov.Message = HoldSteady
	case ch != "":
		ov.Message = ch
		if g.challengeMet(ch, m) {
			ov.Captured = string(ch)
			g.captures = append(g.captures, Capture{Name: string(ch), Seq: f.Seq, Time: f.Time, Checks: ov.Checks, Image: f.Image.Clone()})
			g.next++
			g.shut = false
			g.shown = f.Time
		}
		return ov, nil
	default:
		ov.Message = Capturing
	}
	if ov.Message != Capturing {
		g.resetWindow()
		return ov, nil
	}
	g.window = append(g.window, selfieCandidate{
		frame:  Frame{Seq: f.Seq, Time: f.Time, Image: f.Image.Clone()},
		score:  m.q.Sharpness/c.Quality.MinSharpness - math.Abs(m.q.Yaw)/c.MaxYaw - math.Abs(m.q.Pitch)/c.MaxPitch,
		checks: ov.Checks, eyes: m.q.EyeContrast, mouthWd: m.mouthWidth,
	})
	if len(g.window) >= c.StableFrames {
		g.captureSelfie()
		ov.Captured = "selfie"
		g.firstShown, g.shown = f.Time, f.Time
	}
	return ov, nil
}

// captureSelfie keeps the window's best frame and takes the challenges'
// baselines from the whole window.
func (g *SelfieGuide) captureSelfie() {
	var eyes, mouth []float64
	for _, c := range g.window {
		eyes, mouth = append(eyes, c.eyes), append(mouth, c.mouthWd)
	}
	g.eyeOpen, g.mouthWidth = median(eyes), median(mouth)
	sort.SliceStable(g.window, func(i, j int) bool { return g.window[i].score > g.window[j].score })
	best := g.window[0]
	g.window = g.window[1:]
	g.resetWindow()
	g.captures = append(g.captures, Capture{Name: "selfie", Seq: best.frame.Seq, Time: best.frame.Time, Score: best.score, Checks: best.checks, Image: best.frame.Image})
	g.selfie = true
}

// challengeMet reports whether this frame completes challenge ch. Turns use
// the subject's own left and right on an unmirrored camera image: turning
// to their left shows as looking towards the image's right, a negative
// face.Pose yaw. A blink needs the eyes seen shut, then open again.
func (g *SelfieGuide) challengeMet(ch Message, m faceMeasure) bool {
	switch ch {
	case TurnLeft:
		return m.q.Yaw <= -g.cfg.ChallengeYaw
	case TurnRight:
		return m.q.Yaw >= g.cfg.ChallengeYaw
	case Smile:
		return m.mouthWidth >= g.mouthWidth*(1+g.cfg.SmileGain)
	case Blink:
		if m.q.EyeContrast < g.cfg.BlinkRatio*g.eyeOpen {
			g.shut = true
			return false
		}
		return g.shut && m.q.EyeContrast >= 0.8*g.eyeOpen
	}
	return false
}

type faceMeasure struct {
	q                          face.Quality
	eyeDarkness, mouthMismatch float64
	mouthWidth                 float64 // mouth corners' distance over the eyes'
}

// Regions of the 112x112 aligned face (ArcFace template: eyes near y 52,
// mouth near y 92): the band across both eyes, the cheeks below them, and
// the mouth.
var (
	eyeBand     = image.Rect(26, 44, 86, 60)
	cheekLeft   = image.Rect(22, 64, 38, 80)
	cheekRight  = image.Rect(74, 64, 90, 80)
	mouthRegion = image.Rect(38, 84, 74, 100)
)

// measureFace aligns the face and measures quality and coverings. The
// covering measures are heuristics on colour and brightness: dark glasses
// make the eye band much darker than the cheeks; a mask or a hand makes
// the mouth region differ from the cheeks. A beard or heavy make-up can
// trip the mouth measure and a deep-set, shadowed eye the eye measure.
func measureFace(img gocv.Mat, fc face.Face, th face.QualityThresholds) (faceMeasure, error) {
	aligned, err := face.Align(img, fc.Landmarks)
	if err != nil {
		return faceMeasure{}, fmt.Errorf("aligning face: %w", err)
	}
	defer aligned.Close()
	m := faceMeasure{q: face.AssessQuality(fc, aligned, th)}
	mean := func(r image.Rectangle) [3]float64 {
		roi := aligned.Region(r)
		defer roi.Close()
		s := roi.Mean()
		return [3]float64{s.Val1, s.Val2, s.Val3}
	}
	l, r := mean(cheekLeft), mean(cheekRight)
	cheek := [3]float64{(l[0] + r[0]) / 2, (l[1] + r[1]) / 2, (l[2] + r[2]) / 2}
	grey := func(c [3]float64) float64 { return 0.114*c[0] + 0.587*c[1] + 0.299*c[2] }
	if cg := grey(cheek); cg > 0 {
		m.eyeDarkness = 1 - grey(mean(eyeBand))/cg
	}
	m.mouthMismatch = colourDist(mean(mouthRegion), cheek)
	lm := fc.Landmarks
	if iod := math.Hypot(lm[face.LeftEye].X-lm[face.RightEye].X, lm[face.LeftEye].Y-lm[face.RightEye].Y); iod > 0 {
		m.mouthWidth = math.Hypot(lm[face.LeftMouth].X-lm[face.RightMouth].X, lm[face.LeftMouth].Y-lm[face.RightMouth].Y) / iod
	}
	return m, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// ShuffleChallenges returns prompts in an order drawn at random, from a
// generator seeded by crypto/rand: which way the head turns first cannot
// be known before the prompt shows.
func ShuffleChallenges(prompts []Message) []Message {
	var seed [32]byte
	crand.Read(seed[:]) // never fails (crypto/rand since Go 1.24)
	out := slices.Clone(prompts)
	rand.New(rand.NewChaCha8(seed)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
