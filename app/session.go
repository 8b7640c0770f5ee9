package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/imageio"
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

// dropSelfie closes the selfie.
func (c *captures) dropSelfie() {
	if c.selfie != nil {
		c.selfie.Close()
		c.selfie = nil
	}
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
	lastCapture      time.Time
	// challenge is the attempt's active liveness challenge: the session's
	// own (active liveness) or the one the risk engine asked for in its
	// band of doubt; nil when there is none.
	challenge *challenge
	// stop cancels the running capture or processing.
	stop context.CancelFunc
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
	s.result = nil
	a.sess = nil
	a.preview.stop()
}

// StartSession begins a verification: the device is checked again (a
// blocking verdict shows the blocked screen), then the document type and
// country are chosen.
func (a *App) StartSession() (View, error) {
	a.mu.Lock()
	a.touchLocked()
	if a.operator == "" || a.screen != ScreenHome {
		defer a.mu.Unlock()
		return a.viewLocked(), fmt.Errorf("starting a session: not on the home screen (%s)", a.screen)
	}
	if a.vault == nil {
		defer a.mu.Unlock()
		a.lastError = "The vault is not open, so no verification can be kept: " + a.vaultErr
		a.rev++
		return a.viewLocked(), errors.New(a.lastError)
	}
	a.mu.Unlock()
	st := a.checkDevice()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.device = &st
	if st.Verdict == string(device.VerdictBlock) {
		a.setScreenLocked(ScreenBlocked)
		return a.viewLocked(), errors.New("the device check blocks verification on this device")
	}
	a.endSessionLocked()
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
	if s == nil || a.screen != ScreenDocumentSelect {
		return a.viewLocked(), ErrNoSession
	}
	if !a.sessionCfg.accepts(docType, country) {
		a.lastError = fmt.Sprintf("%s from %s is not accepted in this session", docType, country)
		a.rev++
		return a.viewLocked(), errors.New(a.lastError)
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
		s.challenge = &challenge{prompts: a.sessionCfg.challenges()}
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
	s.challenge = &challenge{prompts: a.sessionCfg.challenges(), requested: requested}
	s.steps = slices.DeleteFunc(s.steps, func(st string) bool { return st == "selfie" })
	if err := a.startSelfieCaptureLocked(); err != nil {
		return err
	}
	front, back := s.pixels()
	s.prepared = (&verify.Engine{Document: a.engines.Document, Face: a.engines.Face}).Prepare(a.ctx, front, back)
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
	select {
	case <-a.enginesReady:
	default:
		a.lastError = "The face models are still loading; try again in a moment."
		return errors.New(a.lastError)
	}
	if a.enginesErr != nil {
		a.lastError = "The models could not be loaded: " + a.enginesErr.Error()
		return a.enginesErr
	}
	sg, err := capture.NewSelfieGuide(a.engines.Guide, cfg)
	if err != nil {
		return err
	}
	g := &challengeGuide{SelfieGuide: sg, prompts: len(cfg.Challenges), limit: a.sessionCfg.challengeLimit()}
	a.sess.dropSelfie()
	a.startCaptureLocked(g, a.settings.SelfieCamera, "selfie", func(s *session, caps []capture.Capture, last time.Time) {
		a.selfieCaptured(s, caps, last, g.outcome())
	})
	a.setScreenLocked(ScreenCaptureSelfie)
	return nil
}

// challengeGuide is a selfie guide whose challenge has a time limit: the
// prompts must all be followed within limit of the first one showing (the
// selfie captured), or the guide ends with the challenge failed. A photo
// or a replay held up to the camera cannot follow them.
type challengeGuide struct {
	*capture.SelfieGuide
	prompts int
	limit   time.Duration
	// shown is when the first prompt showed; expired that the limit
	// passed before the last prompt was followed.
	shown   time.Time
	expired bool
}

// Analyse implements capture.Guide.
func (g *challengeGuide) Analyse(ctx context.Context, f capture.Frame) (capture.Overlay, error) {
	ov, err := g.SelfieGuide.Analyse(ctx, f)
	if err != nil || g.prompts == 0 {
		return ov, err
	}
	switch {
	case ov.Captured == "selfie":
		g.shown = time.Now()
	case !g.shown.IsZero() && !g.SelfieGuide.Done() && time.Since(g.shown) > g.limit:
		g.expired = true
	}
	return ov, nil
}

// Done implements capture.Guide: everything captured, or the time is up.
func (g *challengeGuide) Done() bool { return g.expired || g.SelfieGuide.Done() }

// outcome is the challenge's outcome once the guide is done: none without
// prompts, passed when every prompt was followed in time, else failed.
func (g *challengeGuide) outcome() risk.ChallengeOutcome {
	switch {
	case g.prompts == 0:
		return risk.ChallengeNone
	case g.SelfieGuide.Done():
		return risk.ChallengePassed
	}
	return risk.ChallengeFailed
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
			a.lastError = "The camera stopped: " + err.Error()
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
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("camera %q: %w", cam, err)
	}
	open := func(ctx context.Context) (source.Source, error) { return source.Open(ctx, spec, source.Options{}) }
	var last time.Time
	opt := capture.Options{Pace: true, OnFrame: func(_ capture.Frame, ov capture.Overlay) {
		a.preview.publishOverlay(ov, ov.Message.Text(lang))
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
			return nil, last, fmt.Errorf("opening %s: %w", cam, err)
		}
		st, err := capture.Run(ctx, previewSource{Source: src, p: a.preview}, g, opt)
		src.Close()
		switch {
		case g.Done():
			return g.Captures(), last, nil
		case err != nil:
			return nil, last, err
		case st.Seen == 0:
			return nil, last, fmt.Errorf("%s gave no frames", cam)
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
	s.prepared = (&verify.Engine{Document: a.engines.Document, Face: a.engines.Face}).Prepare(a.ctx, front, back)
}

// selfieCaptured keeps the selfie and the outcome of the challenge that
// followed it, if one did, and starts processing at once: the time from
// this capture to the result on screen is the flow's latency target.
func (a *App) selfieCaptured(s *session, caps []capture.Capture, last time.Time, outcome risk.ChallengeOutcome) {
	for _, c := range caps {
		if c.Name == "selfie" && s.selfie == nil {
			m := c.Image
			s.selfie = &m
			continue
		}
		c.Image.Close() // the challenges' frames: passing them is what counts
	}
	if s.selfie == nil {
		a.failLocked(errors.New("the selfie guide finished without a selfie"))
		return
	}
	s.steps = append(s.steps, "selfie")
	s.lastCapture = last
	if outcome == risk.ChallengeFailed {
		s.lastCapture = time.Now() // the time ran out: the last moment of the capture
	}
	if ch := s.challenge; ch != nil {
		ch.outcome = outcome
		a.cfg.Logger.Info("liveness challenge", "outcome", outcome, "prompts", ch.names(), "asked_by_risk", ch.requested != nil)
	}
	a.startProcessingLocked()
}

// failLocked ends the session on a machinery failure and says why.
func (a *App) failLocked(err error) {
	a.cfg.Logger.Error("session failed", "err", err)
	a.endSessionLocked()
	a.lastError = err.Error()
	a.setScreenLocked(ScreenHome)
}

// processingStages are the steps the processing screen lists. The engine
// runs the first five side by side and reports each as it finishes.
var processingStages = []string{"device", "document", "selfie", "match", "screening", "decision", "vault"}

// startProcessingLocked hands the captures to a background verification
// that seals the submission in the vault and shows the result. Processing
// owns the captures while it runs, so ending the session meanwhile cannot
// free pictures the engine is reading.
func (a *App) startProcessingLocked() {
	s := a.sess
	s.progress = s.progress[:0]
	for _, n := range processingStages {
		s.progress = append(s.progress, Stage{Name: n, State: "running"})
	}
	s.progress[len(s.progress)-1].State = "pending"
	// Each finished stage is shown at once, from the engine's goroutines.
	stageDone := func(name string) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.sess != s || a.screen != ScreenProcessing {
			return
		}
		for i := range s.progress {
			if s.progress[i].Name == name {
				s.progress[i].State = "done"
			}
		}
		if name == "decision" {
			s.progress[len(s.progress)-1].State = "running" // sealing in the vault
		}
		a.setScreenLocked(ScreenProcessing)
	}
	ctx, cancel := context.WithCancel(a.ctx)
	s.stop = cancel
	c := s.captures
	s.captures = captures{}
	meta := submissionMeta{Session: s.id, Attempt: s.attempt, Operator: a.operator, DocType: s.docType, Country: s.country}
	if ch := s.challenge; ch != nil {
		meta.LivenessChallenge, meta.Challenges = ch.outcome, ch.names()
		if ch.requested != nil {
			meta.ChallengeAfter = ch.requested.SubmissionID
		}
	}
	lang := risk.Language(a.settings.Lang)
	a.setScreenLocked(ScreenProcessing)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		res, err := a.process(ctx, c, meta, lang, stageDone)
		a.mu.Lock()
		defer a.mu.Unlock()
		c.dropSelfie()
		if a.sess != s || ctx.Err() != nil {
			c.dropDocument()
			return
		}
		if err != nil {
			c.dropDocument()
			a.failLocked(err)
			return
		}
		res.Operator.CaptureToMS = ms(time.Since(s.lastCapture))
		for i := range s.progress {
			s.progress[i].State = "done"
			s.progress[i].MS = res.Operator.TimingsMS[s.progress[i].Name]
		}
		a.cfg.Logger.Info("verification", "decision", res.Operator.Decision, "next", res.NextAction,
			"liveness_path", res.Operator.LivenessPath, "capture_to_result_ms", res.Operator.CaptureToMS,
			"engine_ms", res.Operator.TimingsMS["total"])
		// The passive liveness in doubt: one challenge per attempt, when
		// the session offers it (otherwise the band is closed and this
		// never comes).
		challenge := res.NextAction == risk.Challenge && s.challenge == nil && a.sessionCfg.ChallengeOnDoubt
		// A retry of the selfie alone and a challenge reuse the document;
		// nothing else outlives the sealing.
		if challenge || (res.NextAction == risk.Retry && res.RetryStep == risk.RetrySelfie) {
			s.front, s.back = c.front, c.back
		} else {
			c.dropDocument()
		}
		if challenge {
			if err := a.startChallengeLocked(res); err != nil {
				a.failLocked(err)
			}
			return
		}
		s.result = res
		a.setScreenLocked(ScreenResult)
	}()
}

// submissionMeta is the session context sealed with the engine's report
// (internal/submission, shared with `kyc verify --submit`).
type submissionMeta = submission.Meta

// attest signs the attempt's device report with the device key (created on
// first use, the same key `kyc enroll` registers with central).
func (a *App) attest(rep *device.Report) (*device.Attestation, error) {
	return submission.AttestDevice(a.dev, a.cfg.Version, rep)
}

// process runs the engine on one attempt and seals it with its images.
func (a *App) process(ctx context.Context, c captures, meta submissionMeta, lang risk.Language, progress func(string)) (*ResultView, error) {
	select {
	case <-a.enginesReady:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if a.enginesErr != nil {
		return nil, fmt.Errorf("the models could not be loaded: %w", a.enginesErr)
	}
	pol, err := a.devicePolicy()
	if err != nil {
		return nil, err
	}
	conf, err := a.deviceConfig(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	lastContact := a.syncState.LastContact // the clock check compares the wall clock with it
	onDoubt := a.sessionCfg.ChallengeOnDoubt
	a.mu.Unlock()
	rc := conf.Risk.Config
	if !onDoubt {
		// No challenge to offer: the band of doubt is closed, as the risk
		// engine judges without one (every score below
		// face_liveness_min is a spoof).
		rc.Thresholds.FaceLivenessChallengeMin = 0
	}
	eng := verify.Engine{Document: a.engines.Document, Face: a.engines.Face, Screening: conf.Screening, Risk: rc,
		Progress: progress,
		Device: func(ctx context.Context) (device.Report, error) {
			return device.Run(ctx, device.Options{Root: a.cfg.SysRoot, Policy: pol, LastCentralContact: lastContact})
		}}
	front, back := c.pixels()
	// The document read while the selfie was taken, if it was: Verify owns
	// it from here. A retried selfie reads the document again.
	prepared := c.prepared
	c.prepared = nil
	rep, err := eng.Verify(ctx, verify.Input{Front: front, Back: back, Selfie: *c.selfie, Attempt: meta.Attempt, Lang: lang,
		Prepared: prepared, LivenessChallenge: meta.LivenessChallenge})
	if err != nil {
		return nil, fmt.Errorf("verifying: %w", err)
	}
	images := submission.Images{Front: c.front.Raw}
	if c.back != nil {
		images.Back = c.back.Raw
	}
	sealStart := time.Now()
	selfie, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, *c.selfie, []int{gocv.IMWriteJpegQuality, captureJPEGQuality})
	if err != nil {
		return nil, fmt.Errorf("encoding the selfie: %w", err)
	}
	images.Selfie = append([]byte(nil), selfie.GetBytes()...)
	selfie.Close()
	defer clear(images.Selfie)
	a.mu.Lock()
	v := a.vault
	a.mu.Unlock()
	sealed, err := submission.Seal(ctx, v, a.dev, submission.Attempt{Meta: meta, AppVersion: a.cfg.Version, Report: rep, Images: images})
	if err != nil {
		return nil, err
	}
	id := sealed.ID
	rep.TimingsMS["decision"] = 0 // part of the engine's total; listed for the screen
	rep.TimingsMS["vault"] = ms(time.Since(sealStart))
	res := &ResultView{SubmissionID: id, NextAction: rep.NextAction, RetryStep: rep.RetryStep, Message: rep.UserMessage,
		Operator: OperatorResult{Decision: rep.Decision, Score: rep.Score, Reasons: []risk.ReasonCode{}, TimingsMS: rep.TimingsMS,
			LivenessPath: rep.LivenessPath, Challenges: meta.Challenges}}
	for _, r := range rep.Reasons {
		res.Operator.Reasons = append(res.Operator.Reasons, r.Code)
	}
	if m := rep.Face.Match; m != nil {
		res.Operator.FaceMatch = &m.Score
	}
	if l := rep.Face.Liveness; l != nil {
		res.Operator.Liveness = &l.Score
	}
	if rep.Document != nil {
		res.Operator.DocType = string(rep.Document.Type)
	}
	return res, nil
}

// ResultShown is called by the page once the result is drawn: it logs the
// time from the last capture to the result on screen.
func (a *App) ResultShown() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sess == nil || a.sess.result == nil || a.sess.lastCapture.IsZero() {
		return 0
	}
	d := ms(time.Since(a.sess.lastCapture))
	a.cfg.Logger.Info("result on screen", "capture_to_screen_ms", d)
	return d
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

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
