package app

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/internal/submission"
)

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
		if a.sess != s || a.ui.screen != ScreenProcessing {
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
	meta := submissionMeta{Session: s.id, Attempt: s.attempt, Operator: a.staff.operator, DocType: s.docType, Country: s.country}
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
		// Last, with the captures dropped: the app idles until the next
		// customer holding nothing of this one.
		defer runtimeinfo.ReleaseMemory()
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
		s.setResult(res)
		if res.NextAction == risk.Retry {
			res.RetryAdvice = operatorWords(a.settings.Lang).get("retry." + string(res.RetryStep))
		}
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
	loaded, err := a.engines.wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("the models could not be loaded: %w", err)
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
	lastContact := a.link.status.LastContact // the clock check compares the wall clock with it
	onDoubt := a.sessionCfg.ChallengeOnDoubt
	a.mu.Unlock()
	rc := conf.Risk.Config
	if !onDoubt && meta.LivenessChallenge == risk.ChallengeNone {
		// No challenge to offer: a score in the band of doubt goes to a
		// reviewer instead.
		meta.LivenessChallenge = risk.ChallengeUnavailable
	}
	eng := verify.Engine{Document: loaded.Document, Face: loaded.Face, Screening: conf.Screening, Risk: rc,
		ScreeningData: a.dev.ScreeningData(conf.Watchlists, a.now()), Progress: progress,
		Device: func(ctx context.Context) (device.Report, error) {
			return device.Run(ctx, device.Options{Root: a.cfg.SysRoot, Policy: pol, LastCentralContact: lastContact})
		}}
	front, back := c.pixels()
	// The document read while the selfie was taken, if it was: Verify owns
	// it from here. A retried selfie reads the document again.
	prepared := c.prepared
	c.prepared = nil
	rep, err := eng.Verify(ctx, verify.Input{Front: front, Back: back, Selfie: *c.selfie, Attempt: meta.Attempt, Lang: lang,
		Prepared: prepared, LivenessChallenge: meta.LivenessChallenge, ChallengeFrames: c.challengeFrames, FeedSuspect: c.feedSuspect})
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
	sealed, err := submission.Seal(ctx, v, a.dev, submission.Attempt{Meta: meta, AppVersion: a.cfg.Version, Report: rep,
		RiskVersion: conf.Risk.Version, Images: images})
	if err != nil {
		return nil, err
	}
	id := sealed.ID
	// Kept for the operator's view, which is drawn only when opened: off
	// the path to the result. Copies: the captures are wiped after this.
	kept := &sealedAttempt{id: id, at: a.now(), payload: submission.Payload{Meta: meta, Report: rep},
		images: map[string][]byte{submission.ImageFront: bytes.Clone(c.front.Raw), submission.ImageSelfie: bytes.Clone(images.Selfie)}}
	rep.TimingsMS["decision"] = 0 // part of the engine's total; listed for the screen
	rep.TimingsMS["vault"] = ms(time.Since(sealStart))
	res := &ResultView{SubmissionID: id, NextAction: rep.NextAction, RetryStep: rep.RetryStep, Message: rep.UserMessage,
		sealed: kept, Operator: OperatorResult{Decision: rep.Decision, Score: rep.Score, Reasons: []risk.ReasonCode{}, TimingsMS: rep.TimingsMS,
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

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
