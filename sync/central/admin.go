package central

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/protocol"
)

// Admin API paths, under /admin/v1, all behind the bearer token.
const adminPrefix = "/admin/v1"

func (s *Server) routeAdmin() {
	if s.cfg.AdminToken == "" {
		return
	}
	a := func(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, s.admin(h)) }
	a("POST "+adminPrefix+"/enroll-tokens", s.createToken)
	a("GET "+adminPrefix+"/devices", s.listDevices)
	a("POST "+adminPrefix+"/devices/{id}/revoke", s.revokeDevice)
	a("GET "+adminPrefix+"/submissions", s.listSubmissions)
	a("GET "+adminPrefix+"/devices/{id}/submissions/{sub}", s.getSubmission)
	a("PUT "+adminPrefix+"/config/risk", s.putRisk)
	a("PUT "+adminPrefix+"/watchlists/{name}", s.putWatchlist)
}

// admin checks the bearer token in constant time (on hashes, so the
// comparison does not leak the token's length either).
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kyc-central admin"`)
			fail(w, http.StatusUnauthorized, "unauthorized", "admin API needs the bearer token")
			return
		}
		h(w, r)
	}
}

// TokenResponse is the answer to creating an enrolment token.
type TokenResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	ttl := DefaultTokenTTL
	if v := r.URL.Query().Get("ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			fail(w, http.StatusBadRequest, "malformed", "ttl must be a duration up to 720h")
			return
		}
		ttl = d
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := base64.RawURLEncoding.EncodeToString(raw)
	now := s.cfg.Now().UTC()
	t := EnrollToken{Hash: sha256.Sum256([]byte(tok)), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.cfg.Store.CreateEnrollToken(r.Context(), t); err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, TokenResponse{Token: tok, ExpiresAt: t.ExpiresAt})
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := s.cfg.Store.Devices(r.Context())
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	if ds == nil {
		ds = []Device{}
	}
	writeJSON(w, http.StatusOK, ds)
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := s.cfg.Store.RevokeDevice(r.Context(), id, s.cfg.Now().UTC())
	if errors.Is(err, ErrNotFound) {
		fail(w, http.StatusNotFound, "unknown_device", "no such device")
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	d, err := s.cfg.Store.Device(r.Context(), id)
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// listSubmissions filters by the query parameters device, after and before
// (RFC 3339 receipt times), complete (true/false), verdict and limit.
func (s *Server) listSubmissions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{DeviceID: q.Get("device"), Verdict: q.Get("verdict")}
	var errs []string
	parseTime := func(name string, dst *time.Time) {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				errs = append(errs, name+" must be RFC 3339")
			}
			*dst = t
		}
	}
	parseTime("after", &f.ReceivedAfter)
	parseTime("before", &f.ReceivedBefore)
	if v := q.Get("complete"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, "complete must be true or false")
		}
		f.Complete = &b
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, "limit must be a positive integer")
		}
		f.Limit = n
	}
	if len(errs) > 0 {
		fail(w, http.StatusBadRequest, "malformed", strings.Join(errs, "; "))
		return
	}
	subs, err := s.cfg.Store.Submissions(r.Context(), f)
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	for i := range subs {
		for j := range subs[i].Images {
			subs[i].Images[j].Key = nil // content keys never leave central
		}
	}
	if subs == nil {
		subs = []Submission{}
	}
	writeJSON(w, http.StatusOK, subs)
}

// SubmissionDetail is a submission with its image bytes, as the admin API
// returns it.
type SubmissionDetail struct {
	Submission
	ImageData map[string][]byte `json:"image_data"` // base64 in JSON
}

func (s *Server) getSubmission(w http.ResponseWriter, r *http.Request) {
	dev, id := r.PathValue("id"), r.PathValue("sub")
	key := protocol.SubmissionKey(id)
	sub, err := s.cfg.Store.Upload(r.Context(), dev, key)
	if errors.Is(err, ErrNotFound) {
		fail(w, http.StatusNotFound, "unknown_submission", "no such submission")
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	det := SubmissionDetail{Submission: sub, ImageData: make(map[string][]byte, len(sub.Images))}
	for i, im := range sub.Images {
		data, err := s.cfg.Store.ImageData(r.Context(), dev, key, im.Name)
		if err != nil {
			fail(w, http.StatusInternalServerError, "store", err.Error())
			return
		}
		det.ImageData[im.Name] = data
		det.Images[i].Key = nil
	}
	writeJSON(w, http.StatusOK, det)
}

// maxConfigBody bounds an uploaded risk configuration or watchlist.
const maxConfigBody = 256 << 20

func (s *Server) putRisk(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBody))
	if err != nil || !json.Valid(body) {
		fail(w, http.StatusBadRequest, "malformed", "risk configuration must be a JSON document")
		return
	}
	v, err := s.cfg.Store.PutRisk(r.Context(), body)
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"version": v})
}

func (s *Server) putWatchlist(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !protocol.ValidName(name) {
		fail(w, http.StatusBadRequest, "malformed", "watchlist names are 1-64 letters, digits, '-', '_' or '.'")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBody))
	if err != nil || len(body) == 0 {
		fail(w, http.StatusBadRequest, "malformed", "watchlist body missing or too large")
		return
	}
	wl, err := s.cfg.Store.PutWatchlist(r.Context(), name, body)
	if err != nil {
		fail(w, http.StatusInternalServerError, "store", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, wl)
}
