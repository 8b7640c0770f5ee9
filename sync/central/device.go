package central

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/sync/protocol"
)

// maxDeviceBody bounds a device request body: a sealed manifest or chunk.
const maxDeviceBody = max(protocol.MaxManifestSize, protocol.MaxChunkSize) + 4096

func (s *Server) routeDevice() {
	s.mux.HandleFunc("POST "+protocol.PathEnroll, s.limit(s.enroll))
	s.mux.HandleFunc("PUT "+protocol.PathSubmissions+"{key}", s.limit(s.signed(s.putManifest)))
	s.mux.HandleFunc("PUT "+protocol.PathSubmissions+"{key}/images/{image}", s.limit(s.signed(s.putChunk)))
	s.mux.HandleFunc("GET "+protocol.PathConfig, s.limit(s.signed(s.getConfig)))
	s.mux.HandleFunc("GET "+protocol.PathWatchlists+"{name}", s.limit(s.signed(s.getWatchlist)))
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, protocol.Error{Code: code, Message: msg})
}

// limit sheds load beyond MaxInFlight concurrent device requests with 503
// and Retry-After, which the agent honours.
func (s *Server) limit(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.inFlight <- struct{}{}:
			defer func() { <-s.inFlight }()
			h(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			fail(w, http.StatusServiceUnavailable, "overloaded", "too many requests in flight")
		}
	}
}

// readBody reads a request body up to the device limit.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDeviceBody))
	if err != nil {
		fail(w, http.StatusRequestEntityTooLarge, "body", "reading body: "+err.Error())
		return nil, false
	}
	return body, true
}

type deviceHandler func(w http.ResponseWriter, r *http.Request, d Device, body []byte)

// signed authenticates a device request: the signature headers must be
// present, the timestamp within MaxSkew of the clock, the device enrolled
// and not revoked, the signature valid over method, URI, body hash,
// timestamp and nonce, and the nonce unseen.
func (s *Server) signed(h deviceHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		refuse := func(status int, reason, msg string) {
			s.metrics.reject(reason)
			fail(w, status, reason, msg)
		}
		sig, err := protocol.ParseSigned(r.Header)
		if errors.Is(err, protocol.ErrUnsigned) {
			refuse(http.StatusUnauthorized, "unsigned", "request is not signed")
			return
		}
		if err != nil {
			refuse(http.StatusUnauthorized, "bad_signature", err.Error())
			return
		}
		now := s.cfg.Now()
		if skew := now.Sub(sig.Timestamp).Abs(); skew > s.cfg.MaxSkew {
			refuse(http.StatusUnauthorized, "stale", fmt.Sprintf("request timestamp is %s away from central's clock", skew.Round(time.Second)))
			return
		}
		d, err := s.cfg.Store.Device(r.Context(), sig.DeviceID)
		if errors.Is(err, ErrNotFound) {
			refuse(http.StatusUnauthorized, "unknown_device", "device is not enrolled")
			return
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, "store", err.Error())
			return
		}
		if err := sig.Verify(d.PublicKey, r.Method, r.URL.RequestURI(), body); err != nil {
			refuse(http.StatusUnauthorized, "bad_signature", err.Error())
			return
		}
		// Revocation is checked after the signature, so only the device
		// itself learns that it was revoked.
		if d.Revoked() {
			refuse(http.StatusForbidden, "revoked", "device has been revoked")
			return
		}
		err = s.cfg.Store.UseNonce(r.Context(), d.ID, sig.Nonce, now, now.Add(2*s.cfg.MaxSkew))
		if errors.Is(err, ErrReplay) {
			refuse(http.StatusUnauthorized, "replayed", "nonce already used")
			return
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, "store", err.Error())
			return
		}
		h(w, r, d, body)
	}
}

// enroll redeems a one-time token. The request is signed like any other,
// but with the key being enrolled, which proves possession of it.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req protocol.EnrollRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Token == "" || len(req.PublicKey) != ed25519.PublicKeySize {
		fail(w, http.StatusBadRequest, "malformed", "enrolment needs a token and an Ed25519 public key")
		return
	}
	sig, err := protocol.ParseSigned(r.Header)
	now := s.cfg.Now()
	switch {
	case err != nil:
		fail(w, http.StatusUnauthorized, "unsigned", err.Error())
		return
	case sig.DeviceID != protocol.DeviceID(req.PublicKey):
		fail(w, http.StatusUnauthorized, "bad_signature", "device id does not match the public key")
		return
	case now.Sub(sig.Timestamp).Abs() > s.cfg.MaxSkew:
		fail(w, http.StatusUnauthorized, "stale", "request timestamp too far from central's clock")
		return
	}
	if err := sig.Verify(req.PublicKey, r.Method, r.URL.RequestURI(), body); err != nil {
		fail(w, http.StatusUnauthorized, "bad_signature", err.Error())
		return
	}
	d := Device{ID: sig.DeviceID, PublicKey: req.PublicKey, AppVersion: req.AppVersion, EnrolledAt: now.UTC()}
	err = s.cfg.Store.Enroll(r.Context(), sha256.Sum256([]byte(req.Token)), d)
	switch {
	case errors.Is(err, ErrTokenInvalid):
		fail(w, http.StatusForbidden, "token", "enrolment token unknown, expired or already used")
	case errors.Is(err, ErrDeviceExists):
		fail(w, http.StatusConflict, "enrolled", "device already enrolled")
	case err != nil:
		fail(w, http.StatusInternalServerError, "store", err.Error())
	default:
		writeJSON(w, http.StatusOK, protocol.EnrollResponse{DeviceID: d.ID, CentralBoxKey: s.cfg.BoxKey.Public[:]})
	}
}

// rejectSubmission answers 422: the device must not retry this submission.
func (s *Server) rejectSubmission(w http.ResponseWriter, code, msg string) {
	s.metrics.event(eventRejected)
	fail(w, http.StatusUnprocessableEntity, code, msg)
}

func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, d Device, body []byte) {
	key := r.PathValue("key")
	if !protocol.ValidKey(key) {
		fail(w, http.StatusBadRequest, "malformed", "bad submission key")
		return
	}
	pt, err := protocol.OpenManifest(&s.cfg.BoxKey.Public, &s.cfg.BoxKey.Private, body)
	if err != nil {
		s.rejectSubmission(w, "undecryptable", "manifest is not sealed to this central's key")
		return
	}
	var m protocol.Manifest
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		s.rejectSubmission(w, "malformed", "decoding manifest: "+err.Error())
		return
	}
	if err := m.Validate(); err != nil {
		s.rejectSubmission(w, "malformed", err.Error())
		return
	}
	if protocol.SubmissionKey(m.ID) != key {
		s.rejectSubmission(w, "malformed", "submission key does not match the manifest")
		return
	}
	verdict, err := verifyAttestation(d, m.Payload)
	if err != nil {
		s.rejectSubmission(w, "attestation", err.Error())
		return
	}
	sum := sha256.Sum256(pt)
	sub := Submission{
		DeviceID: d.ID, Key: key, ID: m.ID, ManifestHash: sum[:],
		CreatedAt: m.CreatedAt.UTC(), ReceivedAt: s.cfg.Now().UTC(), Verdict: verdict, Payload: m.Payload,
	}
	for _, im := range m.Images {
		sub.Images = append(sub.Images, ImageProgress{ImageMeta: im})
	}
	st, created, err := s.cfg.Store.BeginSubmission(r.Context(), sub)
	switch {
	case errors.Is(err, ErrConflict):
		s.rejectSubmission(w, "conflict", "submission id already used for different content")
		return
	case err != nil:
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	case created:
		s.metrics.event(eventReceived)
		if st.Complete {
			s.metrics.event(eventCompleted)
		}
	default:
		s.metrics.event(eventDuplicate)
	}
	writeJSON(w, http.StatusOK, st)
}

// verifyAttestation checks the device attestation a submission payload
// carries under "attestation": present, issued for this device, and signed
// by its enrolled key. It returns the attestation's verdict.
func verifyAttestation(d Device, payload json.RawMessage) (string, error) {
	var p struct {
		Attestation *device.Attestation `json:"attestation"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.Attestation == nil {
		return "", errors.New("payload carries no device attestation")
	}
	if p.Attestation.DeviceID != d.ID {
		return "", errors.New("attestation was issued for another device")
	}
	if err := device.Verify(d.PublicKey, *p.Attestation); err != nil {
		return "", err
	}
	return string(p.Attestation.Report.Verdict), nil
}

func (s *Server) putChunk(w http.ResponseWriter, r *http.Request, d Device, body []byte) {
	key, image := r.PathValue("key"), r.PathValue("image")
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if !protocol.ValidKey(key) || !protocol.ValidName(image) || err != nil || offset < 0 {
		fail(w, http.StatusBadRequest, "malformed", "bad submission key, image name or offset")
		return
	}
	sub, err := s.cfg.Store.Upload(r.Context(), d.ID, key)
	if errors.Is(err, ErrNotFound) {
		fail(w, http.StatusNotFound, "unknown_submission", "send the manifest first")
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	im, ok := sub.Image(image)
	if !ok {
		fail(w, http.StatusNotFound, "unknown_image", "image not in the manifest")
		return
	}
	if !sub.CompletedAt.IsZero() {
		writeJSON(w, http.StatusOK, sub.State()) // a duplicate delivery
		return
	}
	if offset != im.Received {
		writeJSON(w, http.StatusConflict, sub.State()) // tell the device where we are
		return
	}
	plain, err := protocol.OpenChunk(im.Key, image, offset, body)
	if err != nil {
		s.rejectSubmission(w, "undecryptable", "chunk does not open under the image's content key")
		return
	}
	end := offset + int64(len(plain))
	if len(plain) == 0 || end > im.Size {
		s.rejectSubmission(w, "malformed", "chunk runs past the image size")
		return
	}
	if end == im.Size {
		whole := plain
		if offset > 0 {
			prev, err := s.cfg.Store.ImageData(r.Context(), d.ID, key, image)
			if err != nil {
				fail(w, http.StatusInternalServerError, "store", err.Error())
				return
			}
			whole = append(prev, plain...)
		}
		if sum := sha256.Sum256(whole); !bytes.Equal(sum[:], im.SHA256) {
			s.rejectSubmission(w, "hash_mismatch", "image bytes do not match the manifest's SHA-256")
			return
		}
	}
	st, err := s.cfg.Store.AppendChunk(r.Context(), Chunk{DeviceID: d.ID, Key: key, Image: image, Offset: offset, Data: plain, At: s.cfg.Now().UTC()})
	switch {
	case errors.Is(err, ErrOffset):
		writeJSON(w, http.StatusConflict, st)
		return
	case err != nil:
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	if st.Complete {
		s.metrics.event(eventCompleted)
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request, _ Device, _ []byte) {
	doc, v, err := s.cfg.Store.Risk(r.Context())
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	wls, err := s.cfg.Store.Watchlists(r.Context())
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, protocol.Config{Version: v, Risk: doc, Watchlists: wls})
}

func (s *Server) getWatchlist(w http.ResponseWriter, r *http.Request, _ Device, _ []byte) {
	wl, data, err := s.cfg.Store.Watchlist(r.Context(), r.PathValue("name"))
	if errors.Is(err, ErrNotFound) {
		fail(w, http.StatusNotFound, "unknown_watchlist", "no such watchlist")
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Kyc-Watchlist-Version", strconv.FormatInt(wl.Version, 10))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}
