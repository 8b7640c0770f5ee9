package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/submission"
	"github.com/openkyc/kyc/sync/vault"
)

// ErrNotAllowed means the signed-in operator may not open a submission:
// it is another operator's and they are not a supervisor.
var ErrNotAllowed = errors.New("only the operator who ran this verification or a supervisor may open it")

// SubmissionDetails is one verification as the operator opens it: who the
// document says the person is and where each fact was read, the three
// pictures, the face scores against their thresholds, each check in words,
// and what to do next. It is personal: it is never part of the View, only
// the answer to the operator's explicit request (Details).
type SubmissionDetails struct {
	ID         string          `json:"id"`
	CreatedAt  time.Time       `json:"created_at"`
	Operator   string          `json:"operator"`
	DocType    string          `json:"doc_type"`
	Country    string          `json:"country"`
	Decision   risk.Decision   `json:"decision"`
	Score      float64         `json:"score"`
	NextAction risk.NextAction `json:"next_action"`
	Identity   []IdentityField `json:"identity"`
	Images     DetailImages    `json:"images"`
	Match      Gauge           `json:"match"`
	Liveness   Gauge           `json:"liveness"`
	Checks     []Check         `json:"checks"`
	// Do is the operator's next step and Say what to tell the customer,
	// in the operator's language; Retry, for a RETRY, what to do
	// differently at the capture that failed.
	Do    string `json:"do"`
	Say   string `json:"say"`
	Retry string `json:"retry,omitempty"`
	// Reasons are the reason codes, for a call to central's reviewers.
	Reasons []risk.ReasonCode `json:"reasons"`
}

// IdentityField is one fact of the document and where it was read.
type IdentityField struct {
	Key    string `json:"key"`
	Label  string `json:"label"`
	Value  string `json:"value"`
	Source string `json:"source"` // in words: the MRZ, the printed text, the NIK
}

// DetailImages are the pictures as data URLs: the document as captured,
// the portrait cut from it and the selfie. Dropped says the vault shredded
// them after central acknowledged the submission.
type DetailImages struct {
	Document string `json:"document,omitempty"`
	Portrait string `json:"portrait,omitempty"`
	Selfie   string `json:"selfie,omitempty"`
	Dropped  bool   `json:"dropped,omitempty"`
}

// Gauge is a score against its threshold, drawn so a glance tells pass or
// fail: Value is missing when the score was not measured.
type Gauge struct {
	Value     *float64 `json:"value,omitempty"`
	Threshold float64  `json:"threshold"`
	Pass      bool     `json:"pass"`
}

// Check outcomes.
const (
	CheckPass   = "pass"
	CheckWarn   = "warn" // sent to a human
	CheckFail   = "fail"
	CheckNotRun = "not_run"
)

// Check is one check of the verification with its outcome in words.
type Check struct {
	Key     string `json:"key"`
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Text    string `json:"text"`
}

// Details opens a submission of this device: the running session's result
// from memory (its pictures are shredded from the vault once central has
// them), any other from the vault. Only the operator who ran it or a
// supervisor may.
func (a *App) Details(id string) (SubmissionDetails, error) {
	a.mu.Lock()
	a.touchLocked()
	op, role, v, lang := a.staff.operator, a.staff.role, a.vault, a.settings.Lang
	var current *sealedAttempt
	if s := a.sess; s != nil && s.sealed != nil && s.sealed.id == id {
		// A copy of the pictures: the session's end wipes its own.
		c := *s.sealed
		c.images = maps.Clone(c.images)
		for k, b := range c.images {
			c.images[k] = bytes.Clone(b)
		}
		current = &c
	}
	a.mu.Unlock()
	if op == "" {
		return SubmissionDetails{}, errors.New("opening a submission: no operator is signed in")
	}
	if current != nil {
		defer func() {
			for _, b := range current.images {
				clear(b)
			}
		}()
		return a.details(a.ctx, id, current.at, current.payload, current.images, lang), nil
	}
	if v == nil {
		return SubmissionDetails{}, errors.New("opening a submission: the vault is not open")
	}
	sub, err := v.GetSubmission(a.ctx, id)
	if err != nil {
		return SubmissionDetails{}, fmt.Errorf("opening submission %s: %w", id, err)
	}
	var p submission.Payload
	if err := json.Unmarshal(sub.Payload, &p); err != nil {
		return SubmissionDetails{}, fmt.Errorf("reading submission %s: %w", id, err)
	}
	if p.Operator != op && role != RoleSupervisor {
		a.cfg.Logger.Warn("submission details refused", "id", id, "operator", op)
		return SubmissionDetails{}, ErrNotAllowed
	}
	a.audit("submission.open", id)
	d := a.details(a.ctx, id, sub.CreatedAt, p, sub.Images, lang)
	if len(sub.Images) == 0 {
		d.Images.Dropped = true
	}
	return d, nil
}

// details describes a sealed attempt in the operator's language.
func (a *App) details(ctx context.Context, id string, created time.Time, p submission.Payload, images map[string][]byte, lang string) SubmissionDetails {
	w := operatorWords(lang)
	d := SubmissionDetails{ID: id, CreatedAt: created, Operator: p.Operator, DocType: p.DocType, Country: p.Country,
		Identity: []IdentityField{}, Checks: []Check{}, Reasons: []risk.ReasonCode{}}
	rep := p.Report
	if rep == nil {
		return d
	}
	d.Decision, d.Score, d.NextAction = rep.Decision, rep.Score, rep.NextAction
	for _, r := range rep.Reasons {
		d.Reasons = append(d.Reasons, r.Code)
	}
	if doc := rep.Document; doc != nil {
		d.Identity = identityFields(doc.Fields, w)
	}
	th := a.thresholds()
	if m := rep.Face.Match; m != nil {
		d.Match = Gauge{Value: &m.Score, Threshold: th.FaceMatchAccept, Pass: m.Score >= th.FaceMatchAccept}
	} else {
		d.Match.Threshold = th.FaceMatchAccept
	}
	if l := rep.Face.Liveness; l != nil {
		d.Liveness = Gauge{Value: &l.Score, Threshold: th.FaceLivenessMin, Pass: l.Score >= th.FaceLivenessMin}
	} else {
		d.Liveness.Threshold = th.FaceLivenessMin
	}
	d.Checks = checks(p, w)
	d.Do, d.Say, d.Retry = nextSteps(rep.Decision, rep.NextAction, rep.RetryStep, d.Reasons, w)
	d.Images.Document = dataURL(images[submission.ImageFront])
	d.Images.Selfie = dataURL(images[submission.ImageSelfie])
	if front := images[submission.ImageFront]; len(front) > 0 {
		portrait, err := a.cutPortrait(ctx, front)
		if err != nil {
			a.cfg.Logger.Warn("cutting the portrait for the operator", "id", id, "err", err)
		}
		d.Images.Portrait = dataURL(portrait)
	}
	return d
}

// thresholds are the risk configuration's face thresholds in use.
func (a *App) thresholds() risk.Thresholds {
	a.confMu.Lock()
	defer a.confMu.Unlock()
	if a.conf != nil {
		return a.conf.Risk.Config.Thresholds
	}
	return risk.DefaultConfig().Thresholds
}

// identityFields are the document's facts the operator confirms the person
// by, in a fixed order, each with its source.
func identityFields(f map[string]fields.Field, w words) []IdentityField {
	out := []IdentityField{}
	add := func(key string, fl fields.Field) {
		if strings.TrimSpace(fl.Value) == "" {
			return
		}
		out = append(out, IdentityField{Key: key, Label: w.get("field." + key), Value: fl.Value, Source: w.get("source." + fl.Source)})
	}
	if n, ok := f[fields.FieldName]; ok && n.Value != "" {
		add("name", n)
	} else if s, ok := f[fields.FieldSurname]; ok {
		name := s
		if g := f[fields.FieldGivenNames].Value; g != "" {
			name.Value = g + " " + s.Value
		}
		add("name", name)
	}
	if n, ok := f[fields.FieldNIK]; ok {
		add("nik", n)
	} else {
		add("document_number", f[fields.FieldDocumentNumber])
	}
	for _, k := range []string{fields.FieldBirthDate, fields.FieldSex, fields.FieldAddress, fields.FieldExpiryDate} {
		add(k, f[k])
	}
	return out
}

// checks are the verification's checks in words: the document's
// authenticity, its data's consistency, the MRZ check digits, the
// screening and the device.
func checks(p submission.Payload, w words) []Check {
	rep := p.Report
	has := func(codes ...risk.ReasonCode) bool {
		return slices.ContainsFunc(rep.Reasons, func(r risk.Reason) bool { return slices.Contains(codes, r.Code) })
	}
	check := func(key string, outcome string) Check {
		return Check{Key: key, Name: w.get("check." + key), Outcome: outcome, Text: w.get("check." + key + "." + outcome)}
	}
	var out []Check
	switch {
	case has(risk.DocTampered, risk.DocLivenessFailed, risk.DocScreenReplay, risk.DocPrintedCopy):
		out = append(out, check("authenticity", CheckFail))
	case has(risk.DocTamperSuspected, risk.DocReproductionSuspected):
		out = append(out, check("authenticity", CheckWarn))
	case has(risk.SignalMissingDocAuthenticity) || rep.Document == nil:
		out = append(out, check("authenticity", CheckNotRun))
	default:
		out = append(out, check("authenticity", CheckPass))
	}
	switch {
	case has(risk.HolderUnderage):
		// A confirmed birth date refuses; one read once sends to review.
		outcome := CheckWarn
		if rep.Document != nil && rep.Document.Age != nil && rep.Document.Age.Vouched {
			outcome = CheckFail
		}
		out = append(out, check("data", outcome))
		out[len(out)-1].Text = w.get("check.data.underage." + outcome)
	case has(risk.DocExpired):
		out = append(out, check("data", CheckFail))
		out[len(out)-1].Text = w.get("check.data.expired")
	case has(risk.DataChecksFailed):
		out = append(out, check("data", CheckWarn))
	case has(risk.SignalMissingDataChecks) || rep.Document == nil:
		out = append(out, check("data", CheckNotRun))
	default:
		out = append(out, check("data", CheckPass))
	}
	switch m := rep.Document; {
	case m == nil || m.MRZ == nil:
		out = append(out, check("mrz", CheckNotRun))
	case m.MRZ.ValidScore == 100:
		out = append(out, check("mrz", CheckPass))
	default:
		c := check("mrz", CheckFail)
		c.Text = fmt.Sprintf(c.Text, m.MRZ.ValidScore)
		out = append(out, c)
	}
	switch {
	case has(risk.WatchlistHit):
		out = append(out, check("screening", CheckFail))
	case has(risk.WatchlistPotentialMatch):
		out = append(out, check("screening", CheckWarn))
	case has(risk.ScreeningStale):
		// Screened against lists too old to trust: not a pass.
		out = append(out, check("screening", CheckWarn))
		out[len(out)-1].Text = w.get("check.screening.stale")
	case !rep.Screening.Screened:
		out = append(out, check("screening", CheckNotRun))
	default:
		out = append(out, check("screening", CheckPass))
	}
	switch {
	case has(risk.DeviceBlocked):
		out = append(out, check("device", CheckFail))
	case has(risk.DeviceWarning):
		out = append(out, check("device", CheckWarn))
	case rep.Device == nil:
		out = append(out, check("device", CheckNotRun))
	default:
		out = append(out, check("device", CheckPass))
	}
	switch p.LivenessChallenge {
	case risk.ChallengePassed:
		out = append(out, check("challenge", CheckPass))
	case risk.ChallengeFailed:
		out = append(out, check("challenge", CheckFail))
	}
	return out
}

// nextSteps says what the operator does next and what they tell the
// customer, and for a retry what to do differently at the failed capture.
func nextSteps(dec risk.Decision, next risk.NextAction, step risk.RetryStep, reasons []risk.ReasonCode, w words) (do, say, retry string) {
	switch next {
	case risk.Retry:
		do, say = w.get("do.retry"), w.get("say.retry")
		retry = w.get("retry." + string(step))
		for _, r := range reasons {
			if t, ok := w.lookup("retry.reason." + string(r)); ok {
				retry = t + " " + retry
				break
			}
		}
	case risk.Status:
		do, say = w.get("do.status"), w.get("say.status")
	default:
		switch {
		case dec == risk.Approve:
			do, say = w.get("do.approve"), w.get("say.approve")
		case len(reasons) > 0 && reasons[0] == risk.HolderUnderage:
			do, say = w.get("do.underage"), w.get("say.underage")
		default:
			do, say = w.get("do.refuse"), w.get("say.refuse")
		}
	}
	return do, say, retry
}

// cutPortrait finds the printed portrait on the captured document with the
// guidance's face detector and cuts it out with a margin, as JPEG.
func (a *App) cutPortrait(ctx context.Context, front []byte) ([]byte, error) {
	eng, err := a.engines.wait(ctx)
	if err != nil {
		return nil, err
	}
	img, err := imageio.Decode(front, imageio.DefaultMaxPixels)
	if err != nil {
		return nil, fmt.Errorf("decoding the document: %w", err)
	}
	defer img.Close()
	faces, err := eng.Guide.Detect(ctx, img)
	if err != nil {
		return nil, err
	}
	if len(faces) == 0 {
		return nil, nil
	}
	b := faces[0].Box // largest first
	cx, cy, side := b.X+b.W/2, b.Y+b.H/2, math.Max(b.W, b.H)*1.6
	r := image.Rect(int(cx-side/2), int(cy-side*0.55), int(cx+side/2), int(cy+side*0.65)).
		Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	if r.Empty() {
		return nil, nil
	}
	crop := img.Region(r)
	defer crop.Close()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, crop, []int{gocv.IMWriteJpegQuality, captureJPEGQuality})
	if err != nil {
		return nil, fmt.Errorf("encoding the portrait: %w", err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

// dataURL is a JPEG as the page shows it; "" for none.
func dataURL(jpeg []byte) string {
	if len(jpeg) == 0 {
		return ""
	}
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(jpeg)
}

// maskName keeps each word's first letter: the queue lists people without
// naming them to whoever stands at the screen.
func maskName(name string) string {
	words := strings.Fields(name)
	for i, w := range words {
		r := []rune(w)
		words[i] = string(r[0]) + strings.Repeat("*", len(r)-1)
	}
	return strings.Join(words, " ")
}

// queueSummary is what the queue shows of a submission, read once from
// its sealed payload: nothing that names the person.
type queueSummary struct {
	Name     string // masked
	DocType  string
	Decision risk.Decision
	Operator string
}

// summaryCache holds the queue summaries read so far.
type summaryCache struct {
	mu sync.Mutex
	m  map[string]queueSummary
}

// summary is submission id's queue summary, from the cache or the vault.
func (a *App) summary(ctx context.Context, v *vault.Vault, id string) (queueSummary, error) {
	c := &a.summaries
	c.mu.Lock()
	s, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := summarize(ctx, v, id)
	if err != nil {
		return s, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]queueSummary{}
	}
	c.m[id] = s
	c.mu.Unlock()
	return s, nil
}

// summarize reads a submission's queue summary from the vault.
func summarize(ctx context.Context, v *vault.Vault, id string) (queueSummary, error) {
	sub, err := v.GetSubmission(ctx, id)
	if err != nil {
		return queueSummary{}, err
	}
	var p submission.Payload
	if err := json.Unmarshal(sub.Payload, &p); err != nil {
		return queueSummary{}, fmt.Errorf("reading submission %s: %w", id, err)
	}
	s := queueSummary{DocType: p.DocType, Operator: p.Operator}
	if r := p.Report; r != nil {
		s.Decision = r.Decision
		if r.Document != nil {
			if n := identityFields(r.Document.Fields, operatorWords("en")); len(n) > 0 && n[0].Key == "name" {
				s.Name = maskName(n[0].Value)
			}
		}
	}
	return s, nil
}
