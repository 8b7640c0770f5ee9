package hostedflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

func jsonUnmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}

// FrameAnswer is /flow/api/frame's answer.
type FrameAnswer struct {
	Overlay  OverlayView `json:"overlay"`
	Captured bool        `json:"captured"`
	State    State       `json:"state"`
}

// OverlayView is a guide's overlay as the page draws it.
type OverlayView struct {
	Quad     [][2]float64     `json:"quad"`
	Face     []float64        `json:"face"`
	Oval     *capture.Ellipse `json:"oval,omitempty"`
	FrameW   int              `json:"frame_w"`
	FrameH   int              `json:"frame_h"`
	Messages []MessageView    `json:"messages"`
	Ready    bool             `json:"ready"`
	Step     string           `json:"step"` // the guide's step: document, back, selfie or a challenge
}

// MessageView is one guidance message with its text in the session's
// language.
type MessageView struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// readBody reads an image body of at most limit bytes, counting it in the
// session's upload budget (MaxUploadBytes): the captures' bytes (in the
// store) and the guidance frames' this instance received. Its bytes are
// reserved before the body is read (the Content-Length, or limit), and
// what did not arrive is given back after: a budget read at the start and
// charged at the end let requests sent at once each take all that was
// left. Every byte received counts, whether or not it makes a capture.
func (f *Flow) readBody(w http.ResponseWriter, r *http.Request, s *sess, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, httpx.Errorf(http.StatusRequestEntityTooLarge, "too_large", "the image is larger than %d MB", limit>>20)
	}
	if r.ContentLength == 0 {
		return nil, httpx.Errorf(http.StatusBadRequest, "empty", "no image")
	}
	frame := limit == MaxFrameBytes
	var res int64
	var err error
	if frame {
		res = f.reserveFrame(s, r.ContentLength, limit)
	} else if res, err = f.reserveCapture(r.Context(), s, r.ContentLength, limit); err != nil {
		return nil, err
	}
	if res == 0 {
		return nil, httpx.Errorf(http.StatusRequestEntityTooLarge, "upload_budget", "this verification has received all the images it accepts")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, res))
	if back := res - int64(len(body)); back > 0 {
		if frame {
			l := s.live
			l.mu.Lock()
			l.frames -= back
			l.mu.Unlock()
		} else if gerr := f.giveBack(r.Context(), s, back); gerr != nil {
			return nil, gerr
		}
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, httpx.Errorf(http.StatusRequestEntityTooLarge, "too_large", "the image is too large")
	}
	if err != nil {
		return nil, httpx.Wrap(err, http.StatusBadRequest, "malformed", "the image did not arrive whole")
	}
	if len(body) == 0 {
		return nil, httpx.Errorf(http.StatusBadRequest, "empty", "no image")
	}
	return body, nil
}

// reservation is what a body of length n (-1: unknown) of at most limit
// bytes reserves when left remain: 0 when it does not fit.
func reservation(left, n, limit int64) int64 {
	if left <= 0 || n > left {
		return 0
	}
	if n > 0 {
		return n
	}
	return min(limit, left)
}

// reserveFrame reserves a guidance frame's bytes in this instance's count.
func (f *Flow) reserveFrame(s *sess, n, limit int64) int64 {
	l := s.live
	l.mu.Lock()
	defer l.mu.Unlock()
	res := reservation(MaxUploadBytes-l.frames-s.fs.Hosted.Uploaded, n, limit)
	l.frames += res
	return res
}

// errNoBudget: the session's upload budget cannot take the body.
var errNoBudget = errors.New("hostedflow: upload budget spent")

// reserveCapture reserves a capture's bytes in the session's count in the
// store, which every instance's captures of the session charge.
func (f *Flow) reserveCapture(ctx context.Context, s *sess, n, limit int64) (int64, error) {
	l := s.live
	var res int64
	fs, err := f.cfg.Store.UpdateFlow(ctx, s.fs.PartnerID, s.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		h := fs.Hosted
		if h == nil {
			return nil, errNoBudget
		}
		l.mu.Lock()
		frames := l.frames
		l.mu.Unlock()
		if res = reservation(MaxUploadBytes-frames-h.Uploaded, n, limit); res == 0 {
			return nil, errNoBudget
		}
		h.Uploaded += res
		return nil, nil
	})
	if errors.Is(err, errNoBudget) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reserving the upload budget: %w", err)
	}
	s.fs = fs
	return res, nil
}

// giveBack returns the part of a capture's reservation that did not
// arrive.
func (f *Flow) giveBack(ctx context.Context, s *sess, n int64) error {
	fs, err := f.cfg.Store.UpdateFlow(ctx, s.fs.PartnerID, s.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		if h := fs.Hosted; h != nil {
			h.Uploaded = max(0, h.Uploaded-n)
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("giving back the upload budget: %w", err)
	}
	s.fs = fs
	return nil
}

func (f *Flow) capturingStep(w http.ResponseWriter, r *http.Request, s *sess) (string, error) {
	if f.cfg.Engines == nil {
		return "", httpx.Errorf(http.StatusServiceUnavailable, "unavailable", "the verification service is not available")
	}
	step := r.URL.Query().Get("step")
	if err := validStep(s, step); err != nil {
		return "", err
	}
	if s.role == roleBrowser && len(s.fs.Hosted.PhoneHash) > 0 {
		return "", httpx.Errorf(http.StatusConflict, "handed_off", "the verification continues on the phone")
	}
	st := f.state(s)
	if st.Stage != stepDocument && st.Stage != stepBack && st.Stage != stepSelfie {
		return "", httpx.Errorf(http.StatusConflict, "not_capturing", "nothing to capture now")
	}
	return step, nil
}

// frame runs a guidance frame through the step's guide.
func (f *Flow) frame(w http.ResponseWriter, r *http.Request, s *sess) error {
	step, err := f.capturingStep(w, r, s)
	if err != nil {
		return err
	}
	ok, wait, err := f.frames.Allow(r.Context(), handoffID(s.fs.PartnerID, s.fs.ID))
	if err != nil {
		return err
	}
	if !ok {
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "at most 2 frames a second", RetryAfter: max(wait, time.Second)}
	}
	body, err := f.readBody(w, r, s, MaxFrameBytes)
	if err != nil {
		return err
	}
	release, err := f.frameTurn(r.Context(), s.fs.PartnerID)
	if err != nil {
		return err
	}
	defer release()
	img, err := imageio.Decode(body, frameMaxPixels)
	if err != nil {
		img.Close()
		return httpx.Wrap(err, http.StatusUnprocessableEntity, "bad_image", "the frame is not a readable image")
	}
	defer img.Close()
	l := s.live
	lang := capture.Lang(f.state(s).Lang)
	l.gmu.Lock()
	g, err := f.guideFor(l, step, s)
	if err != nil {
		l.gmu.Unlock()
		return err
	}
	l.mu.Lock()
	l.seq++
	seq := l.seq
	l.mu.Unlock()
	// The step's last frames as received, so the one the guide keeps is
	// stored as the browser sent it.
	if !l.keepFrame(step, rawFrame{seq: seq, data: body}, f.cfg.MaxFrameMemory) {
		l.gmu.Unlock()
		return errFrameMemory
	}
	ov, err := g.Analyse(r.Context(), capture.Frame{Seq: seq, Time: f.now().Sub(l.start[step]), Image: img})
	var captured []byte
	var done []challengeCapture
	// A guide is done when it captured its last, or when a challenge's
	// time ran out: the selfie is kept then with the challenges done so
	// far, which do not pass (the attempt decides, as after a manual
	// capture), rather than the guide starting again.
	var origin captureOrigin
	if err == nil && (ov.Captured != "" || g.Done()) {
		captured, done = f.keepCapture(l, step, g, ov.Captured)
		if captured != nil && step == stepSelfie {
			origin.feed = feedEvidence(l.recent[step])
		}
		if captured != nil {
			// Kept: the step's frames have served.
			l.dropRecent(step)
		}
	}
	l.gmu.Unlock()
	if err != nil {
		return fmt.Errorf("guidance: %w", err)
	}
	if captured != nil {
		// The frame's bytes were counted here (readBody); kept, they
		// count in the session's total that every instance sees.
		if err := f.storeCapture(r.Context(), s, step, captured, int64(len(captured)), done, origin); err != nil {
			return err
		}
	}
	view := OverlayView{Quad: [][2]float64{}, FrameW: img.Cols(), FrameH: img.Rows(), Messages: []MessageView{}, Oval: ov.Oval, Step: ov.Step}
	for _, p := range ov.Quad {
		view.Quad = append(view.Quad, [2]float64{p.X, p.Y})
	}
	if len(view.Quad) == 0 {
		view.Quad = nil
	}
	if ov.Face != nil {
		view.Face = []float64{ov.Face.X, ov.Face.Y, ov.Face.W, ov.Face.H}
	}
	for _, m := range []capture.Message{ov.Message, ov.Hint} {
		if m != "" {
			view.Messages = append(view.Messages, MessageView{Code: string(m), Text: m.Text(lang)})
		}
	}
	view.Ready = ov.Message == capture.Capturing || ov.Message == capture.Done
	httpx.WriteJSON(w, http.StatusOK, FrameAnswer{Overlay: view, Captured: captured != nil, State: f.state(s)})
	return nil
}

// frameWait is how long a guidance frame waits for a turn: about the
// page's interval between frames, after which the next frame is worth more.
const frameWait = time.Second

// frameTurn waits up to frameWait for one of the guides' turns (taken after
// the body is read, so a slow body holds none); beyond, the frame is
// dropped with 429 busy, which the page answers by sending a later one: live
// guidance slows under load instead of frames queueing without bound.
func (f *Flow) frameTurn(ctx context.Context, partnerID string) (release func(), err error) {
	wctx, cancel := context.WithTimeout(ctx, frameWait)
	defer cancel()
	release, err = f.guides.Acquire(wctx, partnerID)
	if err != nil && ctx.Err() == nil {
		return nil, &httpx.Error{Status: http.StatusTooManyRequests, Code: "busy", Message: "guidance is busy; send a later frame", RetryAfter: time.Second}
	}
	return release, err
}

// guideFor returns the step's guide, made on first use (l.gmu held).
func (f *Flow) guideFor(l *live, step string, s *sess) (guide, error) {
	if g, ok := l.guides[step]; ok && !g.Done() {
		return g, nil
	} else if ok {
		closeGuide(g)
		delete(l.guides, step)
	}
	var g guide
	var err error
	if step == stepSelfie {
		cfg := capture.DefaultSelfieConfig()
		if f.cfg.PromptTime > 0 {
			cfg.PromptTime = f.cfg.PromptTime
		}
		if f.cfg.ChallengeTime > 0 {
			cfg.ChallengeTime = f.cfg.ChallengeTime
		}
		for _, c := range challenges(s.cfg, s.fs.Hosted) {
			ch, perr := capture.ParseChallenge(c)
			if perr != nil {
				return nil, perr
			}
			cfg.Challenges = append(cfg.Challenges, ch)
		}
		g, err = capture.NewSelfieGuide(f.cfg.Engines.Guide, cfg)
	} else {
		cfg := capture.DefaultDocumentConfig()
		cfg.Sides = 1
		g, err = capture.NewDocumentGuide(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("guidance: %w", err)
	}
	l.guides[step], l.start[step] = g, f.now()
	return g, nil
}

// keepCapture takes the guide's captures: the bytes of the frame it
// chose wait in l.pend until the step is complete (the selfie's
// challenges done too, or its time run out), and are returned then with
// the challenges done and the frames that met them, as received; nil
// before (l.gmu held).
func (f *Flow) keepCapture(l *live, step string, g guide, _ string) ([]byte, []challengeCapture) {
	for _, c := range g.Captures() {
		var data []byte
		for _, fr := range l.recent[step] {
			if fr.seq == c.Seq {
				data = fr.data
			}
		}
		if c.Name == stepSelfie || c.Name == "front" || c.Name == "back" {
			if data != nil {
				l.setPending(step, data)
			}
		} else {
			l.addChallenge(challengeCapture{Prompt: c.Name, Image: data})
		}
		c.Image.Close()
	}
	if !g.Done() {
		return nil, nil
	}
	out := l.takePending(step)
	var done []challengeCapture
	if step == stepSelfie {
		done = l.takeChallenges()
	}
	return out, done
}

// challengeCapture is a challenge done with the selfie and the frame that
// met it, as the page sent it: the verification compares its face with
// the selfie's.
type challengeCapture struct {
	Prompt string `json:"prompt"`
	Image  []byte `json:"image"`
}

// capture is the manual button or an upload: the image as the step's
// capture, checked to decode.
func (f *Flow) capture(w http.ResponseWriter, r *http.Request, s *sess) error {
	step, err := f.capturingStep(w, r, s)
	if err != nil {
		return err
	}
	// The page's upload form says so; the manual button sends a camera
	// frame. A partner's allow_upload false is a choice of experience
	// (a person could still send any photo as a camera frame), so this
	// refuses what the page would not offer.
	origin := captureOrigin{uploaded: r.URL.Query().Get("source") == "upload"}
	if origin.uploaded && !s.cfg.AllowUpload {
		return httpx.Errorf(http.StatusForbidden, "upload_not_allowed", "this verification takes photos from the camera only")
	}
	ok, wait, err := f.captures.Allow(r.Context(), handoffID(s.fs.PartnerID, s.fs.ID))
	if err != nil {
		return err
	}
	if !ok {
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many photos at once; wait a moment", RetryAfter: max(wait, time.Second)}
	}
	body, err := f.readBody(w, r, s, MaxCaptureBytes)
	if err != nil {
		return err
	}
	release, err := f.decodes.Acquire(r.Context(), s.fs.PartnerID)
	if err != nil {
		return err
	}
	img, err := imageio.Decode(body, stepMaxPixels(step))
	img.Close()
	release()
	if errors.Is(err, imageio.ErrTooLarge) {
		return httpx.Wrap(err, http.StatusRequestEntityTooLarge, tooManyPixels,
			fmt.Sprintf("the photo has more pixels than the %d accepted", stepMaxPixels(step)))
	}
	if err != nil {
		return httpx.Wrap(err, http.StatusUnprocessableEntity, "bad_image", "the photo is not a readable image")
	}
	// A manual capture or an upload did no challenge: the selfie's are
	// those its guide completed here, if any. A manual selfie is judged by
	// the guidance frames before it: the button is a camera's.
	var done []challengeCapture
	if step == stepSelfie {
		l := s.live
		l.gmu.Lock()
		done = l.pendCh
		if !origin.uploaded {
			origin.feed = feedEvidence(l.recent[step])
		}
		l.gmu.Unlock()
	}
	// Its bytes were charged as they were read (readBody).
	if err := f.storeCapture(r.Context(), s, step, body, 0, done, origin); err != nil {
		return err
	}
	// Kept: the step's guidance frames have served.
	l := s.live
	l.gmu.Lock()
	l.dropRecent(step)
	l.gmu.Unlock()
	httpx.WriteJSON(w, http.StatusOK, struct {
		State State `json:"state"`
	}{f.state(s)})
	return nil
}

// captureOrigin is where a step's capture came from.
type captureOrigin struct {
	uploaded bool   // the page's upload form
	feed     string // a selfie's camera feed as feedEvidence judged it
}

// feedEvidence judges the camera feed behind a selfie from the step's last
// guidance frames received here (l.recent; device.FeedSuspect): "" for a
// live feed, else why it is suspect. The page sends about twelve frames
// before it offers the manual button, and the guide captures from five.
// Frames that reached another instance are not seen here, so a person
// whose requests are spread over instances is asked for the challenge
// (one more step).
func feedEvidence(frames []rawFrame) string {
	lumas := make([]*image.Gray, 0, len(frames))
	for _, fr := range frames {
		g, err := decodeLuma(fr.data)
		if err != nil {
			return fmt.Sprintf("a camera frame behind the selfie is unreadable: %v", err)
		}
		lumas = append(lumas, g)
	}
	return device.FeedSuspect(lumas)
}

// decodeLuma decodes a guidance frame (untrusted, engine/imageio) to its
// grey levels.
func decodeLuma(b []byte) (*image.Gray, error) {
	m, err := imageio.DecodeGrey(b, frameMaxPixels)
	defer m.Close()
	if err != nil {
		return nil, err
	}
	return imageio.GreyImage(m)
}

// tooManyPixels is the code of a capture or upload refused for its
// pixels (stepMaxPixels), which the page names to the person.
const tooManyPixels = "too_many_pixels"

// stepMaxPixels bounds the decoded capture of step: the selfie goes to
// the face engine whole (faceMaxPixels), the document to its pipeline.
func stepMaxPixels(step string) int {
	if step == stepSelfie {
		return faceMaxPixels
	}
	return captureMaxPixels
}

// decodeCapture decodes a stored capture of step for the engine.
func decodeCapture(b []byte, step string) (gocv.Mat, error) {
	return imageio.Decode(b, stepMaxPixels(step))
}
