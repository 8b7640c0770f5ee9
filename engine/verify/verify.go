// Package verify runs one whole on-device verification: the device check,
// the document, the selfie (liveness and its face), the 1:1 match against
// the document's portrait, the screening of the extracted name, and the
// risk decision. Stages that do not depend on each other run in parallel:
// the device check, the document pipelines and the selfie analysis start
// together; the match waits for the portrait and the screening for the name.
// An app may start the document half earlier (Engine.Prepare), as soon as
// the document is captured, so that it is read while the selfie is taken.
//
// After an active liveness challenge the frames that met its prompts
// (Input.ChallengeFrames) are compared with the selfie by the face
// engine's embeddings: a frame with no face or another person's fails the
// challenge (risk.FaceChallengeIdentity), so the victim's photo shown for
// the selfie and the attacker's own head turned for the prompts does not
// pass. Each frame's face also takes the selfie's screen and print trace
// check (face.Engine.TraceCheck; not the liveness models, calibrated on
// frontal faces): traces fail the challenge (risk.FaceChallengeReproduction),
// so a video of the victim turning played on a screen does not pass. The
// report records each frame's similarity and traces (FaceReport.Challenge).
package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/internal/timing"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
)

// DefaultConfirmScore is the screening score from which a hit counts as a
// confirmed watchlist hit (escalate) rather than a potential match
// (review): on the screening package's calibration data no ordinary name
// scored above it.
const DefaultConfirmScore = 0.93

// Engine holds the components a verification runs; the caller owns them.
type Engine struct {
	Document *document.Analyzer
	Face     *face.Engine
	// Screening is the watchlist index; nil leaves the sanctions signal
	// missing, which the risk policy handles explicitly.
	Screening *screening.Index
	// ScreeningData is the age of Screening's lists, which the risk policy
	// judges (risk.Input.Screening); nil leaves it unjudged.
	ScreeningData *risk.ScreeningData
	// Device runs the device check; nil leaves the device unchecked.
	Device func(ctx context.Context) (device.Report, error)
	Risk   risk.Config
	// Forensics holds the document checks' operating points (which may
	// reject, which only send to review); nil means
	// forensics.DefaultCalibration(), measured by `kyc eval documents`.
	Forensics    forensics.Calibration
	ConfirmScore float64
	// ChallengeSimilarity is the similarity to the selfie from which a
	// challenge frame's face is the selfie's person; 0 means
	// DefaultChallengeSimilarity.
	ChallengeSimilarity float64
	// Progress, when not nil, is told each stage's name as it finishes:
	// device, document, selfie, match, screening, decision. It is called
	// from the stages' goroutines, each stage once.
	Progress func(stage string)
}

// Input is one attempt's captures.
type Input struct {
	Front  document.Image
	Back   *document.Image
	Selfie gocv.Mat
	// Prepared, when not nil, is the document half already under way
	// (Engine.Prepare, started when the document was captured): Front and
	// Back are then not read again, and Verify releases Prepared.
	Prepared *Prepared
	// Attempt is the 1-based attempt number in the session.
	Attempt int
	Lang    risk.Language
	// LivenessChallenge is the outcome of the active liveness challenge a
	// previous report's CHALLENGE next action asked for, when the same
	// captures are verified again after it (or an active session's own);
	// empty otherwise.
	LivenessChallenge risk.ChallengeOutcome
	// ChallengeFrames are the frames that met the challenge's prompts, one
	// a prompt, owned by the caller like Selfie. With a passed challenge
	// each must show the selfie's person (its face's similarity to the
	// selfie's at least Engine.ChallengeSimilarity), or the challenge
	// counts as failed (risk.FaceChallengeIdentity): someone else followed
	// the prompts after the selfie; and none may show a screen's or a
	// print's traces (risk.FaceChallengeReproduction). A passed outcome without frames is
	// taken as it is, the statement of whoever ran the challenge.
	ChallengeFrames []ChallengeFrame
	// FeedSuspect, when not empty, is the caller's evidence that the
	// selfie came from no live camera feed (risk.Input.FeedSuspect): the
	// client that received the frames judges it.
	FeedSuspect string
	// Reference, when set, is the image the selfie is matched against
	// instead of the document's portrait (a partner's reference image,
	// seed 000): its largest face. The document is still read and checked.
	Reference *gocv.Mat
}

// FaceReport is the face half of the report.
type FaceReport struct {
	Match     *face.Decision       `json:"match"`
	Liveness  *face.LivenessResult `json:"liveness"`
	Selfie    *face.Analysis       `json:"selfie"`
	Reference *face.Analysis       `json:"reference"`
	// Challenge compares the active challenge's frames with the selfie;
	// nil when no frames came with a passed challenge.
	Challenge *ChallengeReport `json:"challenge,omitempty"`
	Problem   string           `json:"problem,omitempty"`
}

// ScreeningReport is what the name screening found.
type ScreeningReport struct {
	Screened bool            `json:"screened"`
	Name     string          `json:"name,omitempty"`
	Hits     []screening.Hit `json:"hits"`
}

// Report is the whole verification.
type Report struct {
	Decision   risk.Decision   `json:"decision"`
	Score      float64         `json:"score"`
	Reasons    []risk.Reason   `json:"reasons"`
	NextAction risk.NextAction `json:"next_action"`
	RetryStep  risk.RetryStep  `json:"retry_step,omitempty"`
	// LivenessPath is how the face liveness was decided: passively, or by
	// an active challenge asked for in its band of doubt.
	LivenessPath risk.LivenessPath  `json:"liveness_path,omitempty"`
	UserMessage  string             `json:"user_message"`
	Risk         risk.Result        `json:"risk"`
	Document     *document.Result   `json:"document"`
	Face         FaceReport         `json:"face"`
	Screening    ScreeningReport    `json:"screening"`
	Device       *device.Report     `json:"device"`
	TimingsMS    map[string]float64 `json:"timings_ms"`
}

// Verify runs every stage and decides. Input problems that a new capture
// can fix (no face in the selfie, an unreadable document) are decisions
// with a RETRY, not errors; errors are failures of the machinery.
func (e *Engine) Verify(ctx context.Context, in Input) (*Report, error) {
	if e.Document == nil || e.Face == nil {
		return nil, errors.New("verify: the document and face engines are required")
	}
	if in.Attempt < 1 {
		in.Attempt = 1
	}
	if in.Lang == "" {
		in.Lang = risk.English
	}
	start := time.Now()
	c := timing.New()
	rep := &Report{TimingsMS: c.Map()}
	var reportedMu sync.Mutex
	reported := map[string]bool{}
	done := func(stage string) {
		if e.Progress == nil {
			return
		}
		reportedMu.Lock()
		first := !reported[stage]
		reported[stage] = true
		reportedMu.Unlock()
		if first {
			e.Progress(stage)
		}
	}

	var (
		wg                 sync.WaitGroup
		dev                *device.Report
		devErr, docErr     error
		doc                *document.Result
		selfie             face.Analysis
		selfieErr, liveErr error
		live               face.LivenessResult
	)
	if e.Device != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := time.Now()
			r, err := e.Device(ctx)
			dev, devErr = &r, err
			c.Since("device", s)
			done("device")
		}()
	}
	half := in.Prepared
	if half == nil {
		half = e.prepare(ctx, in.Front, in.Back, c, done)
	}
	defer half.Close()
	wg.Add(2)
	go func() {
		defer wg.Done()
		select {
		case <-half.done:
			// Ahead of time, the stages were not reported as they ended.
			for _, stage := range []string{"match", "document"} {
				if v, ok := half.timings.Map()[stage]; ok && half.timings != c {
					c.Set(stage, v)
				}
				done(stage)
			}
			doc, docErr = half.doc, half.err
		case <-ctx.Done():
			docErr = ctx.Err()
		}
	}()
	go func() {
		defer wg.Done()
		s := time.Now()
		var up face.Upright
		selfie, up, selfieErr = e.Face.AnalyzeStill(ctx, in.Selfie, face.Dominant, face.Timings{}, "")
		if selfieErr == nil {
			live, liveErr = e.Face.Liveness(ctx, up.Mat, selfie.Face)
		}
		up.Close()
		c.Since("selfie", s)
		done("selfie")
	}()
	var challenge []challengeFace
	if in.LivenessChallenge == risk.ChallengePassed && len(in.ChallengeFrames) > 0 {
		wg.Go(func() {
			s := time.Now()
			challenge = e.analyseChallenge(ctx, in.ChallengeFrames)
			c.Since("challenge", s)
		})
	}
	var ref face.Analysis
	var refErr error
	if in.Reference != nil {
		wg.Go(func() {
			s := time.Now()
			var up face.Upright
			ref, up, refErr = e.Face.AnalyzeStill(ctx, *in.Reference, face.Largest, face.Timings{}, "")
			up.Close()
			c.Since("reference", s)
		})
	}
	wg.Wait()
	if devErr != nil {
		return nil, fmt.Errorf("device check: %w", devErr)
	}
	// A photo too small or thin to hold a document is a capture to take
	// again, as an unreadable one is, not a failure of the machinery.
	unread := errors.Is(docErr, forensics.ErrTooSmall)
	if unread {
		doc, docErr = &document.Result{Type: fields.TypeUnknown, Fields: map[string]fields.Field{}, Mismatches: []fields.Mismatch{}}, nil
	}
	if docErr != nil {
		return nil, fmt.Errorf("document: %w", docErr)
	}
	s := time.Now()
	screened := e.screen(doc)
	c.Since("screening", s)
	done("screening")
	confirm := e.ConfirmScore
	if confirm == 0 {
		confirm = DefaultConfirmScore
	}
	stages := stageResults{
		doc: doc, dev: dev, selfie: selfie, selfieErr: selfieErr, live: live, liveErr: liveErr,
		docUnread: unread,
		ref:       half.ref, refErr: half.refErr, refOK: half.refOK, screening: screened, calibration: e.Forensics,
		challenge: challenge, challengeSimilarity: e.ChallengeSimilarity,
	}
	if stages.challengeSimilarity == 0 {
		stages.challengeSimilarity = DefaultChallengeSimilarity
	}
	if in.Reference != nil {
		// A reference without a face is like a document without a
		// portrait: nothing to match, which the risk policy decides on.
		stages.ref, stages.refErr, stages.refOK = ref, refErr, !errors.Is(refErr, face.ErrNoFace)
		if !stages.refOK {
			stages.refErr = nil
		}
	}
	riskIn, faceRep, err := riskInput(stages, e.Face.Matcher(), confirm, in.Attempt, in.LivenessChallenge)
	if err != nil {
		return nil, err
	}
	riskIn.FeedSuspect, riskIn.Screening = in.FeedSuspect, e.ScreeningData
	rep.Document, rep.Device, rep.Face, rep.Screening = doc, dev, faceRep, screened

	res, err := risk.Evaluate(e.Risk, riskIn)
	if err != nil {
		return nil, fmt.Errorf("risk: %w", err)
	}
	msg, err := res.Message.Text(in.Lang)
	if err != nil {
		return nil, fmt.Errorf("risk message: %w", err)
	}
	rep.Risk = res
	rep.Decision, rep.Score, rep.Reasons, rep.NextAction, rep.RetryStep = res.Decision, res.Score, res.Reasons, res.NextAction, res.RetryStep
	rep.LivenessPath = res.LivenessPath
	rep.UserMessage = msg
	done("decision")
	c.Since("total", start)
	return rep, nil
}

// screen screens the document holder's name, with the birth date and
// nationality the document gives.
func (e *Engine) screen(doc *document.Result) ScreeningReport {
	rep := ScreeningReport{Hits: []screening.Hit{}}
	if e.Screening == nil {
		return rep
	}
	name := holderName(doc)
	if name == "" {
		return rep
	}
	q := screening.Query{Name: name}
	if f, ok := doc.Fields[fields.FieldBirthDate]; ok {
		if d, err := screening.ParseDate(f.Value); err == nil {
			q.DOB = d
		}
	}
	if f, ok := doc.Fields[fields.FieldNationality]; ok {
		q.Country = f.Value
	}
	hits, err := e.Screening.Screen(q)
	if err != nil {
		return rep
	}
	rep.Screened, rep.Name, rep.Hits = true, name, append(rep.Hits, hits...)
	return rep
}

// holderName is the name as screening wants it: "SURNAME, Given names"
// when the document separates them, else the full printed name.
func holderName(doc *document.Result) string {
	sur, given := doc.Fields[fields.FieldSurname].Value, doc.Fields[fields.FieldGivenNames].Value
	if sur != "" {
		if given != "" {
			return sur + ", " + given
		}
		return sur
	}
	return strings.TrimSpace(doc.Fields[fields.FieldName].Value)
}

// dataChecks is the share of the document's data checks that pass: the
// MRZ check digits, each MRZ/visual or NIK/printed agreement, the NIK's
// own validity, whether the document's validity could be read at all
// (an expiry date, or a KTP's "for life"): a document whose expiry is
// unreadable is not known to be in force, and whether the MRZ's dates its
// check digits vouch for are dates. ok is false when the document
// offered nothing to check.
func dataChecks(doc *document.Result) (float64, bool) {
	pass, total := 0.0, 0.0
	if doc.Type != fields.TypeUnknown || doc.MRZ != nil {
		total++
		if e, ok := doc.Fields[fields.FieldExpiryDate]; ok && e.Value != "" {
			pass++
		}
	}
	if doc.MRZ != nil {
		total++
		pass += float64(doc.MRZ.ValidScore) / 100
		// A date its check digit vouches for that no calendar has (30
		// February, month 13) is no misreading: the zone was written so.
		// It is a failed check of its own, or a document whose birth date
		// is no date would pass whole, with no age for a minimum age to
		// judge.
		total += float64(impossibleDates(doc.MRZ))
	}
	if doc.NIK != nil {
		total++
		if doc.NIK.Valid {
			pass++
		}
	}
	if total == 0 {
		return 0, false
	}
	// Each mismatch between two readings of the same fact is a failed
	// check of its own.
	total += float64(len(doc.Mismatches))
	return pass / total, true
}

// impossibleDates counts the zone's birth and expiry dates whose check
// digit validates but which read as no date; a date of fillers alone
// (unknown) is not one.
func impossibleDates(m *mrz.Result) int {
	valid := map[string]bool{}
	for _, c := range m.Checks {
		valid[c.Name] = c.Valid
	}
	n := 0
	for _, d := range []struct{ check, raw, iso string }{
		{mrz.CheckBirthDate, m.Fields.BirthDate, m.Fields.BirthDateISO},
		{mrz.CheckExpiryDate, m.Fields.ExpiryDate, m.Fields.ExpiryDateISO},
	} {
		if valid[d.check] && d.iso == "" && strings.Trim(d.raw, "<") != "" {
			n++
		}
	}
	return n
}

// Prepared is the document half of a verification (the document pipelines
// and the analysis of its printed portrait) started ahead of the selfie,
// so that a kiosk reads the document while the customer poses: the time
// from the selfie to the decision is then the selfie's alone.
type Prepared struct {
	cancel  context.CancelFunc
	done    chan struct{}
	timings *timing.Recorder
	doc     *document.Result
	err     error
	ref     face.Analysis
	refErr  error
	refOK   bool
	once    sync.Once
}

// Prepare starts the document half of a verification in the background.
// front and back must stay open until the Prepared is closed, by Verify or
// by Close.
func (e *Engine) Prepare(ctx context.Context, front document.Image, back *document.Image) *Prepared {
	return e.prepare(ctx, front, back, timing.New(), func(string) {})
}

func (e *Engine) prepare(ctx context.Context, front document.Image, back *document.Image, c *timing.Recorder, done func(string)) *Prepared {
	ctx, cancel := context.WithCancel(ctx)
	p := &Prepared{cancel: cancel, done: make(chan struct{}), timings: c}
	// The reference side of the match starts as soon as the document's
	// portrait is cut out, while the document's text is still being read.
	onPortrait := func(portrait document.PortraitCrop) {
		s := time.Now()
		p.ref, p.refErr = e.Face.Describe(ctx, portrait.Image, portrait.Face, face.Timings{}, "")
		p.refOK = true
		c.Since("match", s)
		done("match")
	}
	go func() {
		defer close(p.done)
		s := time.Now()
		p.doc, p.err = e.Document.Analyze(ctx, front, back, onPortrait)
		c.Since("document", s)
		done("document")
	}()
	return p
}

// Wait waits for the analysis to end.
func (p *Prepared) Wait() { <-p.done }

// Close stops the analysis if it is still running, waits for it to end
// and releases its result. It may be called more than once.
func (p *Prepared) Close() {
	p.once.Do(func() {
		p.cancel()
		<-p.done
		if p.doc != nil {
			p.doc.Close()
		}
	})
}
