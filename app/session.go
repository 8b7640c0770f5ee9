package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/submission"
)

// ErrNoSession means the action needs a running session and none is.
var ErrNoSession = errors.New("no verification session is running")

// captureJPEGQuality is the quality captures are sealed at (the flow's
// "JPEG (quality 90)"); document forensics read these bytes.
const captureJPEGQuality = 90

// captures are a session's pictures: the only personal data in memory,
// held by one owner at a time (the session, or processing while it runs).
type captures struct {
	front, back *document.Image
	selfie      *gocv.Mat
	// challengeFrames met the prompts of the selfie's passed challenge.
	challengeFrames []verify.ChallengeFrame
	// feedSuspect is why the camera feed behind the selfie looks like no
	// camera (device.FeedSuspect; risk.Input.FeedSuspect), "" for a live
	// feed or a video file.
	feedSuspect string
	// prepared is the document already being read, from the moment its
	// capture ended, while the customer poses for the selfie.
	prepared *verify.Prepared
}

// pixels are the document sides as the engine sees them: pixels only. A
// live capture never was a file, so the file-level JPEG checks (double
// compression, editing software), which judge an uploaded photo's history,
// would only judge this app's own encoding of an MJPG camera frame.
func (c *captures) pixels() (document.Image, *document.Image) {
	front := document.Image{Mat: c.front.Mat}
	var back *document.Image
	if c.back != nil {
		back = &document.Image{Mat: c.back.Mat}
	}
	return front, back
}

// dropDocument stops the reading of the document and closes and wipes its
// sides.
func (c *captures) dropDocument() {
	if c.prepared != nil {
		c.prepared.Close()
		c.prepared = nil
	}
	for _, im := range []*document.Image{c.front, c.back} {
		if im != nil {
			im.Mat.Close()
			clear(im.Raw)
		}
	}
	c.front, c.back = nil, nil
}

// dropSelfie closes the selfie and its challenge's frames.
func (c *captures) dropSelfie() {
	if c.selfie != nil {
		c.selfie.Close()
		c.selfie = nil
	}
	c.feedSuspect = ""
	c.dropChallengeFrames()
}

// dropChallengeFrames closes the challenge's frames.
func (c *captures) dropChallengeFrames() {
	for _, f := range c.challengeFrames {
		f.Image.Close()
	}
	c.challengeFrames = nil
}

// session is one customer's verification; everything in it is forgotten
// when it ends.
type session struct {
	captures
	id               string
	started          time.Time
	docType, country string
	attempt          int
	steps            []string // the sides and selfie captured so far
	progress         []Stage
	result           *ResultView
	// sealed is the result's attempt as sealed, pictures included, for
	// the operator's view: kept with the session, as the vault shreds its
	// pictures once central has them.
	sealed      *sealedAttempt
	lastCapture time.Time
	// challenge is the attempt's active liveness challenge: the session's
	// own (active liveness) or the one the risk engine asked for in its
	// band of doubt; nil when there is none.
	challenge *challenge
	// stop cancels the running capture or processing.
	stop context.CancelFunc
}

// sealedAttempt is an attempt as sealed: what the operator's view is
// drawn from.
type sealedAttempt struct {
	id      string
	at      time.Time
	payload submission.Payload
	images  map[string][]byte
}

// setResult shows res (nil: none), forgetting the previous result's
// pictures.
func (s *session) setResult(res *ResultView) {
	if s.sealed != nil {
		for _, b := range s.sealed.images {
			clear(b)
		}
	}
	s.result, s.sealed = res, nil
	if res != nil {
		s.sealed, res.sealed = res.sealed, nil
	}
}

// challenge is the active liveness challenge of one attempt: prompts the
// person follows before the camera once their selfie is taken.
type challenge struct {
	prompts []capture.Message
	// requested is the result whose CHALLENGE next action asked for this
	// challenge (sealed, decision reject); nil for an active session's
	// own challenge.
	requested *ResultView
	// outcome is passed or failed once the capture has ended.
	outcome risk.ChallengeOutcome
}

// names are the challenge's prompts as the session configuration names
// them.
func (c *challenge) names() []string {
	out := make([]string, len(c.prompts))
	for i, p := range c.prompts {
		out[i] = string(p)
	}
	return out
}

// endSessionLocked stops the session's work and forgets everything it held.
func (a *App) endSessionLocked() {
	s := a.sess
	if s == nil {
		return
	}
	if s.stop != nil {
		s.stop()
	}
	s.dropDocument()
	s.dropSelfie()
	s.setResult(nil)
	a.sess = nil
	a.preview.stop()
}

// StartSession begins a verification: the device configuration is loaded
// (one refused keeps the operator on the home screen, told why, before any
// capture), the device is checked again (a blocking verdict shows the
// blocked screen), then the document type and country are chosen.
func (a *App) StartSession() (View, error) {
	a.mu.Lock()
	a.touchLocked()
	if a.staff.operator == "" || a.ui.screen != ScreenHome {
		defer a.mu.Unlock()
		return a.viewLocked(), fmt.Errorf("starting a session: not on the home screen (%s)", a.ui.screen)
	}
	if a.vault == nil {
		defer a.mu.Unlock()
		a.ui.lastError = "The vault is not open, so no verification can be kept: " + a.vaultErr
		a.ui.rev++
		return a.viewLocked(), errors.New(a.ui.lastError)
	}
	op := a.staff.operator
	a.mu.Unlock()
	if _, err := a.deviceConfig(a.lifetime()); err != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.ui.lastError = refusedWords(err)
		a.ui.rev++
		return a.viewLocked(), errors.New(a.ui.lastError)
	}
	st := a.checkDevice()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.device = &st
	// The checks ran with the lock let go: an operator who signed out
	// meanwhile (or a second press that started a session) leaves no
	// session open on the screen they left.
	if a.staff.operator != op || a.ui.screen != ScreenHome {
		return a.viewLocked(), fmt.Errorf("starting a session: the screen changed meanwhile (%s)", a.ui.screen)
	}
	if st.Verdict == string(device.VerdictBlock) {
		a.setScreenLocked(ScreenBlocked)
		return a.viewLocked(), errors.New("the device check blocks verification on this device")
	}
	a.endSessionLocked()
	a.stopCameraLocked() // the settings' camera check, if left running
	a.sess = &session{id: newID("ses"), started: a.now(), attempt: 1}
	a.audit("session.start", a.sess.id)
	a.setScreenLocked(ScreenDocumentSelect)
	return a.viewLocked(), nil
}

// ChooseDocument sets the document type and country (as the session
// configuration allows) and starts the document capture.
func (a *App) ChooseDocument(docType, country string) (View, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	s := a.sess
	if s == nil || a.ui.screen != ScreenDocumentSelect {
		return a.viewLocked(), ErrNoSession
	}
	if !a.sessionCfg.accepts(docType, country) {
		a.ui.lastError = fmt.Sprintf("%s from %s is not accepted in this session", docType, country)
		a.ui.rev++
		return a.viewLocked(), errors.New(a.ui.lastError)
	}
	s.docType, s.country = docType, country
	if err := a.startDocumentLocked(); err != nil {
		return a.viewLocked(), err
	}
	return a.viewLocked(), nil
}

// startDocumentLocked starts the live document capture of the session.
func (a *App) startDocumentLocked() error {
	s := a.sess
	cfg := capture.DefaultDocumentConfig()
	cfg.Sides = a.sessionCfg.sides(s.docType)
	g, err := capture.NewDocumentGuide(cfg)
	if err != nil {
		return err
	}
	s.dropDocument()
	s.steps = nil
	a.startCaptureLocked(g, a.settings.DocumentCamera, "document", a.documentCaptured)
	a.setScreenLocked(ScreenCaptureDocument)
	return nil
}

// startSelfieLocked starts the live selfie capture of an attempt, with
// the session's challenges when its liveness is active.
func (a *App) startSelfieLocked() error {
	s := a.sess
	s.challenge = nil
	if a.sessionCfg.LivenessType == "active" {
		s.challenge = &challenge{prompts: a.challengeOrder(a.sessionCfg.challenges())}
	}
	return a.startSelfieCaptureLocked()
}

// startChallengeLocked takes the person back to the selfie camera for the
// active challenge the risk engine asked for (requested: its CHALLENGE
// result, sealed) with the session's challenges, else DoubtChallenges. The
// attempt's document is not captured again: its kept pictures are read
// again while the person follows the prompts (the engine's reading ended
// with the verification that asked), so the verification that follows
// waits for the new selfie alone.
func (a *App) startChallengeLocked(requested *ResultView) error {
	s := a.sess
	s.challenge = &challenge{prompts: a.challengeOrder(a.sessionCfg.challenges()), requested: requested}
	s.steps = slices.DeleteFunc(s.steps, func(st string) bool { return st == "selfie" })
	if err := a.startSelfieCaptureLocked(); err != nil {
		return err
	}
	front, back := s.pixels()
	s.prepared = a.prepare(front, back)
	a.audit("liveness.challenge", s.id)
	return nil
}

// startSelfieCaptureLocked starts the live selfie capture, then the
// session's challenge if it has one, once the guidance detector is loaded.
func (a *App) startSelfieCaptureLocked() error {
	cfg := capture.DefaultSelfieConfig()
	if ch := a.sess.challenge; ch != nil {
		cfg.Challenges = ch.prompts
	}
	cfg.ChallengeTime, cfg.PromptTime = a.sessionCfg.challengeLimits()
	eng, ok, err := a.engines.loaded()
	switch {
	case !ok:
		a.ui.lastError = "The face models are still loading; try again in a moment."
		return errors.New(a.ui.lastError)
	case err != nil:
		a.ui.lastError = "The models could not be loaded: " + err.Error()
		return err
	}
	sg, err := capture.NewSelfieGuide(eng.Guide, cfg)
	if err != nil {
		return err
	}
	g := &challengeGuide{SelfieGuide: sg, prompts: len(cfg.Challenges), now: a.now, live: liveCamera(a.settings.SelfieCamera)}
	a.sess.dropSelfie()
	a.startCaptureLocked(g, a.settings.SelfieCamera, "selfie", func(s *session, caps []capture.Capture, last time.Time) {
		s.feedSuspect = g.feed()
		a.selfieCaptured(s, caps, last, g.outcome())
	})
	a.setScreenLocked(ScreenCaptureSelfie)
	return nil
}

// challengeOrder is the order a challenge's prompts are shown in: drawn
// at random each time (Config.ChallengeOrder in tests).
func (a *App) challengeOrder(prompts []capture.Message) []capture.Message {
	if a.cfg.ChallengeOrder != nil {
		return a.cfg.ChallengeOrder(prompts)
	}
	return capture.ShuffleChallenges(prompts)
}

// failLocked ends the session on a machinery failure and says why.
func (a *App) failLocked(err error) {
	a.cfg.Logger.Error("session failed", "err", err)
	a.endSessionLocked()
	a.ui.lastError = err.Error()
	a.setScreenLocked(ScreenHome)
}

// Retry starts the next attempt at the step the policy names.
func (a *App) Retry() (View, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	s := a.sess
	if s == nil || s.result == nil || s.result.NextAction != risk.Retry {
		return a.viewLocked(), errors.New("retrying: the result does not allow a retry")
	}
	step := s.result.RetryStep
	s.attempt++
	s.result = nil
	s.challenge = nil // a new attempt is judged afresh
	var err error
	switch step {
	case risk.RetrySelfie:
		s.steps = slices.DeleteFunc(s.steps, func(st string) bool { return st == "selfie" })
		err = a.startSelfieLocked()
	case risk.RetryNewDocument:
		s.dropDocument()
		a.setScreenLocked(ScreenDocumentSelect)
	default:
		err = a.startDocumentLocked()
	}
	if err != nil {
		a.failLocked(err)
		return a.viewLocked(), err
	}
	return a.viewLocked(), nil
}

// Finish ends the session after its result (EXIT or STATUS) or cancels it
// at any step; the screen returns home with nothing of the customer left.
func (a *App) Finish() View {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	if a.sess != nil {
		a.audit("session.end", a.sess.id)
		a.endSessionLocked()
		a.setScreenLocked(ScreenHome)
	}
	return a.viewLocked()
}

// Frame returns the first live preview frame newer than after, waiting up
// to a second for one.
func (a *App) Frame(after int) FrameView {
	ctx := a.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return a.preview.next(ctx, after, time.Second)
}

func newID(prefix string) string { return submission.NewID(prefix) }
