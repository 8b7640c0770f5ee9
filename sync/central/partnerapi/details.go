package partnerapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// The payload a device seals (internal/submission.Payload: the session
// context and engine/verify.Report) is read through local view structs of
// what partners get: central cannot import the engine (cgo), and the
// partner API is a public contract of its own, so it names each field it
// passes on rather than sharing the console's presentation views.

type payloadView struct {
	SessionID string      `json:"session_id"`
	Attempt   int         `json:"attempt"`
	DocType   string      `json:"doc_type"`
	Country   string      `json:"country"`
	Report    *reportView `json:"report"`
}

type reportView struct {
	Decision     string        `json:"decision"`
	Score        float64       `json:"score"`
	Reasons      []Reason      `json:"reasons"`
	NextAction   string        `json:"next_action"`
	RetryStep    string        `json:"retry_step"`
	LivenessPath string        `json:"liveness_path"`
	Document     *documentView `json:"document"`
	Face         FaceResult    `json:"face"`
	Screening    screeningView `json:"screening"`
}

type documentView struct {
	Type       string           `json:"type"`
	Country    string           `json:"country"`
	Confidence float64          `json:"confidence"`
	Fields     map[string]Field `json:"fields"`
	Expired    bool             `json:"expired"`
	MRZ        *struct {
		Format     string  `json:"format"`
		ValidScore float64 `json:"valid_score"`
		Checks     []struct {
			Name  string `json:"name"`
			Valid bool   `json:"valid"`
		} `json:"checks"`
	} `json:"mrz"`
	Mismatches []Mismatch  `json:"mismatches"`
	Forensics  *CheckGroup `json:"forensics"`
	Liveness   *CheckGroup `json:"liveness"`
}

type screeningView struct {
	Screened bool `json:"screened"`
	Hits     []struct {
		List    string  `json:"list"`
		EntryID string  `json:"entry_id"`
		Kind    string  `json:"kind"`
		Score   float64 `json:"score"`
	} `json:"hits"`
}

// Reason is a reason code with its detail.
type Reason struct {
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// Field is an extracted document field with its source (mrz, visual,
// barcode...) and confidence.
type Field struct {
	Value      string  `json:"value"`
	Source     string  `json:"source"`
	Confidence float64 `json:"confidence"`
}

// Mismatch is a field whose sources disagree.
type Mismatch struct {
	Field  string `json:"field"`
	Source string `json:"source"`
}

// CheckGroup is a group of document checks (forensics, document liveness).
type CheckGroup struct {
	Score  float64 `json:"score"`
	Attack string  `json:"attack,omitempty"`
	Checks []Check `json:"checks"`
}

// Check is one document check.
type Check struct {
	Name       string  `json:"name"`
	Score      float64 `json:"score"`
	Applicable bool    `json:"applicable"`
}

// FaceResult is the face match and selfie liveness with their thresholds.
type FaceResult struct {
	Match *struct {
		Similarity float64 `json:"similarity"`
		Score      float64 `json:"score"`
		Threshold  float64 `json:"threshold"`
		Decision   string  `json:"decision"`
	} `json:"match"`
	Liveness *struct {
		Score     float64 `json:"score"`
		Threshold float64 `json:"threshold"`
		Live      bool    `json:"live"`
	} `json:"liveness"`
	Problem string `json:"problem,omitempty"`
}

// Details is Get Submission Details' answer: the session, and its latest
// submission's result (nil while there is none).
type Details struct {
	FlowStatusView
	Result *Result `json:"result"`
}

// Result is a submission's outcome as a partner gets it.
type Result struct {
	SubmissionID string    `json:"submission_id"`
	Attempt      int       `json:"attempt"`
	ReceivedAt   time.Time `json:"received_at"`
	CompletedAt  time.Time `json:"completed_at,omitzero"`
	// Decision is the final one: the reviewer's when a reviewer decided,
	// else the engine's (approve, review, reject, escalate; resubmit).
	Decision       string   `json:"decision"`
	EngineDecision string   `json:"engine_decision"`
	Score          float64  `json:"score"`
	ReasonCodes    []string `json:"reason_codes"`
	Reasons        []Reason `json:"reasons"`
	NextAction     string   `json:"next_action,omitempty"`
	// Document is nil when the device found none or the extracted fields
	// were erased by retention (FieldsErased).
	Document     *DocumentResult `json:"document"`
	Face         *FaceResult     `json:"face"`
	Screening    *Screening      `json:"screening"`
	Review       *ReviewResult   `json:"review"`
	Attestation  Attestation     `json:"device_attestation"`
	Images       []ImageLink     `json:"images"`
	FieldsErased bool            `json:"fields_erased"`
}

// DocumentResult is the document's extracted fields and checks.
type DocumentResult struct {
	Type       string           `json:"type"`
	Country    string           `json:"country"`
	Confidence float64          `json:"confidence"`
	Expired    bool             `json:"expired"`
	Fields     map[string]Field `json:"fields"`
	Mismatches []Mismatch       `json:"mismatches"`
	Checks     DocumentChecks   `json:"checks"`
}

// DocumentChecks are the document's checks by group.
type DocumentChecks struct {
	MRZ *struct {
		Format     string  `json:"format"`
		ValidScore float64 `json:"valid_score"`
		Checks     []struct {
			Name  string `json:"name"`
			Valid bool   `json:"valid"`
		} `json:"checks"`
	} `json:"mrz"`
	Forensics *CheckGroup `json:"forensics"`
	Liveness  *CheckGroup `json:"liveness"`
}

// Screening is the sanctions and PEP screening outcome.
type Screening struct {
	Screened bool           `json:"screened"`
	Outcome  string         `json:"outcome"` // clear, hit, not_screened
	Hits     []ScreeningHit `json:"hits"`
}

// ScreeningHit is one list entry the person matched, with the reviewer's
// resolution when there is one.
type ScreeningHit struct {
	List       string  `json:"list"`
	EntryID    string  `json:"entry_id"`
	Kind       string  `json:"kind"`
	Score      float64 `json:"score"`
	Resolution string  `json:"resolution,omitempty"` // false_positive, confirmed
}

// ReviewResult is the reviewer's decision.
type ReviewResult struct {
	State     string    `json:"state"`
	Outcome   string    `json:"outcome,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
}

// Attestation is the device attestation's verdict.
type Attestation struct {
	Verdict string `json:"verdict"`
	Fresh   bool   `json:"fresh"`
}

// ImageLink is a link to one image of the submission; it works for the
// partner that got it, with its token, until ExpiresAt.
type ImageLink struct {
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Size      int64     `json:"size"`
	ExpiresAt time.Time `json:"expires_at"`
}

// submissionDetails is Get Submission Details: the seeds' headers
// x-partner-session-id, x-partner-user-id, x-partner-user-id-type; the
// user must be the session's (404 otherwise, as for an unknown session).
func (a *API) submissionDetails(w http.ResponseWriter, r *http.Request) error {
	var ve ValidationError
	hdr := func(name string) string {
		v := r.Header.Get(name)
		if v == "" {
			ve.add(name, "required", "the %s header is required", name)
		}
		return v
	}
	sid, uid, utype := hdr("x-partner-session-id"), hdr("x-partner-user-id"), hdr("x-partner-user-id-type")
	if err := ve.err(); err != nil {
		return err
	}
	f, err := a.flow(r, sid)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(f.UserID), []byte(uid)) || f.UserIDType != utype {
		return httpx.Errorf(http.StatusNotFound, "unknown_session", "no such session")
	}
	p, _ := PartnerFrom(r.Context())
	d := Details{FlowStatusView: a.statusView(f)}
	if n := len(f.Submissions); n > 0 {
		if d.Result, err = a.result(r.Context(), p.ID, f, f.Submissions[n-1], true); err != nil {
			return err
		}
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "partner read of personal data", slog.String("request_id", httpx.RequestID(r.Context())),
		slog.String("partner", p.ID), slog.String("what", "submission_details"), slog.Bool("result", d.Result != nil))
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

// result reads a submission of partnerID's session f through the sealed
// store; links adds the image links (the enterprise push sends the images
// themselves instead).
func (a *API) result(ctx context.Context, partnerID string, f central.FlowSession, ref central.SubmissionRef, links bool) (*Result, error) {
	sub, err := a.cfg.Store.Upload(ctx, ref.DeviceID, ref.Key)
	if errors.Is(err, central.ErrNotFound) {
		return nil, nil // erased
	}
	if err != nil {
		return nil, fmt.Errorf("reading the submission: %w", err)
	}
	res := &Result{SubmissionID: sub.ID, ReceivedAt: sub.ReceivedAt, CompletedAt: sub.CompletedAt,
		Attestation: Attestation{Verdict: sub.Verdict, Fresh: sub.AttestationFresh}, ReasonCodes: []string{}, Reasons: []Reason{},
		Images: []ImageLink{}, FieldsErased: !sub.FieldsErasedAt.IsZero()}
	if sub.Summary != nil {
		s := sub.Summary
		res.EngineDecision, res.Score, res.NextAction, res.Attempt = s.Decision, s.Score, s.NextAction, s.Attempt
		res.ReasonCodes = append(res.ReasonCodes, s.Reasons...)
		for _, c := range s.Reasons {
			res.Reasons = append(res.Reasons, Reason{Code: c})
		}
	}
	var pv payloadView
	if len(sub.Payload) > 0 && json.Unmarshal(sub.Payload, &pv) == nil && pv.Report != nil {
		rep := pv.Report
		res.EngineDecision, res.Score, res.NextAction = rep.Decision, rep.Score, rep.NextAction
		if pv.Attempt > 0 {
			res.Attempt = pv.Attempt
		}
		if rep.Reasons != nil {
			res.Reasons, res.ReasonCodes = rep.Reasons, []string{}
			for _, rc := range rep.Reasons {
				res.ReasonCodes = append(res.ReasonCodes, rc.Code)
			}
		}
		if d := rep.Document; d != nil {
			doc := &DocumentResult{Type: d.Type, Country: d.Country, Confidence: d.Confidence, Expired: d.Expired,
				Fields: d.Fields, Mismatches: d.Mismatches}
			if doc.Fields == nil {
				doc.Fields = map[string]Field{}
			}
			if doc.Mismatches == nil {
				doc.Mismatches = []Mismatch{}
			}
			doc.Checks.MRZ, doc.Checks.Forensics, doc.Checks.Liveness = d.MRZ, nonNilChecks(d.Forensics), nonNilChecks(d.Liveness)
			res.Document = doc
		}
		face := rep.Face
		res.Face = &face
		sc := &Screening{Screened: rep.Screening.Screened, Outcome: "not_screened", Hits: []ScreeningHit{}}
		if sc.Screened {
			sc.Outcome = "clear"
		}
		for _, h := range rep.Screening.Hits {
			sc.Hits = append(sc.Hits, ScreeningHit{List: h.List, EntryID: h.EntryID, Kind: h.Kind, Score: h.Score})
			sc.Outcome = "hit"
		}
		res.Screening = sc
	}
	res.Decision = res.EngineDecision
	c, err := a.cfg.Store.Case(ctx, ref)
	switch {
	case err == nil:
		rv := c.Review.Public() // no proposal's outcome or hit verdicts before its second reviewer
		if rv.Shared() != central.ReviewOpen {
			res.Review = &ReviewResult{State: string(rv.State), Outcome: rv.Outcome, Reason: rv.Reason, DecidedAt: rv.DecidedAt}
			if rv.State != central.ReviewDecided { // a proposal is not a decision yet
				res.Review.Outcome, res.Review.Reason = "", ""
			}
		}
		if rv.State == central.ReviewDecided && rv.Outcome != "" {
			res.Decision = rv.Outcome
		}
		if res.Screening != nil {
			for _, hr := range rv.Hits {
				if hr.Index >= 0 && hr.Index < len(res.Screening.Hits) {
					res.Screening.Hits[hr.Index].Resolution = hr.Status
				}
			}
		}
	case !errors.Is(err, central.ErrNotFound):
		return nil, fmt.Errorf("reading the review: %w", err)
	}
	if links && sub.ImagesErasedAt.IsZero() && !sub.CompletedAt.IsZero() {
		exp := a.now().Add(a.cfg.ImageLinkTTL).Truncate(time.Second)
		for _, im := range sub.Images {
			tok := a.signImage(imageClaim{Partner: partnerID, Session: f.ID, Device: ref.DeviceID, Key: ref.Key, Image: im.Name, Exp: exp.Unix()})
			res.Images = append(res.Images, ImageLink{Name: im.Name, Size: im.Size, ExpiresAt: exp,
				URL: a.base.String() + "/api/v1/images/" + tok})
		}
	}
	return res, nil
}

func nonNilChecks(g *CheckGroup) *CheckGroup {
	if g != nil && g.Checks == nil {
		g.Checks = []Check{}
	}
	return g
}

// imageClaim is what an image link grants: one image of one submission of
// one partner's session, until Exp (Unix seconds).
type imageClaim struct {
	Partner string `json:"p"`
	Session string `json:"s"`
	Device  string `json:"d"`
	Key     string `json:"k"`
	Image   string `json:"i"`
	Exp     int64  `json:"e"`
}

// signImage makes an image link's token: the claim and its HMAC-SHA256,
// base64url, joined by ".".
func (a *API) signImage(c imageClaim) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(mac(a.keys.image, string(b)))
}

// openImage checks a token's signature and returns its claim.
func (a *API) openImage(tok string) (imageClaim, bool) {
	var c imageClaim
	body, sig, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 2048 {
		return c, false
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	s, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(s, mac(a.keys.image, string(b))) {
		return c, false
	}
	return c, json.Unmarshal(b, &c) == nil
}

// image serves an image by its signed link, to the partner it was made
// for (anyone else: 404), until it expires (410 "link_expired").
func (a *API) image(w http.ResponseWriter, r *http.Request) error {
	p, _ := PartnerFrom(r.Context())
	notFound := httpx.Errorf(http.StatusNotFound, "not_found", "no such image")
	c, ok := a.openImage(r.PathValue("token"))
	if !ok || c.Partner != p.ID {
		return notFound
	}
	if a.now().Unix() >= c.Exp {
		return httpx.Errorf(http.StatusGone, "link_expired", "this image link has expired; get the submission details again for a new one")
	}
	f, err := a.cfg.Store.Flow(r.Context(), p.ID, c.Session)
	if errors.Is(err, central.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("reading the session: %w", err)
	}
	if !slices.Contains(f.Submissions, central.SubmissionRef{DeviceID: c.Device, Key: c.Key}) {
		return notFound
	}
	sub, err := a.cfg.Store.Upload(r.Context(), c.Device, c.Key)
	if errors.Is(err, central.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("reading the submission: %w", err)
	}
	im, ok := sub.Image(c.Image)
	if !ok || !sub.ImagesErasedAt.IsZero() {
		return notFound
	}
	// Streamed a chunk at a time: an image is up to 64 MiB, and partners
	// fetch a submission's images at once. The manifest's size and SHA-256
	// (checked when the image arrived) give the headers before the bytes.
	var size int64
	if im.Received == im.Size {
		size = im.Size
	}
	err = central.WriteImage(r.Context(), a.cfg.Store, w, central.SubmissionRef{DeviceID: c.Device, Key: c.Key}, c.Image, size, func(ct string) error {
		a.log.LogAttrs(r.Context(), slog.LevelInfo, "partner read of personal data", slog.String("request_id", httpx.RequestID(r.Context())),
			slog.String("partner", p.ID), slog.String("what", "image"), slog.String("image", c.Image))
		if !strings.HasPrefix(ct, "image/") {
			ct = "application/octet-stream"
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Content-Disposition", "inline")
		if size > 0 {
			h.Set("Content-Length", strconv.FormatInt(size, 10))
			if len(im.SHA256) == sha256.Size {
				h.Set("ETag", `"`+hex.EncodeToString(im.SHA256)+`"`)
			}
		}
		return nil
	})
	if errors.Is(err, central.ErrNotFound) {
		return notFound
	}
	return err
}
