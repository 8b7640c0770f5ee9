package partnerapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/shares"
	"github.com/openkyc/kyc/sync/protocol"
)

// The Face Match API (seed 001): POST /api/v1/face-match compares a selfie
// with a reference image, backend to backend. The request is multipart
// (files selfie and reference, field skip_liveness) or JSON
// ({selfie_base64, reference_base64, skip_liveness}; base64 in either
// alphabet, padded or not, or a data URL: decodeBase64Image); each image is at most
// MaxFaceMatchImage bytes (413 too_large naming it beyond). An unusable
// image is a 422 whose code is the FaceMatchError's (no_face,
// multiple_faces, not_an_image, truncated_image, too_large) and whose
// errors name the image. An Idempotency-Key replays the stored answer of
// the same request. Each partner has a token bucket (429 with
// Retry-After); without a FaceMatcher (models not installed) the API
// answers 503 face_match_unavailable. A body that does not arrive within
// Config.FaceMatchBodyTime of the request's turn at the engine is 408
// timeout.

// RateLimit is a token bucket refilled at PerSecond, holding Burst.
type RateLimit struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
}

// FaceMatchLimit is a partner's Face Match rate.
type FaceMatchLimit = RateLimit

// DefaultFaceMatchLimit is a partner's rate unless its configuration
// (Partner.Config "face_match_limit") says otherwise: half of what the
// 2-core reference machine sustains (about 40 matches a second,
// BenchmarkFaceMatchAPI), so no one partner takes all of it, with a burst
// of two seconds' worth.
var DefaultFaceMatchLimit = FaceMatchLimit{PerSecond: 20, Burst: 40}

// DefaultFaceMatchWait bounds how long a request waits for a turn at the
// engine before 503 face_match_busy (Config.FaceMatchWait).
const DefaultFaceMatchWait = 30 * time.Second

// DefaultFaceMatchBodyTime bounds how long a request's whole body may take
// to arrive once it has its turn (Config.FaceMatchBodyTime), else 408
// timeout. Face Match is called by partners' backends, servers on good
// links, where two 10 MB images take seconds: a body that dribbles must
// not hold a turn the engine's other callers wait for.
const DefaultFaceMatchBodyTime = 30 * time.Second

// Face Match requests take a turn (Config.FaceMatchTurns) after the
// partner's rate and before reading their body and before the store's
// transaction of an Idempotency-Key. Before the body: a request waiting
// holds its connection only, where read first each of a partner's burst
// held up to faceMatchMaxBody in memory while it queued. Before the
// transaction, which holds one of central's few store connections: queued
// at the engine inside those transactions instead, one partner's burst
// would hold every connection of the pool and stall the rest of central.
// A partner holds at most its share of the turns at once (by default
// half, at least one), so another partner always finds one: one
// partner's slow uploads or burst cannot block Face Match for everyone.

// faceMatchMaxBody bounds the whole request: two images as base64, with
// room for MIME line breaks (a CRLF every 76 characters, escaped in JSON
// as 4 bytes: decodeBase64Image accepts them), and some room for the rest
// (multipart headers, JSON).
var faceMatchMaxBody = int64(2*base64.StdEncoding.EncodedLen(MaxFaceMatchImage)*80/76 + 64<<10)

// routeFaceMatch registers the Face Match API.
func (a *API) routeFaceMatch(r Router) {
	h := &faceMatchHandler{a: a, turns: shares.New(a.cfg.FaceMatchTurns, a.cfg.FaceMatchShare), kept: faceMatchKept{key: a.keys.faceMatch}}
	r.Partner("POST /api/v1/face-match", h.serve)
}

type faceMatchHandler struct {
	a *API
	// turns are Config.FaceMatchTurns, of which a partner holds at most
	// Config.FaceMatchShare at once.
	turns *shares.Pool
	// kept derives what is stored of an answer (facematch_kept.go).
	kept faceMatchKept
}

// turn waits, for up to Config.FaceMatchWait, for a turn within the
// partner's share; the caller calls release when its request is done.
func (h *faceMatchHandler) turn(ctx context.Context, partnerID string) (release func(), err error) {
	ctx, cancel := context.WithTimeoutCause(ctx, h.a.cfg.FaceMatchWait, errFaceMatchBusy)
	defer cancel()
	release, err = h.turns.Acquire(ctx, partnerID)
	if errors.Is(err, errFaceMatchBusy) {
		return nil, errBusy(err)
	}
	return release, err
}

// errBusy is the 503 of a request that got no turn at the engine in time.
func errBusy(cause error) error {
	return &httpx.Error{Status: http.StatusServiceUnavailable, Code: "face_match_busy",
		Message: "the Face Match engine is busy; retry shortly", RetryAfter: time.Second, Cause: cause}
}

func (h *faceMatchHandler) serve(w http.ResponseWriter, r *http.Request) error {
	a := h.a
	p, ok := PartnerFrom(r.Context())
	if !ok {
		return errors.New("face match: no authenticated partner")
	}
	if a.cfg.FaceMatcher == nil {
		httpx.CutOff(w)
		return httpx.Errorf(http.StatusServiceUnavailable, "face_match_unavailable",
			"the Face Match API is not available on this server (its models are not installed)")
	}
	wait, ok, err := h.allow(r.Context(), p)
	if err != nil {
		return err
	}
	if !ok {
		httpx.CutOff(w)
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: "too many Face Match requests; retry after the time in Retry-After", RetryAfter: wait}
	}
	key, err := idempotencyKey(r)
	if err != nil {
		httpx.CutOff(w)
		return err
	}
	release, err := h.turn(r.Context(), p.ID)
	if err != nil {
		httpx.CutOff(w)
		return err
	}
	defer release()
	// The whole body within FaceMatchBodyTime of the turn, whatever its
	// size: a turn is not held for a slow link.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(a.cfg.FaceMatchBodyTime))
	req, err := readFaceMatchRequest(w, r)
	if we, ok := errors.AsType[*writtenError](err); ok {
		httpx.WriteJSON(w, we.status, we.body)
		return nil
	}
	if err != nil {
		return err
	}
	run := func() (int, []byte, error) { return h.match(r, req) }
	if key == "" {
		status, body, err := run()
		if err != nil {
			return err
		}
		writeBody(w, status, body)
		return nil
	}
	// Stored so that only this request reads it again (facematch_kept.go):
	// it names no one an erasure could find it by.
	stored := h.kept.storeKey(key)
	requestHash, answerKey := h.kept.digests(req)
	sealedRun := func() (int, []byte, error) {
		status, body, err := run()
		if err != nil {
			return 0, nil, err
		}
		sealed, err := sealAnswer(answerKey, answerAAD(p.ID, stored, status), body)
		return status, sealed, err
	}
	status, sealed, replayed, err := a.cfg.Store.Idempotent(r.Context(), p.ID, stored, requestHash, a.now(), sealedRun)
	if err != nil {
		return err
	}
	body, err := openAnswer(answerKey, answerAAD(p.ID, stored, status), sealed)
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeBody(w, status, body)
	return nil
}

// match runs the comparison: 200 with the result or 422 with the image's
// error, both answers worth storing for an Idempotency-Key; anything else
// (busy, engine failure) is returned as an error, not stored.
func (h *faceMatchHandler) match(r *http.Request, req FaceMatchRequest) (int, []byte, error) {
	ctx, cancel := context.WithTimeoutCause(r.Context(), h.a.cfg.FaceMatchWait, errFaceMatchBusy)
	defer cancel()
	res, err := h.a.cfg.FaceMatcher.Match(ctx, req)
	if fe, ok := errors.AsType[*FaceMatchError](err); ok {
		status, body := faceMatchErrorBody(r, fe)
		b, err := json.Marshal(body)
		return status, b, err
	}
	if errors.Is(err, errFaceMatchBusy) && r.Context().Err() == nil {
		return 0, nil, errBusy(err)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("face match: %w", err)
	}
	b, err := json.Marshal(res)
	return http.StatusOK, b, err
}

var errFaceMatchBusy = errors.New("face match: no turn at the engine in time")

// allow spends one of the partner's Face Match units; a rate the admin
// changed applies from the next request.
func (h *faceMatchHandler) allow(ctx context.Context, p central.Partner) (time.Duration, bool, error) {
	return h.a.spendRate(ctx, "face-match:"+p.ID, partnerFaceMatchLimit(p))
}

// partnerFaceMatchLimit is the partner's configured rate (its Config's
// "face_match_limit"), else DefaultFaceMatchLimit.
func partnerFaceMatchLimit(p central.Partner) FaceMatchLimit {
	var c struct {
		Limit *FaceMatchLimit `json:"face_match_limit"`
	}
	if len(p.Config) == 0 || json.Unmarshal(p.Config, &c) != nil || c.Limit == nil ||
		!(c.Limit.PerSecond > 0) || math.IsInf(c.Limit.PerSecond, 0) || c.Limit.Burst < 1 {
		return DefaultFaceMatchLimit
	}
	return *c.Limit
}

// faceMatchErrorResponse is a 422 (or 413) about one image: the
// FaceMatchError's code, and the image named in errors.
type faceMatchErrorResponse struct {
	protocol.Error
	Errors []FieldError `json:"errors"`
}

func faceMatchErrorBody(r *http.Request, fe *FaceMatchError) (int, faceMatchErrorResponse) {
	code, msg, _ := strings.Cut(fe.Err.Error(), ": ")
	if msg == "" {
		code, msg = "invalid_image", fe.Err.Error()
	}
	status := http.StatusUnprocessableEntity
	if errors.Is(fe.Err, ErrTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	return status, faceMatchErrorResponse{
		Error:  protocol.Error{Code: code, Message: fe.Image + ": " + msg, RequestID: httpx.RequestID(r.Context())},
		Errors: []FieldError{{Field: fe.Image, Code: code, Message: msg}},
	}
}

// faceMatchTooLarge is the 413 of an image over MaxFaceMatchImage, naming
// it, written before the engine is involved.
type faceMatchTooLarge struct{ field string }

func (e *faceMatchTooLarge) Error() string { return e.field + ": image over the limit" }

// readFaceMatchRequest reads a multipart or JSON request. An image over
// MaxFaceMatchImage is answered 413 naming it; a body over both images'
// worth 413 too_large.
// A body that does not arrive by the read deadline is 408 timeout, as
// httpx answers it elsewhere, whichever parse step it broke.
func readFaceMatchRequest(w http.ResponseWriter, r *http.Request) (FaceMatchRequest, error) {
	body := &deadlineBody{ReadCloser: r.Body}
	r.Body = body
	req, err := readFaceMatchBody(w, r)
	if body.err != nil {
		httpx.CutOff(w)
		return req, httpx.Wrap(body.err, http.StatusRequestTimeout, "timeout", "request body arrived too slowly")
	}
	return req, err
}

// deadlineBody notes a read that failed at the connection's read deadline.
type deadlineBody struct {
	io.ReadCloser
	err error
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		b.err = err
	}
	return n, err
}

func readFaceMatchBody(w http.ResponseWriter, r *http.Request) (FaceMatchRequest, error) {
	r.Body = http.MaxBytesReader(w, r.Body, faceMatchMaxBody)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	var req FaceMatchRequest
	switch mt {
	case "multipart/form-data":
		req, err = readFaceMatchMultipart(r)
	case "application/json", "":
		req, err = readFaceMatchJSON(r)
	default:
		httpx.CutOff(w)
		return req, httpx.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send multipart/form-data (selfie, reference, skip_liveness) or application/json (selfie_base64, reference_base64, skip_liveness)")
	}
	if tl, ok := errors.AsType[*faceMatchTooLarge](err); ok {
		httpx.CutOff(w)
		status, body := faceMatchErrorBody(r, &FaceMatchError{Image: tl.field, Err: ErrTooLarge})
		body.Message = fmt.Sprintf("%s: the image is larger than %d MB", tl.field, MaxFaceMatchImage>>20)
		body.Errors[0].Message = fmt.Sprintf("larger than %d MB", MaxFaceMatchImage>>20)
		return req, &writtenError{status: status, body: body}
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		httpx.CutOff(w)
		return req, httpx.Wrap(err, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the request is larger than two %d MB images", MaxFaceMatchImage>>20))
	}
	if err != nil {
		return req, err
	}
	var ve ValidationError
	if len(req.Selfie) == 0 {
		ve.add("selfie", "required", "the selfie image is required")
	}
	if len(req.Reference) == 0 {
		ve.add("reference", "required", "the reference image is required")
	}
	return req, ve.err()
}

func readFaceMatchMultipart(r *http.Request) (FaceMatchRequest, error) {
	var req FaceMatchRequest
	mr, err := r.MultipartReader()
	if err != nil {
		return req, httpx.Wrap(err, http.StatusBadRequest, "malformed", "the body is not multipart/form-data")
	}
	malformed := func(err error) error {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return httpx.Wrap(err, http.StatusBadRequest, "malformed", "the multipart body is malformed")
	}
	var ve ValidationError
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return req, malformed(err)
		}
		name := part.FormName()
		if seen[name] && (name == "selfie" || name == "reference" || name == "skip_liveness") {
			// As a JSON member named twice: which part wins is the parser's choice.
			ve.add(name, "duplicate_field", "%s is given more than once", name)
			name = "" // skipped below
		}
		seen[name] = true
		switch name {
		case "selfie", "reference":
			b, err := io.ReadAll(io.LimitReader(part, MaxFaceMatchImage+1))
			if err != nil {
				return req, malformed(err)
			}
			if len(b) > MaxFaceMatchImage {
				return req, &faceMatchTooLarge{field: name}
			}
			if name == "selfie" {
				req.Selfie = b
			} else {
				req.Reference = b
			}
		case "skip_liveness":
			b, err := io.ReadAll(io.LimitReader(part, 16))
			if err != nil {
				return req, malformed(err)
			}
			if req.SkipLiveness, err = strconv.ParseBool(strings.TrimSpace(string(b))); err != nil {
				ve.add("skip_liveness", "invalid", "skip_liveness is true or false")
			}
		default: // unknown parts are skipped, within the body's limit
			if _, err := io.Copy(io.Discard, part); err != nil {
				return req, malformed(err)
			}
		}
		part.Close()
	}
	return req, ve.err()
}

func readFaceMatchJSON(r *http.Request) (FaceMatchRequest, error) {
	var req FaceMatchRequest
	dec := json.NewDecoder(r.Body)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return req, malformedJSON(err)
	}
	var ve ValidationError
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return req, malformedJSON(err)
		}
		name, _ := t.(string)
		if seen[name] {
			// As decodeObject: which duplicate wins is the parser's choice.
			ve.add(name, "duplicate_field", "%s is given more than once", name)
			if err := skipValue(dec); err != nil {
				return req, err
			}
			continue
		}
		seen[name] = true
		switch name {
		case "selfie_base64", "reference_base64":
			field := strings.TrimSuffix(name, "_base64")
			var s string
			if err := dec.Decode(&s); err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					return req, &faceMatchTooLarge{field: field} // the image being read overflowed
				}
				ve.add(name, "invalid", "%s is a base64 string", name)
				continue
			}
			b, err := decodeBase64Image(s)
			switch {
			case errors.Is(err, errTooLarge):
				return req, &faceMatchTooLarge{field: field}
			case errors.Is(err, errMixedBase64):
				ve.add(name, "invalid_base64", "%s %v", name, err)
			case err != nil:
				ve.add(name, "invalid_base64", "%s is not base64", name)
			case field == "selfie":
				req.Selfie = b
			default:
				req.Reference = b
			}
		case "skip_liveness":
			if err := dec.Decode(&req.SkipLiveness); err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					return req, err
				}
				ve.add(name, "invalid", "skip_liveness is true or false")
			}
		default:
			// As Initiate Flow's: the document allows no other member.
			ve.add(name, "unknown_field", "unknown field %s", name)
			if err := skipValue(dec); err != nil {
				return req, err
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return req, malformedJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, malformedJSON(err)
	}
	if ve.err() != nil {
		return req, &ve
	}
	return req, nil
}

// skipValue reads past the next JSON value.
func skipValue(dec *json.Decoder) error {
	var skip json.RawMessage
	if err := dec.Decode(&skip); err != nil {
		return malformedJSON(err)
	}
	return nil
}

var errTooLarge = errors.New("too large")

// errMixedBase64 is an image's base64 written in both alphabets.
var errMixedBase64 = errors.New("mixes the standard and URL-safe base64 alphabets")

// decodeBase64Image decodes base64 in either alphabet of RFC 4648, the
// standard one ('+', '/') or the URL-safe one ('-', '_': what web
// clients, JWT libraries and Python's urlsafe_b64encode write), one per
// image, padded or not, optionally a data URL ("data:image/jpeg;base64,...",
// what a browser's FileReader and canvas give), refusing more than
// MaxFaceMatchImage bytes before decoding. Line breaks are allowed
// anywhere, the end included: base64(1) without -w0, Python's
// encodebytes and Java's MIME encoder wrap lines and end with one. The
// decoder skips them inside the text, but the padding before a final one
// must go with it, else an image whose size is not a multiple of three
// was refused as not base64 and one that is accepted. A text with
// characters of both alphabets is refused (errMixedBase64): it is no
// encoder's output, and read as either it is not the image sent.
func decodeBase64Image(s string) ([]byte, error) {
	if len(s) >= 5 && strings.EqualFold(s[:5], "data:") {
		// RFC 2397: data:[<mediatype>][;base64],<data>, the token in
		// any case; a media type's header is short.
		head := s[:min(len(s), 256)]
		if i := strings.IndexByte(head, ','); i >= 0 && strings.HasSuffix(strings.ToLower(head[:i]), ";base64") {
			s = s[i+1:]
		}
	}
	s = strings.TrimRight(s, "=\r\n")
	n := len(s) - strings.Count(s, "\n") - strings.Count(s, "\r")
	if base64.RawStdEncoding.DecodedLen(n) > MaxFaceMatchImage {
		return nil, errTooLarge
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		if strings.ContainsAny(s, "+/") {
			return nil, errMixedBase64
		}
		enc = base64.RawURLEncoding
	}
	return enc.DecodeString(s)
}

// writtenError is an error answer with its own body (a 413 naming the
// image), written by serve as is.
type writtenError struct {
	status int
	body   faceMatchErrorResponse
}

func (e *writtenError) Error() string { return e.body.Message }
