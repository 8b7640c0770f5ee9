package app

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
)

// challengeGuide is a selfie guide whose challenge is timed by the app's
// clock: each frame's time is the clock's since the guide's first frame,
// so the guide's bounds (each prompt followed within PromptSeconds of
// showing, all within ChallengeSeconds) hold as they would on a camera
// for a video file too, whose media time starts again at each loop. Past
// either the guide ends with the challenge failed: a photo or a replay
// held up to the camera cannot follow prompts it does not know in time.
//
// From a live camera it also keeps the grey levels of the last frames it
// analysed, by which the feed behind the selfie is judged (feed): a
// virtual camera feeding a still repeats its frames.
type challengeGuide struct {
	*capture.SelfieGuide
	prompts int
	now     func() time.Time
	start   time.Time // the first frame's time
	live    bool      // the camera is a device or a stream, not a file
	recent  []*image.Gray
}

// feedFrames is how many of the last frames feed judges.
const feedFrames = 8

// Analyse implements capture.Guide.
func (g *challengeGuide) Analyse(ctx context.Context, f capture.Frame) (capture.Overlay, error) {
	if g.start.IsZero() {
		g.start = g.now()
	}
	f.Time = g.now().Sub(g.start)
	if g.live {
		g.keep(f.Image)
	}
	return g.SelfieGuide.Analyse(ctx, f)
}

// feedWidth is the width frames are kept at for feed: a repeat stays a
// repeat when made smaller, and a camera's noise still makes every frame
// its own, at a sixteenth of a 1080p frame's bytes.
const feedWidth = 480

// keep adds frame's grey levels, at most feedWidth wide, to the last ones.
func (g *challengeGuide) keep(frame gocv.Mat) {
	small := frame
	if w := frame.Cols(); w > feedWidth {
		small = gocv.NewMat()
		defer small.Close()
		gocv.Resize(frame, &small, image.Pt(feedWidth, frame.Rows()*feedWidth/w), 0, 0, gocv.InterpolationArea)
	}
	l, err := imageio.GreyImage(small)
	if err != nil {
		return // a frame the guide will refuse too
	}
	g.recent = append(g.recent, l)
	if len(g.recent) > feedFrames {
		g.recent = g.recent[len(g.recent)-feedFrames:]
	}
}

// feed judges the live camera's feed behind the capture
// (device.FeedSuspect); "" for a video file, which is the operator's
// choice (the demo camera), not a customer's.
func (g *challengeGuide) feed() string {
	if !g.live {
		return ""
	}
	return device.FeedSuspect(g.recent)
}

// liveCamera reports whether cam names a camera device or a stream, whose
// feed a customer may have replaced; "" (the demo camera) and a file or
// folder are the operator's own.
func liveCamera(cam string) bool {
	spec, err := source.Parse(cam)
	return cam != "" && err == nil && spec.Kind.Live()
}

// outcome is the challenge's outcome once the guide is done: none without
// prompts, failed when a bound passed, else passed.
func (g *challengeGuide) outcome() risk.ChallengeOutcome {
	switch {
	case g.prompts == 0:
		return risk.ChallengeNone
	case g.Failed():
		return risk.ChallengeFailed
	}
	return risk.ChallengePassed
}

// startCaptureLocked runs guide g over the camera in the background and
// hands its captures to done, unless the session has moved on.
func (a *App) startCaptureLocked(g capture.Guide, cam, demo string, done func(*session, []capture.Capture, time.Time)) {
	s := a.sess
	ctx, cancel := context.WithCancel(a.ctx)
	if s.stop != nil {
		s.stop()
	}
	s.stop = cancel
	if cam == "" {
		cam = demoVideo(a.demoDir(), demo)
	}
	lang := capture.Lang(a.settings.Lang)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		defer g.Close()
		caps, last, err := a.runGuide(ctx, cam, g, lang)
		a.preview.stop()
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.sess != s || ctx.Err() != nil {
			closeCaptures(caps)
			return
		}
		if err != nil {
			closeCaptures(caps)
			a.ui.lastError = "The camera stopped: " + err.Error()
			a.cfg.Logger.Error("capture", "err", err)
			a.endSessionLocked()
			a.setScreenLocked(ScreenHome)
			return
		}
		done(s, caps, last)
	}()
}

// runGuide reads the camera until g has everything. A video file stands in
// for a camera that never ends: it is played at its frame rate and looped.
func (a *App) runGuide(ctx context.Context, cam string, g capture.Guide, lang capture.Lang) ([]capture.Capture, time.Time, error) {
	spec, err := source.Parse(cam)
	shown := source.ForLog(cam) // what errors say: no camera's user, password or token
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("camera %q: %w", shown, err)
	}
	open := func(ctx context.Context) (source.Source, error) { return source.Open(ctx, spec, source.Options{}) }
	var last time.Time
	opt := capture.Options{Pace: true, OnFrame: func(_ capture.Frame, ov capture.Overlay) {
		a.preview.publishOverlay(ov, lang)
		if ov.Captured != "" {
			last = time.Now()
		}
	}}
	for {
		var src source.Source
		if spec.Kind.Live() {
			src, err = source.NewReconnecting(ctx, open, source.DefaultBackoff)
		} else {
			src, err = open(ctx)
		}
		if err != nil {
			return nil, last, fmt.Errorf("opening %s: %w", shown, err)
		}
		st, err := capture.Run(ctx, previewSource{Source: src, p: a.preview}, g, opt)
		src.Close()
		switch {
		case g.Done():
			return g.Captures(), last, nil
		case err != nil:
			return nil, last, err
		case st.Seen == 0:
			return nil, last, fmt.Errorf("%s gave no frames", shown)
		}
	}
}

func closeCaptures(caps []capture.Capture) {
	for _, c := range caps {
		c.Image.Close()
	}
}

// encodeCapture turns a capture into the bytes that are sealed and the
// pixels decoded from them, so the engine sees exactly the pixels kept.
func encodeCapture(img gocv.Mat) (document.Image, error) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, captureJPEGQuality})
	if err != nil {
		return document.Image{}, fmt.Errorf("encoding a capture: %w", err)
	}
	raw := append([]byte(nil), buf.GetBytes()...)
	buf.Close()
	m, err := imageio.Decode(raw, imageio.DefaultMaxPixels)
	if err != nil {
		m.Close()
		return document.Image{}, fmt.Errorf("decoding a capture: %w", err)
	}
	return document.Image{Raw: raw, Mat: m}, nil
}

// documentCaptured keeps the sides and moves on to the selfie.
func (a *App) documentCaptured(s *session, caps []capture.Capture, _ time.Time) {
	defer closeCaptures(caps)
	for _, c := range caps {
		im, err := encodeCapture(c.Image)
		if err != nil {
			a.failLocked(err)
			return
		}
		if c.Name == "back" {
			s.back = &im
		} else {
			s.front = &im
		}
		s.steps = append(s.steps, c.Name)
	}
	if err := a.startSelfieLocked(); err != nil {
		a.failLocked(err)
		return
	}
	// The selfie takes the customer seconds: the document is read
	// meanwhile, so that the last capture waits only for the selfie's part.
	front, back := s.pixels()
	s.prepared = a.prepare(front, back)
}

// prepare starts reading the document while the selfie is taken. The
// engines are loaded: a selfie capture starts only once they are.
func (a *App) prepare(front document.Image, back *document.Image) *verify.Prepared {
	eng, _, _ := a.engines.loaded()
	return (&verify.Engine{Document: eng.Document, Face: eng.Face}).Prepare(a.ctx, front, back)
}

// selfieCaptured keeps the selfie, the outcome of the challenge that
// followed it, if one did, and the frames that met its prompts (the
// verification compares their faces with the selfie's), and starts
// processing at once: the time from this capture to the result on screen
// is the flow's latency target.
func (a *App) selfieCaptured(s *session, caps []capture.Capture, last time.Time, outcome risk.ChallengeOutcome) {
	s.dropChallengeFrames()
	for _, c := range caps {
		switch {
		case c.Name == "selfie" && s.selfie == nil:
			m := c.Image
			s.selfie = &m
		case outcome == risk.ChallengePassed && c.Name != "selfie":
			s.challengeFrames = append(s.challengeFrames, verify.ChallengeFrame{Prompt: c.Name, Image: c.Image})
		default:
			c.Image.Close() // a failed challenge's frames prove nothing
		}
	}
	if s.selfie == nil {
		a.failLocked(errors.New("the selfie guide finished without a selfie"))
		return
	}
	s.steps = append(s.steps, "selfie")
	s.lastCapture = last
	if outcome == risk.ChallengeFailed {
		s.lastCapture = a.now() // the time ran out: the last moment of the capture
	}
	if ch := s.challenge; ch != nil {
		ch.outcome = outcome
		a.cfg.Logger.Info("liveness challenge", "outcome", outcome, "prompts", ch.names(), "asked_by_risk", ch.requested != nil)
	}
	a.startProcessingLocked()
}
