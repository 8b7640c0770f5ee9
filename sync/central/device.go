package central

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// Body bounds of device requests. Every device request with a body must
// declare its Content-Length within these, so central knows before reading
// a byte how long the body may take.
const (
	maxManifestBody = protocol.MaxManifestSize + 4096
	maxChunkBody    = protocol.MaxChunkSize + 4096
	maxStatusBody   = 64 << 10
	maxEnrollBody   = 16 << 10
)

// MaxOpenUploads bounds a device's submissions whose images are still
// arriving (Store.OpenUploads); a manifest that would open one more is
// answered 429 with Retry-After. The agent sends its outbox one
// submission at a time (agent.Agent.SyncOnce), each until it is complete
// or its attempt fails, so a device has one upload under way (two with a
// second sender on the same vault); more stay open only where attempts
// failed midway, and the agent resumes each when its backoff ends, before
// it starts another (vault.Vault.MarkStarted). Four leaves room for that,
// and bounds what a device can leave half sent to 4 × protocol.MaxImages ×
// protocol.MaxImageSize (8 GiB) instead of without limit.
const MaxOpenUploads = 4

// openUploadsWindow is how long an upload counts towards MaxOpenUploads
// after its manifest arrived. One the device abandoned (a chunk answered
// with a final 422, a device reset) then stops counting, so it never
// blocks the device for good; the bound becomes MaxOpenUploads a day.
const openUploadsWindow = 24 * time.Hour

// openUploadsRetry is the Retry-After of that 429: longer than the agent's
// longest wait between retries (30 s), so the agent ends the call at once
// rather than ask again in vain, keeps the submission queued (only a 422
// is final for it) and pauses its outbox this long.
const openUploadsRetry = time.Minute

func (s *Server) routeDevice() {
	s.mux.Handle("POST "+protocol.PathEnroll, s.handle(noStore(s.enroll)))
	// Uploads have budgets of their own (new submissions, open uploads);
	// every other device request spends the device's request budget.
	s.mux.Handle("PUT "+protocol.PathSubmissions+"{key}", s.device(maxManifestBody, false, s.putManifest))
	s.mux.Handle("PUT "+protocol.PathSubmissions+"{key}/images/{image}", s.device(maxChunkBody, false, s.putChunk))
	s.mux.Handle("GET "+protocol.PathConfig, s.device(0, true, s.getConfig))
	s.mux.Handle("GET "+protocol.PathWatchlists+"{name}", s.device(0, true, s.getWatchlist))
	s.mux.Handle("PUT "+protocol.PathStatus, s.device(maxStatusBody, true, s.putStatus))
	s.mux.Handle("GET "+protocol.PathReviews, s.device(0, true, s.getReviews))
}

// refuse records a failed authentication (metric, log with the reason and
// the request id, the address's failure budget), stops reading the body,
// and returns the answer: e, or 429 once the address has failed too often.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, surface, deviceID string, e *httpx.Error) error {
	addr := httpx.ClientAddr(r)
	ctx := r.Context()
	blocked, wait, err := s.authFails.Blocked(ctx, addr)
	if err == nil {
		err = s.authFails.Fail(ctx, addr)
	}
	if err != nil { // the refusal stands; only the budget was not counted
		s.log.LogAttrs(ctx, slog.LevelError, "failure budget", slog.String("request_id", httpx.RequestID(ctx)), slog.String("cause", err.Error()))
	}
	s.metrics.authFailure(surface, e.Code)
	attrs := []slog.Attr{
		slog.String("request_id", httpx.RequestID(r.Context())), slog.String("surface", surface),
		slog.String("reason", e.Code), slog.String("addr", addr), slog.String("method", r.Method), slog.String("path", r.URL.Path),
	}
	if deviceID != "" {
		attrs = append(attrs, slog.String("device_id", deviceID))
	}
	if e.Cause != nil {
		attrs = append(attrs, slog.String("detail", e.Cause.Error()))
	}
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "authentication failed", attrs...)
	httpx.CutOff(w)
	if blocked {
		s.metrics.authFailure(surface, "rate_limited")
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: "too many failed authentications from this address; retry later", RetryAfter: wait}
	}
	return e
}

// checkLength requires a declared Content-Length within max (0: no body).
func checkLength(w http.ResponseWriter, r *http.Request, max int64) error {
	switch {
	case max == 0 && r.ContentLength != 0:
		httpx.CutOff(w)
		return httpx.Errorf(http.StatusRequestEntityTooLarge, "too_large", "this request takes no body")
	case max > 0 && r.ContentLength < 0:
		httpx.CutOff(w)
		return httpx.Errorf(http.StatusLengthRequired, "length_required", "device uploads must declare their Content-Length")
	case r.ContentLength > max:
		httpx.CutOff(w)
		return httpx.Errorf(http.StatusRequestEntityTooLarge, "too_large", "request body over %d bytes", max)
	}
	return nil
}

// readBody reads exactly the declared Content-Length, within a deadline in
// proportion to it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	n := r.ContentLength
	if n <= 0 {
		return nil, nil
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(httpx.BodyDeadline(n, s.cfg.BodyFloor, s.cfg.MinBodyRate)))
	body := make([]byte, n)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		httpx.CutOff(w)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, httpx.Wrap(err, http.StatusRequestTimeout, "timeout", "request body arrived too slowly")
		}
		return nil, httpx.Wrap(err, http.StatusBadRequest, "body", "request body ended before its Content-Length")
	}
	return body, nil
}

type deviceHandler func(w http.ResponseWriter, r *http.Request, d Device, body []byte) error

// device authenticates a device request from its headers alone before it
// takes anything that is scarce: the signature headers must be present,
// the timestamp within MaxSkew, the device enrolled, the signature valid
// over method, URI, body hash, timestamp and nonce, the device not revoked
// and the nonce unseen; a request other than an upload (budgeted) first
// spends a unit of the device's request budget, so one refused records no
// nonce. Only then does the request take one of the device's own slots
// and one of central's, and read its body (which must match the signed
// hash) within a deadline in proportion to its declared length. So an unauthenticated client holds no slot and central reads no
// byte of its body, however slowly it sends.
func (s *Server) device(maxBody int64, budgeted bool, h deviceHandler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		privateHeaders(w, r) // reviews, config, errors: no cache keeps a copy (as noStore)
		if err := checkLength(w, r, maxBody); err != nil {
			return err
		}
		sig, err := protocol.ParseSigned(r.Header)
		if errors.Is(err, protocol.ErrUnsigned) {
			return s.refuse(w, r, surfaceDevice, "", httpx.Errorf(http.StatusUnauthorized, "unsigned", "request is not signed: the X-Kyc-* signature headers are missing"))
		}
		if err != nil {
			return s.refuse(w, r, surfaceDevice, "", httpx.Wrap(err, http.StatusUnauthorized, "bad_signature", "the request's signature headers are malformed"))
		}
		if !validDeviceID(sig.DeviceID) {
			// Refused before the store is asked: PostgreSQL fails a
			// lookup of invalid UTF-8 (a header may carry any byte), and
			// that 500 would spend no failure budget.
			return s.refuse(w, r, surfaceDevice, "", httpx.Errorf(http.StatusUnauthorized, "unknown_device",
				"this device is not enrolled at this central (was central's store replaced?): enrol it again"))
		}
		now := s.cfg.Now()
		if skew := sig.Timestamp.Sub(now); skew.Abs() > s.cfg.MaxSkew {
			dir := "ahead of"
			if skew < 0 {
				dir = "behind"
			}
			return s.refuse(w, r, surfaceDevice, sig.DeviceID, httpx.Errorf(http.StatusUnauthorized, "stale",
				"the request's timestamp is %s %s central's clock (at most %s allowed): correct the device's clock from the Date header and sign again",
				skew.Abs().Round(time.Second), dir, s.cfg.MaxSkew))
		}
		d, err := s.cfg.Store.Device(r.Context(), sig.DeviceID)
		if errors.Is(err, ErrNotFound) {
			return s.refuse(w, r, surfaceDevice, sig.DeviceID, httpx.Errorf(http.StatusUnauthorized, "unknown_device",
				"this device is not enrolled at this central (was central's store replaced?): enrol it again"))
		}
		if err != nil {
			return fmt.Errorf("looking up device %s: %w", sig.DeviceID, err)
		}
		if err := sig.VerifyHeaders(d.PublicKey, r.Method, r.URL.RequestURI()); err != nil {
			return s.refuse(w, r, surfaceDevice, d.ID, httpx.Wrap(err, http.StatusUnauthorized, "bad_signature", "the signature does not verify with the device's enrolled key"))
		}
		// Revocation is checked after the signature, so only the device
		// itself learns that it was revoked.
		if d.Revoked() {
			return s.refuse(w, r, surfaceDevice, d.ID, errRevoked(d))
		}
		if budgeted {
			if err := s.spendRequest(w, d.ID); err != nil {
				return err
			}
		} else if err := s.checkResends(w, d.ID); err != nil {
			return err
		}
		err = s.cfg.Store.UseNonce(r.Context(), d.ID, sig.Nonce, now, now.Add(2*s.cfg.MaxSkew))
		if errors.Is(err, ErrReplay) {
			return s.refuse(w, r, surfaceDevice, d.ID, httpx.Errorf(http.StatusUnauthorized, "replayed", "this request was seen before (its nonce is used): sign each request anew"))
		}
		if err != nil {
			return fmt.Errorf("recording nonce of device %s: %w", d.ID, err)
		}
		release, err := s.takeSlots(w, d.ID)
		if err != nil {
			return err
		}
		defer release()
		body, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		if err := sig.VerifyBody(body); err != nil {
			return s.refuse(w, r, surfaceDevice, d.ID, httpx.Wrap(err, http.StatusUnauthorized, "bad_signature", "the body does not match the signed hash"))
		}
		if len(body) > 0 {
			// A body may take minutes to arrive (BodyDeadline): a device
			// revoked meanwhile (a stolen kiosk that began an upload just
			// before) must not have it stored. A revocation after this
			// check the store's write refuses (ErrRevoked).
			if d, err = s.cfg.Store.Device(r.Context(), d.ID); err != nil {
				return fmt.Errorf("looking up device %s: %w", sig.DeviceID, err)
			}
			if d.Revoked() {
				return s.refuse(w, r, surfaceDevice, d.ID, errRevoked(d))
			}
		}
		err = h(w, r, d, body)
		if !budgeted {
			s.refusedUpload(d.ID, err)
		}
		return err
	})
}

// revokedMeanwhile answers an upload the store refused (ErrRevoked): its
// device was revoked after the request's own checks, before its write.
func (s *Server) revokedMeanwhile(w http.ResponseWriter, r *http.Request, deviceID string) error {
	d, err := s.cfg.Store.Device(r.Context(), deviceID)
	if err != nil {
		return fmt.Errorf("looking up device %s: %w", deviceID, err)
	}
	return s.refuse(w, r, surfaceDevice, d.ID, errRevoked(d))
}

// errRevoked is the answer to a request of the revoked device d.
func errRevoked(d Device) *httpx.Error {
	return httpx.Errorf(http.StatusForbidden, "revoked", "this device was revoked at %s", d.RevokedAt.UTC().Format(time.RFC3339))
}

// validDeviceID reports whether id has the shape of protocol.DeviceID:
// 32 lowercase hexadecimal digits.
func validDeviceID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// takeSlots takes one of the device's slots and one of central's, or
// answers 429 (this device has its share in flight: deviceSlots) or 503
// (central is saturated), both with Retry-After, which the agent honours.
func (s *Server) takeSlots(w http.ResponseWriter, deviceID string) (release func(), err error) {
	if !s.perDevice.acquire(deviceID, s.slots.InUse() >= s.slots.Cap()/2) {
		s.metrics.shed.WithLabelValues("device").Inc()
		s.shed.Add(1)
		httpx.CutOff(w)
		return nil, &httpx.Error{Status: http.StatusTooManyRequests, Code: "device_busy",
			Message: "this device already has as many requests in flight as central allows", RetryAfter: time.Second}
	}
	if !s.slots.Acquire() {
		s.perDevice.release(deviceID)
		s.metrics.shed.WithLabelValues("slots").Inc()
		s.shed.Add(1)
		httpx.CutOff(w)
		return nil, &httpx.Error{Status: http.StatusServiceUnavailable, Code: "overloaded",
			Message: "central has too many requests in flight", RetryAfter: time.Second}
	}
	s.metrics.inFlight.Inc()
	return func() {
		s.metrics.inFlight.Dec()
		s.slots.Release()
		s.perDevice.release(deviceID)
	}, nil
}

// enroll redeems a one-time token. The request is signed like any other,
// but with the key being enrolled, which proves possession of it. Its body
// (the token and the key) is small and read within the body floor. The
// device that redeemed a token is answered again when it asks again with
// it (Store.Enroll): its first answer may have been lost on the way.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request) error {
	blocked, wait, err := s.authFails.Blocked(r.Context(), httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	if blocked {
		s.metrics.authFailure(surfaceEnroll, "rate_limited")
		httpx.CutOff(w)
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: "too many failed authentications from this address; retry later", RetryAfter: wait}
	}
	if err := checkLength(w, r, maxEnrollBody); err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var req protocol.EnrollRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Token == "" || len(req.PublicKey) != ed25519.PublicKeySize {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "enrolment needs a token and an Ed25519 public key")
	}
	sig, err := protocol.ParseSigned(r.Header)
	if err != nil {
		return s.refuse(w, r, surfaceEnroll, "", httpx.Wrap(err, http.StatusUnauthorized, "unsigned", "the enrolment request is not signed with the key it enrols"))
	}
	now := s.cfg.Now()
	switch {
	case sig.DeviceID != protocol.DeviceID(req.PublicKey):
		return s.refuse(w, r, surfaceEnroll, sig.DeviceID, httpx.Errorf(http.StatusUnauthorized, "bad_signature", "the device id does not match the public key"))
	case now.Sub(sig.Timestamp).Abs() > s.cfg.MaxSkew:
		return s.refuse(w, r, surfaceEnroll, sig.DeviceID, httpx.Errorf(http.StatusUnauthorized, "stale",
			"the request's timestamp is %s away from central's clock (at most %s allowed): correct the device's clock", now.Sub(sig.Timestamp).Abs().Round(time.Second), s.cfg.MaxSkew))
	}
	if err := sig.VerifyHeaders(req.PublicKey, r.Method, r.URL.RequestURI()); err != nil {
		return s.refuse(w, r, surfaceEnroll, sig.DeviceID, httpx.Wrap(err, http.StatusUnauthorized, "bad_signature", "the signature does not verify with the key being enrolled"))
	}
	if err := sig.VerifyBody(body); err != nil {
		return s.refuse(w, r, surfaceEnroll, sig.DeviceID, httpx.Wrap(err, http.StatusUnauthorized, "bad_signature", "the body does not match the signed hash"))
	}
	release, err := s.takeSlots(w, sig.DeviceID)
	if err != nil {
		return err
	}
	defer release()
	d := Device{ID: sig.DeviceID, PublicKey: req.PublicKey, AppVersion: clip(req.AppVersion), EnrolledAt: now.UTC()}
	err = s.cfg.Store.Enroll(r.Context(), sha256.Sum256([]byte(req.Token)), d)
	switch {
	case errors.Is(err, ErrTokenInvalid):
		return s.refuse(w, r, surfaceEnroll, d.ID, httpx.Errorf(http.StatusForbidden, "token", "enrolment token unknown, expired or already used"))
	case errors.Is(err, ErrDeviceExists):
		return httpx.Errorf(http.StatusConflict, "enrolled", "this device is already enrolled")
	case err != nil:
		return fmt.Errorf("enrolling device %s: %w", d.ID, err)
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "device enrolled",
		slog.String("request_id", httpx.RequestID(r.Context())), slog.String("device_id", d.ID),
		slog.String("app_version", d.AppVersion), slog.String("addr", httpx.ClientAddr(r)), slog.Time("at", d.EnrolledAt))
	httpx.WriteJSON(w, http.StatusOK, protocol.EnrollResponse{
		DeviceID: d.ID, CentralBoxKey: s.cfg.BoxKey.Public[:], CentralSignKey: s.cfg.SignKey.Public().(ed25519.PublicKey),
	})
	return nil
}

// reject answers 422: the device must not retry this submission.
func (s *Server) reject(code, format string, args ...any) error {
	s.metrics.event(eventRejected)
	return httpx.Errorf(http.StatusUnprocessableEntity, code, format, args...)
}

func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, d Device, body []byte) error {
	key := r.PathValue("key")
	if !protocol.ValidKey(key) {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "bad submission key")
	}
	pt, err := protocol.OpenManifest(&s.cfg.BoxKey.Public, &s.cfg.BoxKey.Private, body)
	if err != nil {
		return s.reject("undecryptable", "manifest is not sealed to this central's key")
	}
	var m protocol.Manifest
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return s.reject("malformed", "the manifest is not a manifest (JSON decoding failed)")
	}
	if err := m.Validate(); err != nil {
		return s.reject("malformed", "%s", err) // Validate's messages are about the device's own data
	}
	if protocol.SubmissionKey(m.ID) != key {
		return s.reject("malformed", "submission key does not match the manifest")
	}
	sum := sha256.Sum256(pt)

	prev, err := s.cfg.Store.Upload(r.Context(), d.ID, key)
	switch {
	case err == nil && bytes.Equal(prev.ManifestHash, sum[:]):
		// A resend of what central holds: a duplicate (checked before the
		// attestation, which may since have aged).
		s.metrics.event(eventDuplicate)
		s.resent(d.ID, "manifest")
		httpx.WriteJSON(w, http.StatusOK, withReceipt(prev.State(), prev))
		return nil
	case err == nil:
		return s.reject("conflict", "submission id already used for different content")
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("looking up submission: %w", err)
	}
	if err := s.spendSubmission(r.Context(), d.ID); err != nil {
		return err
	}
	if len(m.Images) > 0 { // one without images is complete at once
		if err := s.checkOpenUploads(r.Context(), d.ID); err != nil {
			return err
		}
	}

	now := s.cfg.Now()
	att, err := s.checkAttestation(d, m.Payload, now)
	if err != nil {
		return err
	}
	if err := s.claimAttestation(r, d.ID, key, att); err != nil {
		return err
	}
	sub := Submission{
		DeviceID: d.ID, Key: key, ID: m.ID, ManifestHash: sum[:],
		CreatedAt: m.CreatedAt.UTC(), ReceivedAt: now.UTC(), Verdict: clip(string(att.att.Report.Verdict)),
		AttestationFresh: att.fresh, AttestedAt: att.madeAfter.UTC(), Payload: m.Payload,
	}
	summary := Summarize(m.Payload)
	doubt, judged, err := s.doubtDecision(r.Context(), d, summary, m.Payload)
	if err != nil {
		return err
	}
	if doubt == nil {
		if doubt, err = s.doubtScreening(r.Context(), d, summary, m.Payload, judged); err != nil {
			return err
		}
	}
	if doubt == nil {
		doubt = doubtRollback(d, att, judged)
	}
	if doubt == nil {
		doubt = doubtClock(att, now, summary, m.Payload, judged)
	}
	if doubt != nil {
		doubt.distrust(&summary)
	}
	sub.Summary = &summary
	for _, im := range m.Images {
		sub.Images = append(sub.Images, ImageProgress{ImageMeta: im})
	}
	st, created, err := s.cfg.Store.BeginSubmission(r.Context(), sub)
	switch {
	case errors.Is(err, ErrConflict):
		return s.reject("conflict", "submission id already used for different content")
	case errors.Is(err, ErrRevoked):
		return s.revokedMeanwhile(w, r, d.ID)
	case errors.Is(err, ErrErased):
		// Erased since it was first received (the device lost the answer,
		// or its upload was still open): not stored again. The answer is
		// the receipt of a submission whose images central erased, final,
		// on which the device shreds its copy as the erasure asks.
		s.metrics.event(eventDuplicate)
		s.resent(d.ID, "manifest")
		httpx.WriteJSON(w, http.StatusOK, protocol.UploadState{Complete: true,
			Receipt: &protocol.Receipt{Key: key, ManifestSHA256: sum[:], ImagesErased: true}})
		return nil
	case err != nil:
		return fmt.Errorf("recording submission: %w", err)
	case created:
		s.metrics.event(eventReceived)
		if doubt != nil {
			s.auditDoubt(r.Context(), d.ID, key, doubt)
		}
		if st.Complete {
			s.metrics.event(eventCompleted)
		}
	default:
		s.metrics.event(eventDuplicate)
		s.resent(d.ID, "manifest")
		// Another request stored it first: the receipt is of what the
		// store holds (retention may have erased its images since).
		if cur, err := s.cfg.Store.Upload(r.Context(), d.ID, key); err == nil {
			sub = cur
		} else if !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("looking up submission: %w", err)
		}
	}
	httpx.WriteJSON(w, http.StatusOK, withReceipt(st, sub))
	return nil
}

// withReceipt adds to a complete answer the receipt of sub, the
// submission as central holds it: the device shreds its copy only on a
// receipt that matches what it sent (protocol.Receipt).
func withReceipt(st protocol.UploadState, sub Submission) protocol.UploadState {
	if !st.Complete {
		return st
	}
	rc := &protocol.Receipt{Key: sub.Key, ManifestSHA256: sub.ManifestHash}
	for _, im := range sub.Images {
		if n, ok := st.Received[im.Name]; ok && n == im.Size {
			rc.Images++
		}
	}
	if !sub.ImagesErasedAt.IsZero() {
		// Retention closes an upload still open by completing it at the
		// moment it erases the images.
		rc.ImagesErased, rc.Incomplete = true, sub.CompletedAt.Equal(sub.ImagesErasedAt)
	}
	st.Receipt = rc
	return st
}

// spendSubmission spends one of the device's new submissions
// (Config.SubmissionBurst), or answers 429 with when the next is there.
func (s *Server) spendSubmission(ctx context.Context, deviceID string) error {
	ok, wait, err := s.subRate.Allow(ctx, deviceID)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	s.metrics.shed.WithLabelValues("submissions").Inc()
	return &httpx.Error{Status: http.StatusTooManyRequests, Code: "too_many_submissions", RetryAfter: wait,
		Message: "this device has sent more new submissions than central takes from one device: the rest wait their turn"}
}

// checkOpenUploads answers 429 when the device has MaxOpenUploads open
// already. It is checked before the submission is recorded, not in the
// same transaction, so manifests of one device arriving together may pass
// it together: at most MaxPerDevice of them, which still bounds it.
func (s *Server) checkOpenUploads(ctx context.Context, deviceID string) error {
	n, err := s.cfg.Store.OpenUploads(ctx, deviceID, s.cfg.Now().Add(-openUploadsWindow))
	if err != nil {
		return fmt.Errorf("counting the device's open uploads: %w", err)
	}
	if n < MaxOpenUploads {
		return nil
	}
	s.metrics.shed.WithLabelValues("uploads").Inc()
	return &httpx.Error{Status: http.StatusTooManyRequests, Code: "too_many_uploads", RetryAfter: openUploadsRetry,
		Message: fmt.Sprintf("this device has %d submissions whose images are still arriving, the most central holds open: finish them first", n)}
}

func (s *Server) putChunk(w http.ResponseWriter, r *http.Request, d Device, body []byte) error {
	key, image := r.PathValue("key"), r.PathValue("image")
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if !protocol.ValidKey(key) || !protocol.ValidName(image) || err != nil || offset < 0 {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "bad submission key, image name or offset")
	}
	sub, err := s.cfg.Store.Upload(r.Context(), d.ID, key)
	if errors.Is(err, ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "unknown_submission", "send the manifest first")
	}
	if err != nil {
		return fmt.Errorf("looking up submission: %w", err)
	}
	if !sub.CompletedAt.IsZero() {
		// A duplicate delivery, or an upload retention closed: its
		// images erased are listed no more, and the receipt says so.
		s.resent(d.ID, "chunk")
		httpx.WriteJSON(w, http.StatusOK, withReceipt(sub.State(), sub))
		return nil
	}
	im, ok := sub.Image(image)
	if !ok {
		return httpx.Errorf(http.StatusNotFound, "unknown_image", "image not in the manifest")
	}
	if offset != im.Received {
		s.resent(d.ID, "offset")
		httpx.WriteJSON(w, http.StatusConflict, sub.State()) // tell the device where we are
		return nil
	}
	plain, err := protocol.OpenChunk(im.Key, image, offset, body)
	if err != nil {
		return s.reject("undecryptable", "chunk does not open under the image's content key")
	}
	end := offset + int64(len(plain))
	if len(plain) == 0 || end > im.Size {
		return s.reject("malformed", "chunk runs past the image size")
	}
	if end == im.Size {
		sum, err := s.imageHash(r.Context(), d.ID, key, image, offset, plain)
		if err != nil {
			return err
		}
		if !bytes.Equal(sum, im.SHA256) {
			return s.reject("hash_mismatch", "image bytes do not match the manifest's SHA-256")
		}
	}
	st, err := s.cfg.Store.AppendChunk(r.Context(), Chunk{DeviceID: d.ID, Key: key, Image: image, Offset: offset, Data: plain, At: s.cfg.Now().UTC()})
	switch {
	case errors.Is(err, ErrOffset):
		s.resent(d.ID, "offset")
		httpx.WriteJSON(w, http.StatusConflict, withReceipt(st, sub))
		return nil
	case errors.Is(err, ErrRevoked):
		return s.revokedMeanwhile(w, r, d.ID)
	case err != nil:
		return fmt.Errorf("appending chunk: %w", err)
	}
	if st.Complete {
		s.metrics.event(eventCompleted)
	}
	httpx.WriteJSON(w, http.StatusOK, withReceipt(st, sub))
	return nil
}

// errHashed stops imageHash's read of the stored chunks once it has the
// bytes it needs.
var errHashed = errors.New("central: image hashed")

// imageHash returns the SHA-256 of an image's first offset bytes as stored
// followed by last, its final chunk. The stored chunks are hashed as the
// store reads them, so the request holds a chunk at a time, never the
// image (up to protocol.MaxImageSize, with MaxInFlight such requests at
// once). Only the first offset bytes count: a resend of the final chunk
// racing the first may find it stored already, and must then get the 409
// AppendChunk gives it, not a hash mismatch (final for the device).
func (s *Server) imageHash(ctx context.Context, deviceID, key, image string, offset int64, last []byte) ([]byte, error) {
	h := sha256.New()
	var n int64
	if offset > 0 {
		err := s.cfg.Store.ImageChunks(ctx, deviceID, key, image, func(chunk []byte) error {
			chunk = chunk[:min(int64(len(chunk)), offset-n)]
			h.Write(chunk)
			if n += int64(len(chunk)); n == offset {
				return errHashed
			}
			return nil
		})
		if err != nil && !errors.Is(err, errHashed) {
			return nil, fmt.Errorf("reading image so far: %w", err)
		}
	}
	if n != offset {
		return nil, fmt.Errorf("reading image so far: %d bytes stored, the upload stands at %d", n, offset)
	}
	h.Write(last)
	return h.Sum(nil), nil
}

// getConfig answers the configuration signed with central's key: the risk
// document, each watchlist's descriptor signed on its own, the time, and a
// fresh attestation challenge for the device.
func (s *Server) getConfig(w http.ResponseWriter, r *http.Request, d Device, _ []byte) error {
	doc, v, err := s.cfg.Store.Risk(r.Context())
	if err != nil {
		return fmt.Errorf("reading risk configuration: %w", err)
	}
	wls, err := s.cfg.Store.Watchlists(r.Context())
	if err != nil {
		return fmt.Errorf("listing watchlists: %w", err)
	}
	if wls == nil {
		wls = []protocol.Watchlist{}
	}
	now := s.cfg.Now().UTC()
	// Before it is served: a decision is judged only by a version its
	// device was given (doubtDecision), the lists' ages it claims only by
	// when central last confirmed them (doubtScreening).
	if err := s.cfg.Store.ServeRisk(r.Context(), d.ID, v); err != nil {
		return err
	}
	served := ConfigServing{At: now, Watchlists: make(map[string]int64, len(wls))}
	for i := range wls {
		served.Watchlists[wls[i].Name] = wls[i].Version
		protocol.SignWatchlist(s.cfg.SignKey, &wls[i])
	}
	if err := s.cfg.Store.ServeConfig(r.Context(), d.ID, served); err != nil {
		return err
	}
	sc, err := protocol.SignConfig(s.cfg.SignKey, protocol.Config{
		Version: v, Risk: doc, Watchlists: wls, IssuedAt: now, Challenge: s.challenge.Issue(d.ID, now),
	})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, sc)
	return nil
}

func (s *Server) getWatchlist(w http.ResponseWriter, r *http.Request, _ Device, _ []byte) error {
	name := r.PathValue("name")
	if !protocol.ValidName(name) { // as published; the store is not asked for a NUL or invalid UTF-8
		return httpx.Errorf(http.StatusNotFound, "unknown_watchlist", "no such watchlist")
	}
	wl, src, err := s.cfg.Store.OpenWatchlist(r.Context(), name)
	if errors.Is(err, ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "unknown_watchlist", "no such watchlist")
	}
	if err != nil {
		return fmt.Errorf("reading watchlist %q: %w", name, err)
	}
	defer src.Close()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(httpx.BodyDeadline(wl.Size, s.cfg.BodyFloor, s.cfg.MinBodyRate)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Kyc-Watchlist-Version", strconv.FormatInt(wl.Version, 10))
	w.Header().Set("Content-Length", strconv.FormatInt(wl.Size, 10))
	if _, err := io.CopyN(w, src, wl.Size); err != nil {
		// Headers are out: all central can do is log and cut the stream.
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "watchlist download cut short",
			slog.String("request_id", httpx.RequestID(r.Context())), slog.String("watchlist", name), slog.String("cause", err.Error()))
	}
	return nil
}

// putStatus records what the device reports at each sync.
func (s *Server) putStatus(w http.ResponseWriter, r *http.Request, d Device, body []byte) error {
	var st protocol.DeviceStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "the status is not a device status (JSON decoding failed)")
	}
	if err := s.cfg.Store.SetDeviceStatus(r.Context(), d.ID, st, s.cfg.Now().UTC()); err != nil {
		return fmt.Errorf("recording device status: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
