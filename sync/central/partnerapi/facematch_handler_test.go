package partnerapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/facematch/facematchtest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
)

// fmEnv is a real central with the partner API mounted, served over TLS on
// loopback, over a sealed bbolt store.
type fmEnv struct {
	base  string
	admin string
	// client validates every exchange against openapi.json (apitest);
	// plain does not, for the benchmark.
	client, plain *http.Client
	store         central.Store
}

func newFaceMatchEnv(t testing.TB, fm partnerapi.FaceMatcher) *fmEnv {
	t.Helper()
	return newFaceMatchEnvStore(t, fm, func(s central.Store) central.Store { return s })
}

// newFaceMatchEnvStore is newFaceMatchEnv with the partner API's store
// wrapped by wrap.
func newFaceMatchEnvStore(t testing.TB, fm partnerapi.FaceMatcher, wrap func(central.Store) central.Store) *fmEnv {
	t.Helper()
	c := centraltest.New(t, centraltest.BoltStore(t), centraltest.Options{})
	key := make([]byte, 32)
	rand.Read(key)
	api, err := partnerapi.New(partnerapi.Config{Store: wrap(c.Store), SecretKey: key, PublicURL: c.Base, FaceMatcher: fm})
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(c.Server)
	c.Serve(t)
	tr := c.Transport()
	tr.MaxIdleConnsPerHost = 8
	t.Cleanup(tr.CloseIdleConnections)
	return &fmEnv{base: c.Base, admin: c.Admin, client: apitest.Client(t, tr), plain: &http.Client{Timeout: 2 * time.Minute, Transport: tr}, store: c.Store}
}

// call sends a request and returns the answer with its body read; a
// request that is invalid on purpose has only its answer validated.
func (e *fmEnv) call(t testing.TB, method, path, contentType string, body []byte, hdr map[string]string, invalid bool) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if invalid {
		req = apitest.Invalid(req)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// partner creates a partner through the admin API, gives it limit (nil:
// the default) in its configuration, and returns a partner token.
func (e *fmEnv) partner(t testing.TB, name string, limit *partnerapi.FaceMatchLimit) string {
	t.Helper()
	body, _ := json.Marshal(partnerapi.NewPartner{Name: name})
	resp, b := e.call(t, "POST", "/admin/v1/partners", "application/json", body, map[string]string{"Authorization": "Bearer " + e.admin}, false)
	var created partnerapi.Created
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK || json.Unmarshal(b, &created) != nil {
		t.Fatalf("creating partner %s: %d %s", name, resp.StatusCode, b)
	}
	if limit != nil {
		if _, err := e.store.UpdatePartner(context.Background(), created.Partner.ID, func(p *central.Partner) error {
			cfg := map[string]any{}
			if len(p.Config) > 0 {
				if err := json.Unmarshal(p.Config, &cfg); err != nil {
					return err
				}
			}
			cfg["face_match_limit"] = limit
			var err error
			p.Config, err = json.Marshal(cfg)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	body, _ = json.Marshal(map[string]string{"client_id": created.ClientID, "pass_key": created.PassKey})
	resp, b = e.call(t, "POST", "/api/v1/partner-token", "application/json", body, nil, false)
	var tok partnerapi.TokenResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.Token == "" {
		t.Fatalf("partner token: %d %s", resp.StatusCode, b)
	}
	return tok.Token
}

// faceMatch posts a Face Match request.
func (e *fmEnv) faceMatch(t testing.TB, token string, r fmRequest, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	ct, body := r.encode(t)
	h := map[string]string{"Authorization": "Bearer " + token}
	for k, v := range hdr {
		h[k] = v
	}
	return e.call(t, "POST", "/api/v1/face-match", ct, body, h, r.invalid)
}

// fmRequest is a Face Match request to send as multipart or JSON.
type fmRequest struct {
	selfie, reference []byte
	skipLiveness      string // "" leaves the field out
	json              bool
	invalid           bool // sent wrong on purpose (see apitest.Invalid)
}

func (r fmRequest) encode(t testing.TB) (contentType string, body []byte) {
	t.Helper()
	if r.json {
		m := map[string]any{}
		if r.selfie != nil {
			m["selfie_base64"] = base64.StdEncoding.EncodeToString(r.selfie)
		}
		if r.reference != nil {
			m["reference_base64"] = base64.StdEncoding.EncodeToString(r.reference)
		}
		if r.skipLiveness != "" {
			m["skip_liveness"] = r.skipLiveness == "true"
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return "application/json", b
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"selfie", r.selfie}, {"reference", r.reference}} {
		if f.data == nil {
			continue
		}
		w, err := mw.CreateFormFile(f.name, f.name+".img")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.data)
	}
	if r.skipLiveness != "" {
		mw.WriteField("skip_liveness", r.skipLiveness)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

// fmError is the API's error object, with the image named in errors.
type fmError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field string `json:"field"`
		Code  string `json:"code"`
	} `json:"errors"`
}

// countingMatcher counts the comparisons that reach the engine.
type countingMatcher struct {
	partnerapi.FaceMatcher
	n atomic.Int32
}

func (c *countingMatcher) Match(ctx context.Context, req partnerapi.FaceMatchRequest) (partnerapi.FaceMatchResult, error) {
	c.n.Add(1)
	return c.FaceMatcher.Match(ctx, req)
}

func TestFaceMatchAPI(t *testing.T) {
	e := newFaceMatchEnv(t, facematchtest.Matcher(t))
	token := e.partner(t, "acme", nil)
	face := func(name string) []byte { return facematchtest.Face(t, name) }
	jpg := facematchtest.Encode(t, ".jpg", facematchtest.Compose(t, 64, 64))
	big := make([]byte, partnerapi.MaxFaceMatchImage+1)
	var bomb bytes.Buffer // 50 megapixels of flat grey: a small file, too large once decoded
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&bomb, image.NewGray(image.Rect(0, 0, 8000, 6250))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		req      fmRequest
		status   int
		decision string // for 200
		liveness bool   // for 200
		code     string // for errors
		field    string // the image an error names
	}{
		{"same person, multipart", fmRequest{selfie: face("leonard2"), reference: face("leonard4")}, 200, "match", true, "", ""},
		{"same person, JSON", fmRequest{selfie: face("leonard2"), reference: face("leonard4"), json: true}, 200, "match", true, "", ""},
		{"different people, multipart", fmRequest{selfie: face("raj2"), reference: face("howard2")}, 200, "no_match", true, "", ""},
		{"different people, JSON, liveness skipped", fmRequest{selfie: face("raj2"), reference: face("howard2"), skipLiveness: "true", json: true}, 200, "no_match", false, "", ""},
		{"liveness skipped, multipart", fmRequest{selfie: face("penny5"), reference: face("penny2"), skipLiveness: "true"}, 200, "match", false, "", ""},
		{"no face in the selfie", fmRequest{selfie: facematchtest.Blank(t), reference: face("leonard1")}, 422, "", false, "no_face", "selfie"},
		{"no face in the reference, JSON", fmRequest{selfie: face("leonard1"), reference: facematchtest.Blank(t), json: true}, 422, "", false, "no_face", "reference"},
		{"two faces in the selfie", fmRequest{selfie: facematchtest.TwoFaces(t), reference: face("leonard1")}, 422, "", false, "multiple_faces", "selfie"},
		{"reference not an image", fmRequest{selfie: face("leonard1"), reference: []byte("%PDF-1.4 not a photo")}, 422, "", false, "not_an_image", "reference"},
		{"truncated selfie, JSON", fmRequest{selfie: jpg[:len(jpg)/2], reference: face("leonard1"), json: true}, 422, "", false, "truncated_image", "selfie"},
		{"selfie over 10 MB, multipart", fmRequest{selfie: big, reference: face("leonard1")}, 413, "", false, "too_large", "selfie"},
		{"reference over 10 MB, JSON", fmRequest{selfie: face("leonard1"), reference: big, json: true}, 413, "", false, "too_large", "reference"},
		{"50 megapixel selfie", fmRequest{selfie: bomb.Bytes(), reference: face("leonard1")}, 413, "", false, "too_large", "selfie"},
		{"reference missing", fmRequest{selfie: face("leonard1"), invalid: true}, 422, "", false, "invalid_request", "reference"},
		{"skip_liveness not a boolean", fmRequest{selfie: face("leonard1"), reference: face("leonard2"), skipLiveness: "maybe", invalid: true}, 422, "", false, "invalid_request", "skip_liveness"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := e.faceMatch(t, token, c.req, nil)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if c.status == 200 {
				var res partnerapi.FaceMatchResult
				if err := json.Unmarshal(b, &res); err != nil {
					t.Fatal(err)
				}
				if res.Decision != c.decision || (res.Liveness != nil) != c.liveness || len(res.Selfie.Landmarks) != 5 || res.Reference.Box[2] <= 0 {
					t.Errorf("result %s", b)
				}
				return
			}
			var fe fmError
			if err := json.Unmarshal(b, &fe); err != nil {
				t.Fatal(err)
			}
			if fe.Code != c.code || fe.RequestID == "" || len(fe.Errors) != 1 || fe.Errors[0].Field != c.field {
				t.Errorf("error %s, want code %s naming %s", b, c.code, c.field)
			}
		})
	}

	t.Run("reference turned", func(t *testing.T) {
		// A reference taken sideways is matched upright; the answer,
		// held to the document, says how it was turned.
		for _, c := range []struct {
			selfie, reference string
			decision          string
		}{{"amy2", "amy1", "match"}, {"penny2", "amy1", "no_match"}} {
			resp, b := e.faceMatch(t, token, fmRequest{selfie: face(c.selfie), reference: facematchtest.Turned(t, c.reference, 90)}, nil)
			var res partnerapi.FaceMatchResult
			if resp.StatusCode != 200 || json.Unmarshal(b, &res) != nil || res.Decision != c.decision || res.Reference.Turned != 270 || res.Selfie.Turned != 0 {
				t.Errorf("%s vs %s turned 90: %d %s", c.selfie, c.reference, resp.StatusCode, b)
			}
		}
	})
	t.Run("unsupported media type", func(t *testing.T) {
		resp, b := e.call(t, "POST", "/api/v1/face-match", "text/plain", []byte("hello"), map[string]string{"Authorization": "Bearer " + token}, true)
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("ambiguous JSON", func(t *testing.T) {
		// A member named twice (which one wins is a parser's choice) or
		// unknown is a validation error naming it; anything after the
		// object is malformed.
		sb, rb := base64.StdEncoding.EncodeToString(face("leonard1")), base64.StdEncoding.EncodeToString(face("leonard2"))
		for _, c := range []struct {
			body             string
			status           int
			code, field, why string
		}{
			{`{"selfie_base64":"` + sb + `","reference_base64":"` + rb + `","selfie_base64":"` + rb + `"}`, 422, "invalid_request", "selfie_base64", "duplicate_field"},
			{`{"selfie_base64":"` + sb + `","reference_base64":"` + rb + `"} {"skip_liveness":true}`, 400, "malformed", "", ""},
			// The document allows no other member, as Initiate Flow's.
			{`{"selfie_base64":"` + sb + `","reference_base64":"` + rb + `","threshold":0.1}`, 422, "invalid_request", "threshold", "unknown_field"},
		} {
			resp, b := e.call(t, "POST", "/api/v1/face-match", "application/json", []byte(c.body), map[string]string{"Authorization": "Bearer " + token}, true)
			var fe fmError
			json.Unmarshal(b, &fe)
			if resp.StatusCode != c.status || fe.Code != c.code || c.field != "" && (len(fe.Errors) != 1 || fe.Errors[0].Field != c.field || fe.Errors[0].Code != c.why) {
				t.Errorf("%.60s...: %d %s, want %d %s naming %q", c.body, resp.StatusCode, b, c.status, c.code, c.field)
			}
		}
	})
	t.Run("no token", func(t *testing.T) {
		ct, body := fmRequest{selfie: face("leonard1"), reference: face("leonard2")}.encode(t)
		resp, b := e.call(t, "POST", "/api/v1/face-match", ct, body, nil, true)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
	})
}

func TestFaceMatchIdempotency(t *testing.T) {
	m := &countingMatcher{FaceMatcher: facematchtest.Matcher(t)}
	e := newFaceMatchEnv(t, m)
	token := e.partner(t, "acme", nil)
	other := e.partner(t, "globex", nil)
	same := fmRequest{selfie: facematchtest.Face(t, "leonard2"), reference: facematchtest.Face(t, "leonard4")}
	key := map[string]string{"Idempotency-Key": "order-42"}

	first, b1 := e.faceMatch(t, token, same, key)
	if first.StatusCode != 200 || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %q %s", first.StatusCode, first.Header.Get("Idempotent-Replayed"), b1)
	}
	// The same content replays whatever its encoding (a new multipart
	// boundary, or JSON).
	for _, r := range []fmRequest{same, {selfie: same.selfie, reference: same.reference, json: true}} {
		again, b2 := e.faceMatch(t, token, r, key)
		if again.StatusCode != 200 || again.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(b1, b2) {
			t.Errorf("replay (json=%v): %d %q\n%s\nwant\n%s", r.json, again.StatusCode, again.Header.Get("Idempotent-Replayed"), b2, b1)
		}
	}
	if n := m.n.Load(); n != 1 {
		t.Errorf("the engine ran %d times for one key", n)
	}
	// Another request under the key is refused, never answered with the
	// stored result.
	diff, b := e.faceMatch(t, token, fmRequest{selfie: same.selfie, reference: same.reference, skipLiveness: "true"}, key)
	var fe fmError
	if json.Unmarshal(b, &fe); diff.StatusCode != http.StatusUnprocessableEntity || fe.Code == "" || bytes.Contains(b, []byte("similarity")) {
		t.Errorf("different body under the key: %d %s", diff.StatusCode, b)
	}
	// Keys are the partner's own: another partner's same key runs.
	o, b := e.faceMatch(t, other, same, key)
	if o.StatusCode != 200 || o.Header.Get("Idempotent-Replayed") != "" || m.n.Load() != 2 {
		t.Errorf("other partner, same key: %d %q %s (engine ran %d times)", o.StatusCode, o.Header.Get("Idempotent-Replayed"), b, m.n.Load())
	}
	// An image error is an answer too: replayed, not recomputed.
	bad := fmRequest{selfie: facematchtest.Blank(t), reference: same.reference}
	k2 := map[string]string{"Idempotency-Key": "order-43"}
	r1, e1 := e.faceMatch(t, token, bad, k2)
	r2, e2 := e.faceMatch(t, token, bad, k2)
	if r1.StatusCode != 422 || r2.StatusCode != 422 || r2.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(e1, e2) || m.n.Load() != 3 {
		t.Errorf("422 replay: %d %s / %d %s (engine ran %d times)", r1.StatusCode, e1, r2.StatusCode, e2, m.n.Load())
	}
	// A key too long or not printable is refused before anything runs.
	for _, k := range []string{strings.Repeat("k", 256), "caf\u00e9"} {
		resp, b := e.faceMatch(t, token, fmRequest{selfie: same.selfie, reference: same.reference, invalid: true}, map[string]string{"Idempotency-Key": k})
		var fe fmError
		if json.Unmarshal(b, &fe); resp.StatusCode != 422 || len(fe.Errors) != 1 || fe.Errors[0].Field != "Idempotency-Key" || m.n.Load() != 3 {
			t.Errorf("key %.20q: %d %s", k, resp.StatusCode, b)
		}
	}
}

func TestFaceMatchRateLimit(t *testing.T) {
	m := &countingMatcher{FaceMatcher: facematchtest.Matcher(t)}
	e := newFaceMatchEnv(t, m)
	// Two requests at once, then one every 1000 s: the third is refused
	// whatever the machine's speed.
	slow := e.partner(t, "slow", &partnerapi.FaceMatchLimit{PerSecond: 0.001, Burst: 2})
	other := e.partner(t, "other", nil)
	req := fmRequest{selfie: facematchtest.Face(t, "leonard2"), reference: facematchtest.Face(t, "leonard4"), skipLiveness: "true"}
	for i := range 2 {
		if resp, b := e.faceMatch(t, slow, req, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, b)
		}
	}
	resp, b := e.faceMatch(t, slow, req, nil)
	var fe fmError
	json.Unmarshal(b, &fe)
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || fe.Code != "rate_limited" || err != nil || retry < 900 || retry > 1000 {
		t.Errorf("third request: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if n := m.n.Load(); n != 2 {
		t.Errorf("the engine ran %d times, want 2 (a refused request never reaches it)", n)
	}
	// Another partner has its own bucket.
	if resp, b := e.faceMatch(t, other, req, nil); resp.StatusCode != 200 {
		t.Errorf("other partner: %d %s", resp.StatusCode, b)
	}
}

// TestFaceMatchDuplicateParts: a multipart request naming an image or the
// option twice is refused (422 duplicate_field naming it) before the
// engine runs, as a JSON member given twice is: which part wins is a
// parser's choice, and a proxy or scanner that reads the other one would
// see different images than central compares.
func TestFaceMatchDuplicateParts(t *testing.T) {
	m := &countingMatcher{FaceMatcher: notAnImage{}}
	e := newFaceMatchEnv(t, m)
	token := e.partner(t, "acme", nil)
	a, b := []byte("\xff\xd8\xff first"), []byte("\xff\xd8\xff second")
	for _, tc := range []struct {
		name  string
		parts [][2]string // form name, content
	}{
		{"selfie twice", [][2]string{{"selfie", string(a)}, {"reference", string(a)}, {"selfie", string(b)}}},
		{"reference twice", [][2]string{{"selfie", string(a)}, {"reference", string(a)}, {"reference", string(b)}}},
		{"skip_liveness twice", [][2]string{{"selfie", string(a)}, {"reference", string(b)}, {"skip_liveness", "false"}, {"skip_liveness", "true"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for _, p := range tc.parts {
				w, err := mw.CreateFormFile(p[0], p[0]+".img")
				if err != nil {
					t.Fatal(err)
				}
				w.Write([]byte(p[1]))
			}
			if err := mw.Close(); err != nil {
				t.Fatal(err)
			}
			resp, body := e.call(t, "POST", "/api/v1/face-match", mw.FormDataContentType(), buf.Bytes(), map[string]string{"Authorization": "Bearer " + token}, true)
			var fe fmError
			json.Unmarshal(body, &fe)
			dup := tc.parts[len(tc.parts)-1][0]
			if resp.StatusCode != http.StatusUnprocessableEntity || fe.Code != "invalid_request" || len(fe.Errors) != 1 ||
				fe.Errors[0].Field != dup || fe.Errors[0].Code != "duplicate_field" {
				t.Errorf("%d %s, want 422 duplicate_field naming %s", resp.StatusCode, body, dup)
			}
		})
	}
	if n := m.n.Load(); n != 0 {
		t.Errorf("the engine ran %d times, want none", n)
	}
}

// blockingMatcher holds every comparison until release is closed, then
// refuses the selfie; entered receives one value per comparison begun.
type blockingMatcher struct {
	entered chan struct{}
	release chan struct{}
}

func (m *blockingMatcher) Match(context.Context, partnerapi.FaceMatchRequest) (partnerapi.FaceMatchResult, error) {
	m.entered <- struct{}{}
	<-m.release
	return notAnImage{}.Match(context.Background(), partnerapi.FaceMatchRequest{})
}

// blockingEnv is an env whose Face Match engine is a blockingMatcher,
// configured further by edit; release (which may be called more than
// once) lets its comparisons end, at the latest before the server's
// shutdown, which waits for the requests.
func blockingEnv(t *testing.T, edit func(*partnerapi.Config)) (e *env, m *blockingMatcher, release func()) {
	t.Helper()
	m = &blockingMatcher{entered: make(chan struct{}, 8), release: make(chan struct{})}
	var once sync.Once
	release = func() { once.Do(func() { close(m.release) }) }
	e = newEnvWith(t, boltStore, func(c *partnerapi.Config) {
		c.FaceMatcher = m
		edit(c)
	})
	t.Cleanup(release)
	return e, m, release
}

// TestFaceMatchWaitsOutsideTheStore: Face Match requests beyond the
// instance's turns wait for one in memory, then answer 503
// face_match_busy, never inside the store's transaction of their
// Idempotency-Key: there each would hold one of central's few store
// connections while it queued at the engine, and one partner's burst
// would stall every other request of central.
func TestFaceMatchWaitsOutsideTheStore(t *testing.T) {
	e, m, release := blockingEnv(t, func(c *partnerapi.Config) { c.FaceMatchTurns, c.FaceMatchWait = 1, 300*time.Millisecond })
	p := e.partner("Acme")
	body, _ := json.Marshal(map[string]string{"selfie_base64": "/9j/", "reference_base64": "/9j/"})
	type result struct {
		status int
		code   string
		err    error
	}
	results := make(chan result, 3)
	for i := range 3 {
		go func() {
			hr, _ := http.NewRequest("POST", e.base+"/api/v1/face-match", bytes.NewReader(body))
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set("Authorization", "Bearer "+p.tok)
			hr.Header.Set("Idempotency-Key", fmt.Sprint("fm-", i))
			resp, err := e.client.Do(hr)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var fe fmError
			err = json.NewDecoder(resp.Body).Decode(&fe)
			results <- result{status: resp.StatusCode, code: fe.Code, err: err}
		}()
	}
	entered, busy := 0, 0
	for busy < 2 {
		select {
		case <-m.entered:
			if entered++; entered > 1 {
				t.Fatalf("%d comparisons under way with one turn: the others wait inside the store", entered)
			}
		case r := <-results:
			if r.err != nil || r.status != http.StatusServiceUnavailable || r.code != "face_match_busy" {
				t.Fatalf("a request waiting for the turn: %d %s %v, want 503 face_match_busy", r.status, r.code, r.err)
			}
			busy++
		}
	}
	release()
	if r := <-results; r.err != nil || r.status != http.StatusUnprocessableEntity || r.code != "not_an_image" {
		t.Errorf("the request with the turn: %d %s %v", r.status, r.code, r.err)
	}
}

// heldBody is a request body that gives its first bytes, then holds the
// rest back until release is closed; given counts the bytes it gave.
type heldBody struct {
	first, rest []byte
	release     chan struct{}
	given       atomic.Int64
}

func (b *heldBody) Read(p []byte) (int, error) {
	if len(b.first) == 0 && len(b.rest) > 0 {
		<-b.release
		b.first, b.rest = b.rest, nil
	}
	if len(b.first) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.first)
	b.first = b.first[n:]
	b.given.Add(int64(n))
	return n, nil
}

// TestFaceMatchTurnBeforeBody: a Face Match request waits for its turn
// before its body is read, so the requests waiting hold no bodies (up to
// two 10 MB images each, a partner's whole burst of them at once): with
// the one turn taken, a request whose body is held back after its first
// bytes gets 503 face_match_busy when its wait ends, the rest of its body
// never asked for. Read first, it would still be waiting for its body.
func TestFaceMatchTurnBeforeBody(t *testing.T) {
	e, m, release := blockingEnv(t, func(c *partnerapi.Config) { c.FaceMatchTurns, c.FaceMatchWait = 1, 200*time.Millisecond })
	p := e.partner("Acme")
	body := fmJSONBody
	post := func(c *http.Client, r io.Reader) (int, string, error) { return postFaceMatch(e, c, p.tok, r) }
	holder := make(chan fmResult, 1)
	go func() {
		status, code, err := post(e.client, bytes.NewReader(body))
		holder <- fmResult{status, code, err}
	}()
	<-m.entered // the one turn is taken

	held := &heldBody{first: body[:10], rest: body[10:], release: make(chan struct{})}
	t.Cleanup(func() { close(held.release) })
	status, code, err := post(&http.Client{Transport: e.transport}, held)
	if err != nil || status != http.StatusServiceUnavailable || code != "face_match_busy" {
		t.Errorf("a request waiting for the turn, its body held back: %d %s %v, want 503 face_match_busy", status, code, err)
	}
	if n := held.given.Load(); n != 10 {
		t.Errorf("%d bytes of the waiting request's body were read, want only the 10 before the hold", n)
	}
	release()
	if r := <-holder; r.err != nil || r.status != http.StatusUnprocessableEntity || r.code != "not_an_image" {
		t.Errorf("the request with the turn: %d %s %v", r.status, r.code, r.err)
	}
}

// fmJSONBody is a small JSON Face Match request (notAnImage and
// blockingMatcher refuse it as not_an_image).
var fmJSONBody, _ = json.Marshal(map[string]string{"selfie_base64": "/9j/", "reference_base64": "/9j/"})

// fmResult is an answer's status and error code.
type fmResult struct {
	status int
	code   string
	err    error
}

// postFaceMatch posts fmJSONBody, read from r, as the partner with token
// tok and returns the answer's status and error code.
func postFaceMatch(e *env, c *http.Client, tok string, r io.Reader) (int, string, error) {
	hr, _ := http.NewRequest("POST", e.base+"/api/v1/face-match", r)
	hr.ContentLength = int64(len(fmJSONBody))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(hr)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var fe fmError
	err = json.NewDecoder(resp.Body).Decode(&fe)
	return resp.StatusCode, fe.Code, err
}

// goFaceMatch posts fmJSONBody as the partner with token tok, from r (or
// the whole body when r is nil), and returns the channel of the answer.
func goFaceMatch(e *env, tok string, r io.Reader) <-chan fmResult {
	if r == nil {
		r = bytes.NewReader(fmJSONBody)
	}
	done := make(chan fmResult, 1)
	go func() {
		status, code, err := postFaceMatch(e, &http.Client{Transport: e.transport}, tok, r)
		done <- fmResult{status, code, err}
	}()
	return done
}

// TestFaceMatchSlowBodyLosesTurn: once a request has its turn, its whole
// body must arrive within FaceMatchBodyTime, whatever its size, else 408
// timeout and the turn goes to the next request; before, a 28 MB body had
// nearly an hour, holding the turn all along.
func TestFaceMatchSlowBodyLosesTurn(t *testing.T) {
	e, _, release := blockingEnv(t, func(c *partnerapi.Config) {
		c.FaceMatchTurns, c.FaceMatchWait, c.FaceMatchBodyTime = 1, time.Minute, 200*time.Millisecond
	})
	release()
	slow, quick := e.partner("Slow"), e.partner("Quick")
	held := &heldBody{first: fmJSONBody[:10], rest: fmJSONBody[10:], release: make(chan struct{})}
	t.Cleanup(func() { close(held.release) })
	if r := <-goFaceMatch(e, slow.tok, held); r.err != nil || r.status != http.StatusRequestTimeout || r.code != "timeout" {
		t.Errorf("a body held back past FaceMatchBodyTime: %d %s %v, want 408 timeout", r.status, r.code, r.err)
	}
	if r := <-goFaceMatch(e, quick.tok, nil); r.err != nil || r.status != http.StatusUnprocessableEntity || r.code != "not_an_image" {
		t.Errorf("the next request, with the turn released: %d %s %v", r.status, r.code, r.err)
	}
}

// TestFaceMatchPartnerShare: one partner holds at most half of the turns
// (here one of two): its further requests wait (503 face_match_busy when
// their wait ends) while another partner gets the other turn at once.
// Before, one partner's requests (slow uploads, or a burst) held every
// turn and Face Match was busy for everyone else.
func TestFaceMatchPartnerShare(t *testing.T) {
	e, m, release := blockingEnv(t, func(c *partnerapi.Config) { c.FaceMatchTurns, c.FaceMatchWait = 2, 200*time.Millisecond })
	greedy, other := e.partner("Greedy"), e.partner("Other")
	first := goFaceMatch(e, greedy.tok, nil)
	<-m.entered // the partner's first request holds a turn
	select {
	case r := <-goFaceMatch(e, greedy.tok, nil):
		if r.err != nil || r.status != http.StatusServiceUnavailable || r.code != "face_match_busy" {
			t.Errorf("the partner's second request: %d %s %v, want 503 face_match_busy", r.status, r.code, r.err)
		}
	case <-m.entered:
		t.Errorf("the partner's second request took a turn beyond its share")
	}
	third := goFaceMatch(e, other.tok, nil)
	select {
	case <-m.entered: // another partner's request has the other turn
	case r := <-third:
		t.Fatalf("another partner while the first holds its share: %d %s %v, want a turn", r.status, r.code, r.err)
	}
	release()
	for _, done := range []<-chan fmResult{first, third} {
		if r := <-done; r.err != nil || r.status != http.StatusUnprocessableEntity || r.code != "not_an_image" {
			t.Errorf("a request with a turn: %d %s %v", r.status, r.code, r.err)
		}
	}
}

// TestFaceMatchShareSet: FaceMatchShare gives one partner more than half
// of the turns (here both), for a site with one main partner.
func TestFaceMatchShareSet(t *testing.T) {
	e, m, release := blockingEnv(t, func(c *partnerapi.Config) {
		c.FaceMatchTurns, c.FaceMatchShare, c.FaceMatchWait = 2, 2, time.Minute
	})
	p := e.partner("Main")
	first := goFaceMatch(e, p.tok, nil)
	<-m.entered
	second := goFaceMatch(e, p.tok, nil)
	select {
	case <-m.entered: // the partner's second request has the other turn
	case r := <-second:
		t.Fatalf("the partner's second request: %d %s %v, want a turn", r.status, r.code, r.err)
	}
	release()
	for _, done := range []<-chan fmResult{first, second} {
		if r := <-done; r.err != nil || r.status != http.StatusUnprocessableEntity || r.code != "not_an_image" {
			t.Errorf("a request with a turn: %d %s %v", r.status, r.code, r.err)
		}
	}
}

// notAnImage refuses every selfie, without models.
type notAnImage struct{}

func (notAnImage) Match(context.Context, partnerapi.FaceMatchRequest) (partnerapi.FaceMatchResult, error) {
	return partnerapi.FaceMatchResult{}, &partnerapi.FaceMatchError{Image: "selfie", Err: partnerapi.ErrNotImage}
}

func TestFaceMatchUnavailable(t *testing.T) {
	e := newFaceMatchEnv(t, nil)
	token := e.partner(t, "acme", nil)
	resp, b := e.faceMatch(t, token, fmRequest{selfie: []byte("x"), reference: []byte("y")}, nil)
	var fe fmError
	if json.Unmarshal(b, &fe); resp.StatusCode != http.StatusServiceUnavailable || fe.Code != "face_match_unavailable" {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}

// BenchmarkFaceMatchAPI is the whole Face Match request (multipart upload
// over TLS on loopback, authentication, rate limit, decoding, comparison
// with liveness, JSON answer) for a 1280x720 selfie and a 1000x630
// reference (the scenes of engine/face's BenchmarkFaceMatch, as JPEG),
// next to the engine alone on the same pixels in the same run:
//
//	engine/clients=1  the engine's Match, one at a time (BenchmarkFaceMatch)
//	engine/clients=2  two at once: the engine's throughput on this machine
//	api/clients=1     one partner request at a time: the API's overhead
//	api/clients=2     two partner clients at once: the target
//	                  (at least 20 matches/s, p50 at most 120 ms)
//
// Each reports p50-ms, matches/s and cpu-ms/op (the process's CPU per
// match: on a machine others share, it tells a slower machine from a
// slower program); the api ones also x-engine, their p50
// over the engine's alone (clients=1). b.N is the number of matches,
// shared by the clients.
//
// On the 2-core reference machine, quiet, -benchtime 200x: api/clients=2
// 40.6 matches/s at a p50 of 49 ms (46 cpu-ms a match); the engine alone
// 44.6 matches/s with two clients, a p50 of 27 ms with one; api/clients=1
// 31 ms (1.15x the engine: decoding the two JPEGs, TLS, the multipart
// body and the JSON answer cost 2 to 4 cpu-ms a match).
func BenchmarkFaceMatchAPI(b *testing.B) {
	defer runtimeinfo.TuneGC()() // as kyc-central serve once the engine is loaded
	m := facematchtest.Matcher(b)
	if err := m.Warm(context.Background()); err != nil {
		b.Fatal(err)
	}
	selfie, reference, selfieMat, referenceMat := facematchtest.Bench(b)
	e := newFaceMatchEnv(b, m)
	token := e.partner(b, "bench", &partnerapi.FaceMatchLimit{PerSecond: 1e6, Burst: 1 << 20})
	ct, body := fmRequest{selfie: selfie, reference: reference}.encode(b)
	post := func() error {
		req, err := http.NewRequest("POST", e.base+"/api/v1/face-match", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := e.plain.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var res partnerapi.FaceMatchResult
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 || res.Decision == "" {
			return fmt.Errorf("status %d, decision %q: %v", resp.StatusCode, res.Decision, err)
		}
		return nil
	}
	engine := func() error {
		res, err := m.Engine().Match(context.Background(), selfieMat, referenceMat, true)
		if err == nil && res.Decision.Decision == "" {
			err = errors.New("no decision")
		}
		return err
	}
	for range 3 { // connections, first-call costs
		if err := post(); err != nil {
			b.Fatal(err)
		}
	}
	var engineP50 float64
	for _, c := range []struct {
		name    string
		clients int
		f       func() error
	}{
		{"engine/clients=1", 1, engine},
		{"engine/clients=2", 2, engine},
		{"api/clients=1", 1, post},
		{"api/clients=2", 2, post},
	} {
		b.Run(c.name, func(b *testing.B) {
			testenv.ReportCPU(b)
			p50 := runClients(b, c.clients, c.f)
			if c.name == "engine/clients=1" {
				engineP50 = p50
			}
			if strings.HasPrefix(c.name, "api/") && engineP50 > 0 {
				b.ReportMetric(p50/engineP50, "x-engine")
			}
		})
	}
}

// runClients runs f b.N times from clients goroutines and reports the
// median latency (p50-ms) and the throughput (matches/s); it returns the
// median in milliseconds.
func runClients(b *testing.B, clients int, f func() error) float64 {
	b.Helper()
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := f(); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	p50 := float64(lat[len(lat)/2].Microseconds()) / 1000
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "matches/s")
	return p50
}

// recordingMatcher keeps the images of the last comparison and passes it
// on to next, or answers a match when next is nil.
type recordingMatcher struct {
	next partnerapi.FaceMatcher
	mu   sync.Mutex
	last partnerapi.FaceMatchRequest
}

func (m *recordingMatcher) Match(ctx context.Context, r partnerapi.FaceMatchRequest) (partnerapi.FaceMatchResult, error) {
	m.mu.Lock()
	m.last = r
	m.mu.Unlock()
	if m.next != nil {
		return m.next.Match(ctx, r)
	}
	face := partnerapi.FaceInfo{Box: [4]int{1, 1, 10, 10}, Landmarks: make([][2]float64, 5), Quality: 1, QualityFailures: []string{}}
	return partnerapi.FaceMatchResult{Decision: "match", Selfie: face, Reference: face}, nil
}

func (m *recordingMatcher) take() partnerapi.FaceMatchRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.last
	m.last = partnerapi.FaceMatchRequest{}
	return r
}

// TestFaceMatchBase64LineBreaks: base64 as base64(1) without -w0,
// Python's encodebytes or Java's MIME encoder write it (lines of 76
// characters, a line break at the end) is the same image as without
// them, whatever the image's size: a final line break after the padding
// (an image whose size is not a multiple of three) was refused as not
// base64 while the same text for another size was taken; and two images
// of the largest size so wrapped fit in the request.
func TestFaceMatchBase64LineBreaks(t *testing.T) {
	m := &recordingMatcher{}
	e := newEnvWith(t, boltStore, func(c *partnerapi.Config) { c.FaceMatcher = m })
	p := e.partner("Acme")
	wrap := func(s, nl string) string {
		var b strings.Builder
		for len(s) > 76 {
			b.WriteString(s[:76] + nl)
			s = s[76:]
		}
		return b.String() + s + nl
	}
	small := func(n int) []byte { return append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{'x'}, n-4)...) }
	largest := small(partnerapi.MaxFaceMatchImage)
	for _, c := range []struct {
		name string
		img  []byte
		nl   string
	}{
		{"no padding, LF", small(120), "\n"},
		{"one padding character, LF", small(121), "\n"},
		{"two padding characters, LF", small(122), "\n"},
		{"two padding characters, CRLF", small(122), "\r\n"},
		{"the largest images, CRLF", largest, "\r\n"},
	} {
		s := wrap(base64.StdEncoding.EncodeToString(c.img), c.nl)
		body, err := json.Marshal(map[string]string{"selfie_base64": s, "reference_base64": s})
		if err != nil {
			t.Fatal(err)
		}
		a := e.do(req{method: "POST", path: "/api/v1/face-match", token: p.tok, body: body})
		got := m.take()
		if a.status != http.StatusOK || !bytes.Equal(got.Selfie, c.img) || !bytes.Equal(got.Reference, c.img) {
			t.Errorf("%s: %d %.200s (the engine got %d and %d bytes of %d)", c.name, a.status, a.body, len(got.Selfie), len(got.Reference), len(c.img))
		}
	}
	// A byte more is still too large, line breaks or not.
	s := wrap(base64.StdEncoding.EncodeToString(small(partnerapi.MaxFaceMatchImage+1)), "\r\n")
	body, err := json.Marshal(map[string]string{"selfie_base64": s, "reference_base64": base64.StdEncoding.EncodeToString(small(100))})
	if err != nil {
		t.Fatal(err)
	}
	a := e.do(req{method: "POST", path: "/api/v1/face-match", token: p.tok, body: body, invalid: true})
	var fe fmError
	if a.json(t, &fe); a.status != http.StatusRequestEntityTooLarge || fe.Code != "too_large" || len(fe.Errors) != 1 || fe.Errors[0].Field != "selfie" {
		t.Errorf("a wrapped image over the limit: %d %.200s", a.status, a.body)
	}
}

// TestFaceMatchBase64Forms: the images as partners' code writes base64,
// standard or URL-safe (RFC 4648 §5: what web clients, JWT libraries and
// Python's urlsafe_b64encode give), padded or not, bare or in a data URL
// (a browser's FileReader and canvas), reach the engine as the bytes sent
// and match; URL-safe was refused as not base64. A text mixing the
// alphabets, or with a character of neither, is 422 invalid_base64 naming
// the member; an image over the limit in URL-safe base64 in a data URL is
// still 413 naming it, judged before decoding.
func TestFaceMatchBase64Forms(t *testing.T) {
	m := &recordingMatcher{next: facematchtest.Matcher(t)}
	e := newFaceMatchEnv(t, m)
	token := e.partner(t, "Acme", nil)
	selfie, reference := facematchtest.Face(t, "leonard2"), facematchtest.Face(t, "leonard5")
	for _, img := range [][]byte{selfie, reference} {
		// Each form differs from standard padded base64 for these images.
		if s := base64.StdEncoding.EncodeToString(img); !strings.ContainsAny(s, "+/") || len(img)%3 == 0 {
			t.Fatalf("a test image of %d bytes needs padding and '+' or '/' in its base64", len(img))
		}
	}
	post := func(t *testing.T, sb, rb string, invalid bool) (*http.Response, []byte) {
		t.Helper()
		body, err := json.Marshal(map[string]string{"selfie_base64": sb, "reference_base64": rb})
		if err != nil {
			t.Fatal(err)
		}
		return e.call(t, "POST", "/api/v1/face-match", "application/json", body, map[string]string{"Authorization": "Bearer " + token}, invalid)
	}
	for _, c := range []struct {
		name   string
		encode func([]byte) string
	}{
		{"standard, padded", base64.StdEncoding.EncodeToString},
		{"standard, unpadded", base64.RawStdEncoding.EncodeToString},
		{"URL-safe, padded", base64.URLEncoding.EncodeToString},
		{"URL-safe, unpadded", base64.RawURLEncoding.EncodeToString},
		{"data URL, standard", func(b []byte) string { return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b) }},
		{"data URL, URL-safe unpadded", func(b []byte) string { return "data:image/png;base64," + base64.RawURLEncoding.EncodeToString(b) }},
		{"data URL in capitals, no media type", func(b []byte) string { return "DATA:;BASE64," + base64.URLEncoding.EncodeToString(b) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := post(t, c.encode(selfie), c.encode(reference), false)
			got := m.take()
			var res partnerapi.FaceMatchResult
			if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &res) != nil || res.Decision != "match" {
				t.Errorf("%d %.300s; want 200, match", resp.StatusCode, b)
			}
			if !bytes.Equal(got.Selfie, selfie) || !bytes.Equal(got.Reference, reference) {
				t.Errorf("the engine got %d and %d bytes, not the %d and %d sent", len(got.Selfie), len(got.Reference), len(selfie), len(reference))
			}
		})
	}
	std, url := base64.StdEncoding.EncodeToString(selfie), base64.RawURLEncoding.EncodeToString(reference)
	mixed := strings.Replace(url, "A", "+", 1) // a URL-safe text with one standard character
	if !strings.ContainsAny(url, "-_") || mixed == url {
		t.Fatal("the URL-safe text has no '-', '_' or 'A'")
	}
	for _, c := range []struct {
		name, selfie, reference string
		field                   string
	}{
		{"alphabets mixed", std, mixed, "reference_base64"},
		{"a character of neither alphabet", std[:100] + "*" + std[101:], url, "selfie_base64"},
		{"a data URL not in base64", "data:image/png," + std, url, "selfie_base64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := post(t, c.selfie, c.reference, true)
			var fe fmError
			if json.Unmarshal(b, &fe); resp.StatusCode != http.StatusUnprocessableEntity || fe.Code != "invalid_request" ||
				len(fe.Errors) != 1 || fe.Errors[0].Field != c.field || fe.Errors[0].Code != "invalid_base64" {
				t.Errorf("%d %.300s; want 422 invalid_request, %s invalid_base64", resp.StatusCode, b, c.field)
			}
			if got := m.take(); got.Selfie != nil {
				t.Errorf("the engine was called")
			}
		})
	}
	t.Run("over the limit, URL-safe in a data URL", func(t *testing.T) {
		big := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{0xfb}, partnerapi.MaxFaceMatchImage-3)...)
		s := "data:image/jpeg;base64," + base64.RawURLEncoding.EncodeToString(big)
		resp, b := post(t, s, url, true)
		var fe fmError
		if json.Unmarshal(b, &fe); resp.StatusCode != http.StatusRequestEntityTooLarge || fe.Code != "too_large" || len(fe.Errors) != 1 || fe.Errors[0].Field != "selfie" {
			t.Errorf("%d %.300s; want 413 too_large naming selfie", resp.StatusCode, b)
		}
	})
}
