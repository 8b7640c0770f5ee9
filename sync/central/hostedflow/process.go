package hostedflow

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/submission"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/webhook"
	"github.com/openkyc/kyc/sync/protocol"
)

// DeviceID names the hosted flow where a device id is asked for without a
// branch: in webhook event ids, which stay as they were. Submissions are
// stored under central.HostedDevice of the session's branch (deviceOf).
const DeviceID = "hosted"

// deviceOf is the pseudo-device fs's submissions are stored under: of the
// kiosk's branch for a kiosk's hand-off, of the partner's branch when it
// owns exactly one, else of no branch. It is derived again on each run of
// an attempt, so a run retried finds the same (unless the branches
// changed in between).
func (f *Flow) deviceOf(ctx context.Context, fs central.FlowSession) (string, error) {
	branch := ""
	switch {
	case fs.Hosted != nil && fs.Hosted.KioskDevice != "":
		d, err := f.cfg.Store.Device(ctx, fs.Hosted.KioskDevice)
		if err != nil && !errors.Is(err, central.ErrNotFound) {
			return "", fmt.Errorf("reading the kiosk: %w", err)
		}
		branch = d.Branch
	case fs.PartnerID != KioskPartner:
		p, err := f.cfg.Store.Partner(ctx, fs.PartnerID)
		if err != nil && !errors.Is(err, central.ErrNotFound) {
			return "", fmt.Errorf("reading the partner: %w", err)
		}
		if len(p.Branches) == 1 {
			branch = p.Branches[0]
		}
	}
	return central.HostedDevice(branch), nil
}

// Reason codes the session's configuration adds after the engine.
const (
	ReasonDocTypeNotAccepted = "DOC_TYPE_NOT_ACCEPTED"
	ReasonCountryNotAccepted = "COUNTRY_NOT_ACCEPTED"
	ReasonBelowThreshold     = "FACE_MATCH_BELOW_PARTNER_THRESHOLD"
	// ReasonSelfieUploaded caps at review an attempt whose selfie came
	// from the upload form (central.HostedFlow.SelfieUploaded).
	ReasonSelfieUploaded = "SELFIE_UPLOADED"
	// ReasonChallengeNotDone marks an attempt of a session that asks for
	// the head turns (liveness_type active, or after a doubt) whose
	// selfie came without them (the manual button, an upload): it cannot
	// approve, and takes the challenge as the band of doubt does.
	ReasonChallengeNotDone = "FACE_CHALLENGE_NOT_DONE"
)

// submit starts the verification of the captures (asynchronously).
func (f *Flow) submit(w http.ResponseWriter, r *http.Request, s *sess) error {
	if f.cfg.Engines == nil {
		return httpx.Errorf(http.StatusServiceUnavailable, "unavailable", "the verification service is not available")
	}
	if s.role == roleBrowser && len(s.fs.Hosted.PhoneHash) > 0 {
		return httpx.Errorf(http.StatusConflict, "handed_off", "the verification continues on the phone")
	}
	st := f.state(s)
	if st.Stage == "processing" {
		httpx.WriteJSON(w, http.StatusOK, struct {
			State State `json:"state"`
		}{st})
		return nil
	}
	if st.Stage != stepSelfie || !st.Captures.Document || !st.Captures.Selfie || (st.DocSides == 2 && !st.Captures.Back) {
		return httpx.Errorf(http.StatusConflict, "captures_missing", "capture the document and the selfie first")
	}
	if s.fs.Attempts >= s.cfg.MaxRetries {
		return httpx.Errorf(http.StatusConflict, "no_attempts_left", "no attempts left")
	}
	// The captures, and how they were taken, are read once the
	// verification has its slot (claim, loadCaptures): a queue of
	// sessions waiting for one holds no image.
	ctx := r.Context()
	var in attemptInput
	now := f.now()
	fs, err := f.cfg.Store.UpdateFlow(ctx, s.fs.PartnerID, s.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		h := fs.Hosted
		if h == nil || f.processing(ctx, *fs) || h.Stage == "result" || !h.FinishedAt.IsZero() {
			return nil, errUsed
		}
		h.Stage, h.ProcessingAt, fs.UpdatedAt = stageProcessing, now, now
		return nil, nil
	})
	if errors.Is(err, errUsed) {
		return httpx.Errorf(http.StatusConflict, "processing", "already processing")
	}
	if err != nil {
		return fmt.Errorf("starting the verification: %w", err)
	}
	s.fs = fs
	in.attempt, in.lang, in.fs, in.cfg = fs.Attempts+1, st.Lang, fs, s.cfg
	go f.process(in)
	httpx.WriteJSON(w, http.StatusOK, struct {
		State State `json:"state"`
	}{f.state(s)})
	return nil
}

type attemptInput struct {
	front, back, selfie []byte
	challenges          []string
	// challengeFrames met the challenges, compared with the selfie.
	challengeFrames []challengeCapture
	// selfieUploaded: the selfie came from the upload form.
	selfieUploaded bool
	// feedSuspect: why the camera feed behind the selfie looks like no
	// camera (feedEvidence), "" for a live feed.
	feedSuspect string
	attempt     int
	lang        string
	fs          central.FlowSession
	cfg         partnerapi.FlowConfig
}

// process verifies an attempt, stores it and updates the session; any
// failure of the machinery ends the session in ERROR (verification_failed)
// rather than leaving the page waiting.
func (f *Flow) process(in attemptInput) {
	ctx := f.background()
	err := f.verifyAndStore(ctx, in)
	if err == nil || ctx.Err() != nil {
		return
	}
	f.log.LogAttrs(ctx, slog.LevelError, "hosted flow verification failed", slog.String("session", in.fs.ID),
		slog.String("partner", in.fs.PartnerID), slog.String("cause", err.Error()))
	now := f.now()
	code := "verification_failed"
	if errors.Is(err, errReference) {
		code = ErrorReferenceImage
	}
	_, uerr := f.cfg.Store.UpdateFlow(ctx, in.fs.PartnerID, in.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		fs.Status, fs.NextAction, fs.ErrorCode, fs.UpdatedAt = central.FlowError, webhook.NextExit, code, now
		if h := fs.Hosted; h != nil {
			h.Stage, h.Message, h.MessageKey, h.Captured, h.Challenges, h.ProcessingAt = "result", "", "", nil, nil, time.Time{}
			h.Sums = nil
		}
		return endedEvent(*fs, now)
	})
	if uerr != nil {
		f.log.LogAttrs(ctx, slog.LevelError, "hosted flow: recording the failure", slog.String("cause", uerr.Error()))
	}
	f.dropSession(ctx, in.fs)
}

func (f *Flow) verifyAndStore(ctx context.Context, in attemptInput) error {
	// One partner's queue never holds every slot while another's person
	// waits: it takes at most half of them.
	release, err := f.waitForSlot(ctx, &in)
	if err != nil {
		return err
	}
	if ok, err := f.claim(ctx, &in); err != nil || !ok {
		release()
		return err
	}
	missing, err := f.loadCaptures(ctx, &in)
	if err != nil || missing != "" {
		release()
		if err != nil {
			return err
		}
		return f.recapture(ctx, in.fs, missing)
	}
	rep, err := f.verify(ctx, in)
	release()
	// Once the result is stored: the person waits for it, not for this.
	defer f.releaseIfIdle()
	if err != nil {
		return err
	}
	if err := f.admit(ctx, in.fs); errors.Is(err, errUnavailable) {
		// The owner lost access while this ran: no result, no event. The
		// captures stay and the session is as before its submit, so the
		// person submits again once the partner is enabled again.
		return f.unsubmit(ctx, in.fs)
	} else if err != nil {
		return err
	}
	f.applyConfig(rep, in)
	uploadedSelfie(rep, in)
	return f.store(ctx, in, rep)
}

// waitForSlot takes a verification slot (at most half of them for one
// partner). While it waits, the session's processing mark is renewed every
// Config.QueueHeartbeat and in.fs follows it (claim checks the mark): a
// long queue keeps showing the verification waiting, and only a mark left
// unrenewed past processingTimeout (its instance died) lets the person
// submit again.
func (f *Flow) waitForSlot(ctx context.Context, in *attemptInput) (release func(), err error) {
	beat, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(f.cfg.QueueHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-beat.Done():
				return
			case <-t.C:
				if !f.renewMark(beat, in) {
					return
				}
			}
		}
	}()
	release, err = f.slots.Acquire(ctx, in.fs.PartnerID)
	stop()
	<-done
	return release, err
}

// renewMark moves the processing mark of in's session to now while it is
// still the mark of the submit that queued in (a submit again or an end
// of the session leaves it to claim), and reports whether it did. A store
// that fails is tried again at the next beat.
func (f *Flow) renewMark(ctx context.Context, in *attemptInput) bool {
	mark := in.fs.Hosted.ProcessingAt.Truncate(time.Microsecond)
	now := f.now()
	fs, err := f.cfg.Store.UpdateFlow(ctx, in.fs.PartnerID, in.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		h := fs.Hosted
		if h == nil || h.Stage != stageProcessing || !h.ProcessingAt.Truncate(time.Microsecond).Equal(mark) {
			return nil, errUsed
		}
		h.ProcessingAt, fs.UpdatedAt = now, now
		return nil, nil
	})
	switch {
	case errors.Is(err, errUsed):
		return false
	case err != nil:
		return true
	}
	in.fs = fs
	return true
}

// claim takes the session's verification for this run once it holds a
// slot: the session is still at the submit that started it (its
// processing mark unchanged), and its mark is renewed, so the captures
// stay as they are while it runs. A mark left unrenewed past
// processingTimeout (waitForSlot renews it; a store that failed it may
// not have) shows the person the selfie step again, as for a
// verification whose instance died: they may then take a capture again
// (read here with how it was taken, not as the submit found it: an
// uploaded selfie is not taken for the camera's it replaced) or submit
// again, which marks the session anew and leaves this run nothing to do
// (false), rather than a second verification of the same attempt. A
// session that expired meanwhile (its mark lapsed) is not verified either.
func (f *Flow) claim(ctx context.Context, in *attemptInput) (bool, error) {
	mark := in.fs.Hosted.ProcessingAt.Truncate(time.Microsecond)
	now := f.now()
	fs, err := f.cfg.Store.UpdateFlow(ctx, in.fs.PartnerID, in.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		h := fs.Hosted
		if h == nil || h.Stage != stageProcessing || !h.ProcessingAt.Truncate(time.Microsecond).Equal(mark) {
			return nil, errUsed
		}
		if f.status(*fs) == central.FlowExpired {
			// It expired, its mark lapsed: the partner is told so
			// (session.expired), and a result after it would make an
			// expired session completed.
			return nil, errUsed
		}
		h.ProcessingAt, fs.UpdatedAt = now, now
		return nil, nil
	})
	if errors.Is(err, errUsed) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claiming the verification: %w", err)
	}
	h := fs.Hosted
	in.fs, in.challenges, in.selfieUploaded, in.feedSuspect = fs, slices.Clone(h.Challenges), h.SelfieUploaded, h.FeedSuspect
	return true, nil
}

// loadCaptures reads the attempt's captures as the store holds them (any
// instance may have taken them) into in, only once its verification holds
// a slot: up to three captures of 10 MB each, which sessions waiting for a
// slot (as many as the live sessions) would otherwise hold all along.
// missing names the first step whose capture the store no longer holds
// (the challenge frames count as the selfie's).
func (f *Flow) loadCaptures(ctx context.Context, in *attemptInput) (missing string, err error) {
	steps := []struct {
		name string
		dst  *[]byte
	}{{stepDocument, &in.front}, {stepBack, &in.back}, {stepSelfie, &in.selfie}}
	if docSides(in.cfg) != 2 {
		steps = slices.Delete(steps, 1, 2)
	}
	var frames []byte
	if len(in.challenges) > 0 {
		// The frames that met the challenges, stored with the selfie.
		steps = append(steps, struct {
			name string
			dst  *[]byte
		}{stepChallenge, &frames})
	}
	for _, st := range steps {
		b, err := f.loadCapture(ctx, in.fs, st.name)
		if errors.Is(err, central.ErrNotFound) {
			if st.name == stepChallenge {
				return stepSelfie, nil
			}
			return st.name, nil
		}
		if err != nil {
			return "", err
		}
		*st.dst = b
	}
	if frames != nil {
		if err := json.Unmarshal(frames, &in.challengeFrames); err != nil {
			return "", fmt.Errorf("reading the challenge frames: %w", err)
		}
	}
	return "", nil
}

// recapture ends fs's verification without a result because the store no
// longer holds the capture of step (its value expired): the session goes
// back to that step, as the submit's captures_missing did when it read
// them itself.
func (f *Flow) recapture(ctx context.Context, fs central.FlowSession, step string) error {
	_, err := f.cfg.Store.UpdateFlow(ctx, fs.PartnerID, fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		if h := fs.Hosted; h != nil && h.Stage == stageProcessing {
			h.Stage, h.ProcessingAt = step, time.Time{}
			h.Captured = slices.DeleteFunc(h.Captured, func(s string) bool { return s == step })
			if step == stepSelfie {
				h.Challenges = nil
			}
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("sending the session back to its %s: %w", step, err)
	}
	return nil
}

// unsubmit ends fs's verification without a result (state then shows
// the selfie step, its captures kept, as after an instance died verifying).
func (f *Flow) unsubmit(ctx context.Context, fs central.FlowSession) error {
	_, err := f.cfg.Store.UpdateFlow(ctx, fs.PartnerID, fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		if h := fs.Hosted; h != nil && h.Stage == stageProcessing {
			h.ProcessingAt = time.Time{}
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("ending the verification without a result: %w", err)
	}
	return nil
}

// releaseIfIdle gives the native memory the verifications freed back to the
// system (Config.ReleaseMemory) when none is running: the engines' shared
// ONNX Runtime arena keeps the peak of the verifications that ran at once,
// and glibc its freed pages, while central idles. Not while others run,
// which would fault the pages in again. One that starts meanwhile loses
// nothing (only free chunks and pages are returned), and two releases at
// once are safe: the arena shrinks under its own lock, malloc_trim takes
// glibc's.
func (f *Flow) releaseIfIdle() {
	if f.slots.Held() == 0 {
		f.cfg.ReleaseMemory()
	}
}

// verify runs the engine on the attempt's captures.
func (f *Flow) verify(ctx context.Context, in attemptInput) (*verify.Report, error) {
	// A list published since the last refresh screens this person already
	// (unchanged lists cost one metadata read).
	f.refreshScreening(ctx)
	e := f.cfg.Engines
	front, err := decodeCapture(in.front, stepDocument)
	if err != nil {
		front.Close()
		return nil, fmt.Errorf("decoding the document: %w", err)
	}
	defer front.Close()
	var back *document.Image
	if in.back != nil {
		m, err := decodeCapture(in.back, stepBack)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("decoding the back: %w", err)
		}
		defer m.Close()
		back = &document.Image{Raw: in.back, Mat: m}
	}
	selfie, err := decodeCapture(in.selfie, stepSelfie)
	if err != nil {
		selfie.Close()
		return nil, fmt.Errorf("decoding the selfie: %w", err)
	}
	defer selfie.Close()
	var ref *gocv.Mat
	if in.cfg.UseReferenceImage {
		m, err := f.referenceImage(ctx, in.fs)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		ref = &m
	}
	f.screen.mu.Lock()
	loaded := f.screen.loaded
	f.screen.mu.Unlock()
	if !loaded {
		f.refreshScreening(ctx)
	}
	rc := f.riskConfig(ctx)
	rc.MaxRetries = in.cfg.MaxRetries
	if in.cfg.MinAge != nil {
		rc.MinAge = *in.cfg.MinAge
	}
	eng := &verify.Engine{Document: e.Document, Face: e.Face, Screening: f.screening(e.Screening), Risk: rc}
	input := verify.Input{Front: document.Image{Raw: in.front, Mat: front}, Back: back, Selfie: selfie, Attempt: in.attempt,
		Lang: risk.Language(in.lang), Reference: ref, FeedSuspect: in.feedSuspect}
	// The head turns the session asks for (liveness_type active, or after
	// a doubt), when the person did them all, count from the start: the
	// challenge passed, if the frames that met the prompts show the
	// selfie's person and no screen's or print's traces (the engine
	// compares them), whatever the passive liveness says. Left out when the
	// passive liveness approves, someone else's turns would pass unseen.
	want := challenges(in.cfg, in.fs.Hosted)
	turned := len(want) > 0 && len(in.challenges) == len(want)
	if turned {
		frames, err := decodeChallengeFrames(in.challengeFrames)
		defer func() {
			for _, fr := range frames {
				fr.Image.Close()
			}
		}()
		if err != nil {
			return nil, err
		}
		input.LivenessChallenge, input.ChallengeFrames = risk.ChallengePassed, frames
	}
	rep, err := eng.Verify(ctx, input)
	if err != nil {
		return nil, fmt.Errorf("verifying: %w", err)
	}
	if len(want) > 0 && !turned && rep.Decision == risk.Approve {
		// The session asks for the turns and this selfie came without
		// them: the passive liveness alone does not approve it. From the
		// camera (the manual button) it takes the challenge, as the band
		// of doubt does below; an upload comes from someone without a
		// usable camera, who cannot turn for one, so it goes to a reviewer
		// (uploadedSelfie) with the reason beside SELFIE_UPLOADED.
		rep.Reasons = append(rep.Reasons, risk.Reason{Code: ReasonChallengeNotDone,
			Detail: "the session asks for the head turns; the selfie came without them"})
		if !in.selfieUploaded {
			rep.Decision, rep.NextAction, rep.Risk.LivenessPath = risk.Reject, risk.Challenge, risk.LivenessChallengeRequested
		}
	}
	// The passive liveness in doubt asks for an active challenge the
	// person did not do: the selfie is taken again (a RETRY) with the
	// head-turn challenge (store sets DoubtChallenge), or, with no attempt
	// left, the attempt stays a reject.
	if rep.NextAction == risk.Challenge {
		rep.NextAction, rep.RetryStep = risk.Retry, risk.RetrySelfie
		rep.UserMessage, rep.Risk.Message = userText(risk.MsgLivenessChallenge, in.lang), risk.MsgLivenessChallenge
		if in.attempt >= in.cfg.MaxRetries {
			rep.NextAction, rep.RetryStep = risk.Exit, risk.RetryNone
			rep.UserMessage, rep.Risk.Message = userText(risk.MsgNotVerified, in.lang), risk.MsgNotVerified
		}
	}
	return rep, nil
}

// decodeChallengeFrames decodes the frames that met the challenges; the
// caller closes them, those decoded before an error too.
func decodeChallengeFrames(caps []challengeCapture) ([]verify.ChallengeFrame, error) {
	out := make([]verify.ChallengeFrame, 0, len(caps))
	for _, c := range caps {
		m, err := imageio.Decode(c.Image, frameMaxPixels)
		if err != nil {
			m.Close()
			return out, fmt.Errorf("decoding the %s frame: %w", c.Prompt, err)
		}
		out = append(out, verify.ChallengeFrame{Prompt: c.Prompt, Image: m})
	}
	return out, nil
}

// ErrorReferenceImage is the error_code of a session whose partner's
// reference image could not be had (not the person's doing: no RETRY).
const ErrorReferenceImage = "reference_image_unavailable"

// errReference marks a verification that failed for want of the
// partner's reference image.
var errReference = errors.New("hostedflow: no reference image")

// referenceImage fetches and decodes the session's reference image (the
// engine's decoder: untrusted input).
func (f *Flow) referenceImage(ctx context.Context, fs central.FlowSession) (gocv.Mat, error) {
	if f.cfg.ReferenceImage == nil {
		return gocv.NewMat(), fmt.Errorf("%w: central has no reference-image client", errReference)
	}
	b, err := f.cfg.ReferenceImage(ctx, fs)
	if err != nil {
		return gocv.NewMat(), fmt.Errorf("%w: %w", errReference, err)
	}
	m, err := imageio.Decode(b, faceMaxPixels)
	if err != nil {
		m.Close()
		return gocv.NewMat(), fmt.Errorf("%w: decoding it: %w", errReference, err)
	}
	return m, nil
}

func userText(k risk.MessageKey, lang string) string {
	t, err := k.Text(risk.Language(lang))
	if err != nil {
		return string(k)
	}
	return t
}

// applyConfig applies the session's accepted documents and countries and
// its face-match threshold to an approve (see the package doc).
func (f *Flow) applyConfig(rep *verify.Report, in attemptInput) {
	if rep.Decision != risk.Approve {
		return
	}
	var codes []string
	if d := rep.Document; d != nil {
		if t := string(d.Type); t != "" && t != "unknown" && len(in.cfg.AcceptedDocuments) > 0 && !acceptsDoc(in.cfg.AcceptedDocuments, t) {
			codes = append(codes, ReasonDocTypeNotAccepted)
		}
		if c := d.Country; c != "" && len(in.cfg.AcceptedCountries) > 0 && !acceptsCountry(in.cfg.AcceptedCountries, c) {
			codes = append(codes, ReasonCountryNotAccepted)
		}
	}
	if th := in.cfg.FaceMatchThreshold; th != nil && rep.Face.Match != nil && rep.Face.Match.Score < *th {
		codes = append(codes, ReasonBelowThreshold)
	}
	if len(codes) == 0 {
		return
	}
	rep.Decision = risk.Reject
	for _, c := range codes {
		rep.Reasons = append(rep.Reasons, risk.Reason{Code: risk.ReasonCode(c), Detail: "the partner's session configuration"})
	}
	rep.NextAction, rep.RetryStep, rep.UserMessage, rep.Risk.Message = risk.Exit, risk.RetryNone, userText(risk.MsgNotVerified, in.lang), risk.MsgNotVerified
	if in.attempt < in.cfg.MaxRetries {
		rep.NextAction, rep.RetryStep = risk.Retry, risk.RetryAll
		if !slices.Contains(codes, ReasonBelowThreshold) {
			rep.RetryStep, rep.UserMessage, rep.Risk.Message = risk.RetryNewDocument, userText(risk.MsgOtherDocument, in.lang), risk.MsgOtherDocument
		}
	}
}

// uploadedSelfie sends to review an approve whose selfie was uploaded: a
// file picked from the phone may be any photo of the person (taken from
// their social media, or shown to them), and the passive liveness judges
// how a picture looks, not where it came from. The camera's capture has
// the guide's frames behind it and, in doubt, the head turns; an upload
// has neither, so a reviewer decides. A reject stays a reject.
func uploadedSelfie(rep *verify.Report, in attemptInput) {
	if !in.selfieUploaded || rep.Decision != risk.Approve {
		return
	}
	rep.Decision = risk.Review
	rep.Reasons = append(rep.Reasons, risk.Reason{Code: ReasonSelfieUploaded,
		Detail: "the selfie was uploaded, not taken with the camera: its liveness is for a reviewer to judge"})
	rep.NextAction, rep.RetryStep, rep.UserMessage, rep.Risk.Message = risk.Status, risk.RetryNone, userText(risk.MsgInReview, in.lang), risk.MsgInReview
}

func acceptsDoc(list []string, t string) bool {
	if slices.Contains(list, t) {
		return true
	}
	// A KTP is Indonesia's national ID card.
	return t == "ktp" && slices.Contains(list, "id_card") || t == "id_card" && slices.Contains(list, "ktp")
}

func acceptsCountry(list []string, c string) bool {
	got, ok := partnerapi.CountryAlpha3(c)
	if !ok {
		return false
	}
	for _, a := range list {
		if w, ok := partnerapi.CountryAlpha3(a); ok && w == got {
			return true
		}
	}
	return false
}

// store records the attempt as a central submission and the result in
// the session, with submission.completed in the same transaction.
func (f *Flow) store(ctx context.Context, in attemptInput, rep *verify.Report) error {
	now := f.now()
	meta := submission.Meta{Session: in.fs.ID, Attempt: in.attempt, Operator: "hosted flow"}
	if len(in.challenges) > 0 {
		meta.Challenges = in.challenges
	}
	payload, err := json.Marshal(submission.Payload{Meta: meta, App: "kyc-central hosted flow", Report: rep})
	if err != nil {
		return fmt.Errorf("encoding the payload: %w", err)
	}
	device, err := f.deviceOf(ctx, in.fs)
	if err != nil {
		return err
	}
	id, cause, err := f.attemptID(ctx, in.fs, in.attempt, device)
	if err != nil {
		return err
	}
	// An erasure that scrubbed the session while this ran (its first
	// attempt's, or everything about the person) wins: the person's
	// document and face are not stored after it, the erased session gets
	// no result and the partner no decision (its browser lost its binding
	// with the erasure, so nobody waits for one). Checked here and again
	// in the result's transaction.
	if cur, err := f.cfg.Store.Flow(ctx, in.fs.PartnerID, in.fs.ID); err != nil {
		return fmt.Errorf("reading the session before storing its attempt: %w", err)
	} else if !cur.ErasedAt.IsZero() {
		f.deleteCaptures(ctx, in.fs, stepDocument, stepBack, stepSelfie, stepChallenge)
		return nil
	}
	key := protocol.SubmissionKey(id)
	images := []struct {
		name string
		data []byte
	}{{submission.ImageFront, in.front}, {submission.ImageBack, in.back}, {submission.ImageSelfie, in.selfie}}
	sum := sha256.Sum256(payload)
	summary := central.Summarize(payload)
	sub := central.Submission{DeviceID: device, Key: key, ID: id, ManifestHash: sum[:], CreatedAt: now, ReceivedAt: now,
		Verdict: "hosted", Payload: payload, Summary: &summary}
	for _, im := range images {
		if len(im.data) == 0 {
			continue
		}
		h := sha256.Sum256(im.data)
		sub.Images = append(sub.Images, central.ImageProgress{ImageMeta: protocol.ImageMeta{Name: im.name, Size: int64(len(im.data)), SHA256: h[:]}})
	}
	if _, _, err := f.cfg.Store.BeginSubmission(ctx, sub); err != nil && !errors.Is(err, central.ErrConflict) {
		return fmt.Errorf("storing the submission: %w", err)
	}
	for _, im := range images {
		if len(im.data) == 0 {
			continue
		}
		if _, err := f.cfg.Store.AppendChunk(ctx, central.Chunk{DeviceID: device, Key: key, Image: im.name, Data: im.data, At: now}); err != nil && !errors.Is(err, central.ErrOffset) {
			return fmt.Errorf("storing the image %s: %w", im.name, err)
		}
	}
	ref := central.SubmissionRef{DeviceID: device, Key: key}
	retry := rep.NextAction == risk.Retry
	_, err = f.cfg.Store.UpdateFlow(ctx, in.fs.PartnerID, in.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		if !fs.ErasedAt.IsZero() {
			return nil, errErasedMeanwhile
		}
		if fs.Status == central.FlowExpired {
			// Expired while a verification ran past processingTimeout
			// (its instance taken for dead): the partner was told
			// session.expired, and a result after it would contradict it.
			// The submission stays for the console.
			return nil, errUsed
		}
		if !slices.Contains(fs.Submissions, ref) {
			fs.Submissions = append(fs.Submissions, ref)
		}
		fs.Attempts = max(fs.Attempts, in.attempt)
		fs.NextAction, fs.ErrorCode, fs.UpdatedAt = string(rep.NextAction), "", now
		fs.Status = central.FlowCompleted
		if retry {
			fs.Status = central.FlowInProgress
		}
		if fs.Hosted == nil {
			fs.Hosted = &central.HostedFlow{}
		}
		h := fs.Hosted
		h.Stage, h.Decision, h.RetryStep, h.Message, h.MessageKey = "result", string(rep.Decision), string(rep.RetryStep), rep.UserMessage, string(rep.Risk.Message)
		// The captures a retry takes again are forgotten; the others stay
		// for the next attempt. A final result frees everything.
		h.ProcessingAt = time.Time{}
		if retry && rep.RetryStep == risk.RetrySelfie {
			h.Captured = slices.DeleteFunc(h.Captured, func(s string) bool { return s == stepSelfie })
			delete(h.Sums, stepSelfie)
			delete(h.Sums, stepChallenge)
		} else {
			h.Captured, h.Sums = nil, nil
		}
		h.Challenges = nil
		if rep.Risk.LivenessPath == risk.LivenessChallengeRequested {
			h.DoubtChallenge = true
		}
		if fs.PartnerID == KioskPartner {
			return nil, nil // no partner to tell: the kiosk follows the session
		}
		d := webhook.FlowData(*fs)
		d.Decision, d.Score, d.ReasonCodes, d.Attempt = summary.Decision, &summary.Score, summary.Reasons, in.attempt
		ev, err := webhook.NewEvent(central.EventSubmissionCompleted, fs.PartnerID, fs.ID, d, now,
			webhook.EventID(central.EventSubmissionCompleted, DeviceID, fs.PartnerID, fs.ID, cause))
		return []central.WebhookEvent{ev}, err
	})
	if errors.Is(err, errErasedMeanwhile) {
		// Erased after the check above: the submission just stored goes
		// too (its data key with it).
		if err := f.cfg.Store.DeleteSubmission(ctx, device, key); err != nil && !errors.Is(err, central.ErrNotFound) {
			return fmt.Errorf("deleting the attempt of a session erased meanwhile: %w", err)
		}
		err = errUsed
	}
	if errors.Is(err, errUsed) {
		f.deleteCaptures(ctx, in.fs, stepDocument, stepBack, stepSelfie, stepChallenge)
		return nil
	}
	if err != nil {
		return fmt.Errorf("recording the result: %w", err)
	}
	if retry && rep.RetryStep == risk.RetrySelfie {
		f.deleteCaptures(ctx, in.fs, stepSelfie, stepChallenge)
		f.resetGuides(in.fs, stepSelfie)
	} else {
		f.deleteCaptures(ctx, in.fs, stepDocument, stepBack, stepSelfie, stepChallenge)
		f.resetGuides(in.fs, stepDocument, stepBack, stepSelfie)
	}
	return nil
}

// submissionID is the central submission id of a session's attempt.
func submissionID(partnerID, sessionID string, attempt int) string {
	return fmt.Sprintf("%s:%s-%d", partnerID, sessionID, attempt)
}

// retry takes a RETRY: back to the step that failed.
func (f *Flow) retry(w http.ResponseWriter, r *http.Request, s *sess) error {
	st := f.state(s)
	if st.Stage != "result" || st.NextAction != string(risk.Retry) {
		return httpx.Errorf(http.StatusConflict, "no_retry", "there is no attempt to take again")
	}
	step := stepDocument
	if st.RetryStep == string(risk.RetrySelfie) {
		step = stepSelfie
	}
	now := f.now()
	fs, err := f.cfg.Store.UpdateFlow(r.Context(), s.fs.PartnerID, s.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		if fs.Hosted == nil || fs.Hosted.Stage != "result" || fs.NextAction != string(risk.Retry) {
			return nil, errUsed
		}
		fs.Hosted.Stage, fs.Hosted.Message, fs.Hosted.MessageKey, fs.UpdatedAt = step, "", "", now
		fs.Status = central.FlowInProgress
		return nil, nil
	})
	if errors.Is(err, errUsed) {
		return httpx.Errorf(http.StatusConflict, "no_retry", "there is no attempt to take again")
	}
	if err != nil {
		return fmt.Errorf("recording the retry: %w", err)
	}
	s.fs = fs
	httpx.WriteJSON(w, http.StatusOK, struct {
		State State `json:"state"`
	}{f.state(s)})
	return nil
}

// riskConfig is central's published risk configuration, else the
// defaults.
func (f *Flow) riskConfig(ctx context.Context) risk.Config {
	doc, v, err := f.cfg.Store.Risk(ctx)
	if err != nil || v == 0 || len(doc) == 0 {
		return risk.DefaultConfig()
	}
	c, err := risk.ParseConfig(doc)
	if err != nil {
		f.log.LogAttrs(ctx, slog.LevelWarn, "hosted flow: central's risk configuration is invalid; the defaults decide", slog.String("cause", err.Error()))
		return risk.DefaultConfig()
	}
	return c
}

// screenCache holds the index of central's published watchlists.
type screenCache struct {
	mu     sync.Mutex
	idx    *screening.Index
	sig    string // names and versions it was built from
	loaded bool   // read once at least
}

func (f *Flow) screening(fallback *screening.Index) *screening.Index {
	f.screen.mu.Lock()
	defer f.screen.mu.Unlock()
	if f.screen.idx != nil {
		return f.screen.idx
	}
	return fallback
}

// refreshScreening rebuilds the index when central's watchlists changed:
// the engine/screening store files (*.list.json.gz) among them, loaded
// through a private folder as a device's sync installs them.
func (f *Flow) refreshScreening(ctx context.Context) {
	lists, err := f.cfg.Store.Watchlists(ctx)
	if err != nil {
		f.log.LogAttrs(ctx, slog.LevelWarn, "hosted flow: listing watchlists", slog.String("cause", err.Error()))
		return
	}
	var sig strings.Builder
	var names []string
	for _, w := range lists {
		if strings.HasSuffix(w.Name, ".list.json.gz") {
			names = append(names, w.Name)
			fmt.Fprintf(&sig, "%s@%d;", w.Name, w.Version)
		}
	}
	f.screen.mu.Lock()
	same := f.screen.loaded && sig.String() == f.screen.sig
	f.screen.mu.Unlock()
	if same {
		return
	}
	var idx *screening.Index
	if len(names) > 0 {
		dir, err := os.MkdirTemp("", "kyc-hosted-watchlists-")
		if err != nil {
			f.log.LogAttrs(ctx, slog.LevelWarn, "hosted flow: watchlists", slog.String("cause", err.Error()))
			return
		}
		defer os.RemoveAll(dir)
		for _, n := range names {
			_, b, err := f.cfg.Store.Watchlist(ctx, n)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, filepath.Base(n)), b, 0o600)
			}
			if err != nil {
				f.log.LogAttrs(ctx, slog.LevelWarn, "hosted flow: reading a watchlist", slog.String("list", n), slog.String("cause", err.Error()))
				return
			}
		}
		st, err := screening.OpenStore(dir)
		var ls []*screening.List
		if err == nil {
			ls, err = st.LoadAll(ctx)
		}
		if err != nil {
			f.log.LogAttrs(ctx, slog.LevelWarn, "hosted flow: loading watchlists", slog.String("cause", err.Error()))
			return
		}
		if len(ls) > 0 {
			idx = screening.NewIndex(ls...)
		}
	}
	f.screen.mu.Lock()
	f.screen.idx, f.screen.sig, f.screen.loaded = idx, sig.String(), true
	f.screen.mu.Unlock()
	f.log.LogAttrs(ctx, slog.LevelInfo, "hosted flow: watchlists loaded", slog.Int("lists", len(names)))
}

// endedEvent is session.ended for a session that just ended in ERROR, so
// that a partner following webhooks learns it ended (none for a kiosk's
// own sessions: no partner to tell). A session ends once: its id is the
// session's, with its creation, as a session id may name another session
// once retention removed the first (attemptID).
func endedEvent(fs central.FlowSession, now time.Time) ([]central.WebhookEvent, error) {
	if fs.PartnerID == KioskPartner {
		return nil, nil
	}
	ev, err := webhook.NewEvent(central.EventSessionEnded, fs.PartnerID, fs.ID, webhook.FlowData(fs), now,
		webhook.EventID(central.EventSessionEnded, fs.PartnerID, fs.ID, fs.CreatedAt.UTC().Format(time.RFC3339Nano)))
	return []central.WebhookEvent{ev}, err
}
