package central

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// Admin API paths, under /admin/v1, all behind the bearer token.
const adminPrefix = "/admin/v1"

func (s *Server) routeAdmin() {
	if s.cfg.AdminToken == "" {
		return
	}
	a := s.adminRoute
	a("GET "+adminPrefix+"/health", s.healthDetail)
	a("POST "+adminPrefix+"/enroll-tokens", s.createToken)
	a("GET "+adminPrefix+"/devices", s.listDevices)
	a("POST "+adminPrefix+"/devices/{id}/revoke", s.revokeDevice)
	a("GET "+adminPrefix+"/submissions", s.listSubmissions)
	a("GET "+adminPrefix+"/devices/{id}/submissions/{sub}", s.getSubmission)
	a("PUT "+adminPrefix+"/config/risk", s.putRisk)
	a("PUT "+adminPrefix+"/watchlists/{name}", s.putWatchlist)
}

// adminRoute registers an admin handler behind the bearer token. Handlers
// return errors (httpx); those that show personal data call s.auditRead.
// No answer is cached (noStore). The path's ids are checked before h
// (pathIDs).
func (s *Server) adminRoute(pattern string, h httpx.HandlerFunc) {
	s.mux.Handle(pattern, s.handle(noStore(s.admin(pathIDs(pattern, h)))))
}

// pathIDs refuses a request, 400 malformed, when the value of a wildcard
// of pattern ({name} or {name...}) is not StorableText, so no path id of
// an admin route, its own or a feature package's (MountAdmin), reaches a
// store that would fail on it.
func pathIDs(pattern string, h httpx.HandlerFunc) httpx.HandlerFunc {
	var names []string
	for seg := range strings.SplitSeq(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok && name != "$}" {
			names = append(names, strings.TrimSuffix(strings.TrimSuffix(name, "}"), "..."))
		}
	}
	if len(names) == 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		for _, name := range names {
			if _, err := storableID(r.PathValue(name), "the "+name+" in the path"); err != nil {
				return err
			}
		}
		return h(w, r)
	}
}

// MountAdmin serves h for pattern (a ServeMux pattern with its method,
// under /admin/v1) behind the admin bearer token and its failure budget,
// as the admin API's own routes: how feature packages (the partner API)
// add admin endpoints. It reports false, registering nothing, when the
// admin API is disabled (no token). Call it before Serve.
func (s *Server) MountAdmin(pattern string, h httpx.HandlerFunc) bool {
	if s.cfg.AdminToken == "" {
		return false
	}
	s.adminRoute(pattern, h)
	return true
}

// AdminActor names the admin credential of a request served through
// MountAdmin in audit events ("admin:<credential id>"); "" otherwise.
func AdminActor(ctx context.Context) string {
	if id := adminID(ctx); id != "" {
		return "admin:" + id
	}
	return ""
}

type adminKey struct{}

// adminID returns the id of the admin credential that authenticated r.
func adminID(ctx context.Context) string {
	id, _ := ctx.Value(adminKey{}).(string)
	return id
}

// admin checks the bootstrap bearer token in constant time (on hashes, so
// the comparison does not leak the token's length either). An address that
// failed too often is answered 429 without a comparison, so the token
// cannot be guessed at speed.
func (s *Server) admin(h httpx.HandlerFunc) httpx.HandlerFunc {
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	id := adminCredentialID(s.cfg.AdminToken)
	return func(w http.ResponseWriter, r *http.Request) error {
		addr := httpx.ClientAddr(r)
		blocked, wait, err := s.adminFail.Blocked(r.Context(), addr)
		if err != nil {
			return err
		}
		if blocked {
			s.metrics.authFailure(surfaceAdmin, "rate_limited")
			httpx.CutOff(w)
			return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
				Message: "too many failed admin authentications from this address; retry later", RetryAfter: wait}
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			reason := "bad_token"
			if !ok {
				reason = "no_token"
			}
			if err := s.adminFail.Fail(r.Context(), addr); err != nil {
				return err
			}
			s.metrics.authFailure(surfaceAdmin, reason)
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "authentication failed",
				slog.String("request_id", httpx.RequestID(r.Context())), slog.String("surface", surfaceAdmin),
				slog.String("reason", reason), slog.String("addr", addr), slog.String("method", r.Method), slog.String("path", r.URL.Path))
			w.Header().Set("WWW-Authenticate", `Bearer realm="kyc-central admin"`)
			httpx.CutOff(w)
			return httpx.Errorf(http.StatusUnauthorized, "unauthorized", "the admin API needs the bearer token")
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), adminKey{}, id)))
	}
}

// auditRead logs an admin read of personal data: who (the admin
// credential's id), what (the action and its scope), when, and the request
// id. The attributes name scopes (a device, a filter), never the data.
func (s *Server) auditRead(r *http.Request, what string, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{
		slog.String("request_id", httpx.RequestID(r.Context())), slog.String("admin", adminID(r.Context())),
		slog.String("what", what), slog.Time("at", s.cfg.Now().UTC()), slog.String("addr", httpx.ClientAddr(r)),
	}, attrs...)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "admin read of personal data", attrs...)
}

// TokenResponse is the answer to creating an enrolment token.
type TokenResponse struct {
	// Token is "<secret>.<fingerprint>" (protocol.FormatEnrollToken):
	// the device checks central's keys against the fingerprint.
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	// Fingerprint is central's key fingerprint the token carries
	// (base64url), for the administrator to compare out of band.
	Fingerprint string `json:"fingerprint"`
}

// Fingerprint is central's key fingerprint (protocol.CentralFingerprint of
// its box and sign keys).
func (s *Server) Fingerprint() []byte {
	return protocol.CentralFingerprint(s.cfg.BoxKey.Public[:], s.cfg.SignKey.Public().(ed25519.PublicKey))
}

// createToken makes an enrolment token; query parameters ttl (a duration
// up to 720h) and branch (the device's branch).
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var ttl time.Duration
	if v := r.URL.Query().Get("ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > MaxTokenTTL {
			return httpx.Errorf(http.StatusBadRequest, "malformed", "ttl must be a duration up to 720h")
		}
		ttl = d
	}
	tr, err := s.CreateEnrollToken(r.Context(), "admin:"+adminID(r.Context()), r.URL.Query().Get("branch"), ttl)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, tr)
	return nil
}

// listDevices lists enrolled devices with their last contact and reported
// status (no personal data).
func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.cfg.Store.Devices(r.Context())
	if err != nil {
		return fmt.Errorf("listing devices: %w", err)
	}
	writeList(w, ds)
	return nil
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := s.RevokeDevice(r.Context(), "admin:"+adminID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

// listSubmissions filters by the query parameters device, after and before
// (RFC 3339 receipt times), complete (true/false), verdict and limit.
func (s *Server) listSubmissions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	dev, err := queryID(q, "device")
	if err != nil {
		return err
	}
	verdict, err := queryID(q, "verdict")
	if err != nil {
		return err
	}
	f := Filter{DeviceID: dev, Verdict: verdict}
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
		// Only the words openapi.json declares, not ParseBool's 1 or t.
		if v != "true" && v != "false" {
			errs = append(errs, "complete must be true or false")
		}
		b := v == "true"
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
		return httpx.Errorf(http.StatusBadRequest, "malformed", "%s", strings.Join(errs, "; "))
	}
	subs, err := s.cfg.Store.Submissions(r.Context(), f)
	if err != nil {
		return fmt.Errorf("listing submissions: %w", err)
	}
	subs = withoutKeys(subs)
	// The filter logged is the parameters read: another a careless client
	// added (nik=...) may name a person.
	filter := url.Values{}
	for _, k := range []string{"device", "after", "before", "complete", "verdict", "limit"} {
		if q.Has(k) {
			filter[k] = q[k]
		}
	}
	s.auditRead(r, "list_submissions", slog.String("filter", filter.Encode()), slog.Int("count", len(subs)))
	httpx.WriteJSON(w, http.StatusOK, subs)
	return nil
}

// StorableText reports whether s is text every store can hold and look
// up: valid UTF-8 without NUL. PostgreSQL refuses other text with an
// error, not a miss, so an id or filter that is not names nothing and must
// not reach a store.
func StorableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// storableID returns id, or 400 malformed naming where it came from
// (what: "the id in the path") when it is not StorableText: the store is
// not asked.
func storableID(id, what string) (string, error) {
	if !StorableText(id) {
		return "", httpx.Errorf(http.StatusBadRequest, "malformed", "%s is not UTF-8 text without NUL", what)
	}
	return id, nil
}

// decodeOne decodes the one JSON value of an admin request body into v
// and refuses anything after it: `{"name":"X"} {"nik":"Y"}` is no
// request, and reading only its first object would erase (or search for)
// everyone named X, not the one person the client meant.
func decodeOne(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the JSON value")
		}
		return err
	}
	return nil
}

// badBody is the answer to an admin request body that could not be read
// or decoded (err): the body's own failure as it is, which
// httpx.Responder.Public answers as it does everywhere in central (413
// too_large over its http.MaxBytesReader bound, 408 timeout too slow), or
// else 400 malformed with the message.
func badBody(err error, format string, args ...any) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok || errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return httpx.Errorf(http.StatusBadRequest, "malformed", format, args...)
}

// queryID returns the query parameter name of q, or 400 malformed when it
// is not StorableText.
func queryID(q url.Values, name string) (string, error) {
	return storableID(q.Get(name), "the "+name+" in the query")
}

// withoutKeys strips the content keys from subs, which never leave
// central, and makes a nil list an empty one.
func withoutKeys(subs []Submission) []Submission {
	for i := range subs {
		for j := range subs[i].Images {
			subs[i].Images[j].Key = nil
		}
	}
	if subs == nil {
		subs = []Submission{}
	}
	return subs
}

// writeList answers 200 with list, as [] rather than null when empty.
func writeList[T any](w http.ResponseWriter, list []T) {
	if list == nil {
		list = []T{}
	}
	httpx.WriteJSON(w, http.StatusOK, list)
}

// SubmissionDetail is a submission with its image bytes, as the admin API
// returns it.
type SubmissionDetail struct {
	Submission
	ImageData map[string][]byte `json:"image_data"` // base64 in JSON; null for an image without bytes
}

// getSubmission answers a SubmissionDetail, written as it is read: the
// submission, then each image's bytes in base64 a stored chunk at a time,
// so the answer holds one chunk, never the images (up to
// protocol.MaxImages of protocol.MaxImageSize). The bytes are those
// json.Encoder writes for a SubmissionDetail (image_data's keys sorted).
func (s *Server) getSubmission(w http.ResponseWriter, r *http.Request) error {
	dev := r.PathValue("id")
	key := protocol.SubmissionKey(r.PathValue("sub"))
	sub, err := s.cfg.Store.Upload(r.Context(), dev, key)
	if errors.Is(err, ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "unknown_submission", "no such submission")
	}
	if err != nil {
		return fmt.Errorf("reading submission: %w", err)
	}
	names := make([]string, len(sub.Images))
	for i := range sub.Images {
		names[i] = sub.Images[i].Name
		sub.Images[i].Key = nil
	}
	slices.Sort(names)
	head, err := json.Marshal(sub)
	if err != nil {
		return fmt.Errorf("encoding submission: %w", err)
	}
	s.auditRead(r, "get_submission", slog.String("device_id", dev), slog.String("submission_key", key), slog.Int("images", len(sub.Images)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.Write(head[:len(head)-1]) // the submission's members, without its "}"
	bw.WriteString(`,"image_data":{`)
	for i, name := range names {
		if i > 0 {
			bw.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		bw.Write(k)
		bw.WriteByte(':')
		err := WriteImageJSON(r.Context(), s.cfg.Store, bw, nil, SubmissionRef{DeviceID: dev, Key: key}, name, 0, nil)
		switch {
		case errors.Is(err, ErrNotFound): // never an ErrCut (WriteImage)
			bw.WriteString("null") // no bytes yet, or dropped meanwhile
		case err != nil:
			return fmt.Errorf("%w: writing image %s: %v", httpx.ErrCut, name, err)
		}
	}
	bw.WriteString("}}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%w: writing the submission: %v", httpx.ErrCut, err)
	}
	return nil
}

// maxRiskBody bounds an uploaded risk configuration.
const maxRiskBody = 4 << 20

func (s *Server) putRisk(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRiskBody))
	if err == nil && !json.Valid(body) {
		err = errors.New("not JSON")
	}
	if err != nil {
		return badBody(err, "the risk configuration must be a JSON document of at most %d bytes", maxRiskBody)
	}
	// What the token sends is a proposal of its owner's, which another
	// console admin confirms (riskproposal.go).
	p, err := s.ProposeRisk(r.Context(), "admin:"+adminID(r.Context()), body, r.URL.Query().Get("reason"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, p)
	return nil
}

// putWatchlist takes a watchlist of at most protocol.MaxWatchlistSize
// bytes (the limit devices apply too), streamed to the store: central never
// holds it whole. A new name is published (200); a new version of a
// published one is a proposal of the token's owner which another console
// admin confirms (202, watchlistproposal.go), with the reason query
// parameter.
func (s *Server) putWatchlist(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !protocol.ValidName(name) {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "watchlist names are 1-64 letters, digits, '-', '_' or '.'")
	}
	if r.ContentLength > protocol.MaxWatchlistSize {
		httpx.CutOff(w)
		return httpx.Errorf(http.StatusRequestEntityTooLarge, "too_large", "a watchlist is at most %d bytes", int64(protocol.MaxWatchlistSize))
	}
	if r.ContentLength == 0 {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "the watchlist is empty")
	}
	n := r.ContentLength
	if n < 0 {
		n = protocol.MaxWatchlistSize
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(httpx.BodyDeadline(n, s.cfg.BodyFloor, s.cfg.MinBodyRate)))
	body := http.MaxBytesReader(w, r.Body, protocol.MaxWatchlistSize)
	wl, p, err := s.PublishWatchlist(r.Context(), "admin:"+adminID(r.Context()), name, r.URL.Query().Get("reason"), body)
	if err != nil {
		return err
	}
	if p != nil {
		httpx.WriteJSON(w, http.StatusAccepted, p)
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, wl)
	return nil
}
