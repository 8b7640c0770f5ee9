package partnerapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/png"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Document types a flow accepts: the engine's (engine/document/fields
// DocType values, which central cannot import: cgo), and the seed's names
// for two of them, which are stored as the engine's.
var (
	docTypes   = []string{"passport", "id_card", "ktp", "driving_licence", "visa"}
	docAliases = map[string]string{"driving_license": "driving_licence", "national_id": "id_card"}
)

// Bounds of the session configuration (seed 002, Step 1).
const (
	DefaultSessionTTL = 1800
	MinSessionTTL     = 60
	MaxSessionTTL     = 86400
	DefaultMaxRetries = 3
	MaxMaxRetries     = 10
)

// FlowConfig is a session configuration as accepted and stored
// (FlowSession.Config), defaults filled in.
type FlowConfig struct {
	AcceptedDocuments   []string `json:"accepted_documents"`
	AcceptedCountries   []string `json:"accepted_countries"` // empty: any
	LivenessType        string   `json:"liveness_type"`
	FaceMatchThreshold  *float64 `json:"face_match_threshold,omitempty"` // nil: the engine's calibrated threshold
	RequireAddressProof bool     `json:"require_address_proof"`
	MaxRetries          int      `json:"max_retries"`
	// MinAge is the youngest holder the session admits (risk.Config's
	// MinAge); nil leaves central's risk setting.
	MinAge      *int   `json:"min_age,omitempty"`
	SessionTTL  int    `json:"session_ttl"`
	SmartQR     bool   `json:"smart_qr"`
	CallbackURL string `json:"callback_url,omitempty"`
	RedirectURL string `json:"redirect_url,omitempty"`
	// HideCTA hides the call to action of the STATUS screen (seed 000:
	// "IAB can hide this CTA upon request from the partner").
	HideCTA bool `json:"hide_cta"`
	// AllowUpload lets a person without a usable camera upload photos
	// instead; off, the camera page only says what to do.
	AllowUpload bool `json:"allow_upload"`
	// UseReferenceImage compares the selfie with the image the partner's
	// reference-image endpoint returns for the session's user (seed 000)
	// instead of the document portrait; the partner must have that
	// endpoint configured.
	UseReferenceImage bool `json:"use_reference_image"`
}

// flowFields are the members Initiate Flow accepts.
var flowFields = []string{"partner_user_id", "partner_user_id_type", "partner_session_id", "accepted_documents",
	"accepted_countries", "liveness_type", "face_match_threshold", "require_address_proof", "max_retries",
	"min_age", "session_ttl", "smart_qr", "callback_url", "redirect_url", "hide_cta", "allow_upload", "use_reference_image"}

// KioskUserIDType is the partner_user_id_type of a kiosk's own sessions,
// which the webhook emitter makes: a kiosk's submission is recorded only
// in a session of that type and device, so no session a partner initiates
// (or a kiosk's hand-off opens) may have it.
const KioskUserIDType = "kiosk_device"

// idRE is what partner-chosen ids and user ids may hold.
var idRE = regexp.MustCompile(`^[A-Za-z0-9._:@+\-]{1,128}$`)

// flowRequest is a validated Initiate Flow request.
type flowRequest struct {
	UserID, UserIDType, SessionID string
	Config                        FlowConfig
}

// parseFlow validates an Initiate Flow body field by field: every bad or
// unknown field is named in one 422. hasReference says whether the
// partner has a reference-image endpoint (use_reference_image needs one).
func parseFlow(m map[string]json.RawMessage, hasReference bool) (flowRequest, error) {
	var ve ValidationError
	var fr flowRequest
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(flowFields, k) {
			ve.add(k, "unknown_field", "unknown field %s", k)
		}
	}
	// get decodes member name into dst; false when absent or null, or of
	// the wrong type (named).
	get := func(name string, dst any, typ string) bool {
		raw, ok := m[name]
		if !ok || string(raw) == "null" {
			return false
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			ve.add(name, "invalid_type", "%s must be %s", name, typ)
			return false
		}
		return true
	}
	idField := func(name string, required bool) string {
		var s string
		if !get(name, &s, "a string") {
			if _, present := m[name]; required && !present {
				ve.add(name, "required", "%s is required", name)
			}
			return ""
		}
		if !idRE.MatchString(s) {
			ve.add(name, "invalid", "%s must be 1-128 letters, digits or . _ : @ + -", name)
		}
		return s
	}
	fr.UserID = idField("partner_user_id", true)
	fr.UserIDType = idField("partner_user_id_type", false)
	if fr.UserIDType == "" {
		fr.UserIDType = "user_id"
	}
	if fr.UserIDType == KioskUserIDType {
		ve.add("partner_user_id_type", "reserved", "partner_user_id_type %s is kept for kiosk sessions", KioskUserIDType)
	}
	fr.SessionID = idField("partner_session_id", false)

	c := FlowConfig{LivenessType: "passive", MaxRetries: DefaultMaxRetries, SessionTTL: DefaultSessionTTL, AcceptedCountries: []string{}, AllowUpload: true}
	var docs []string
	if get("accepted_documents", &docs, "an array of document types") {
		if len(docs) == 0 {
			ve.add("accepted_documents", "empty", "accepted_documents must name at least one document type (leave it out for all)")
		}
		for _, d := range docs {
			d = strings.ToLower(d)
			if al, ok := docAliases[d]; ok {
				d = al
			}
			if !slices.Contains(docTypes, d) {
				ve.add("accepted_documents", "invalid_value", "unknown document type %q (one of %s)", d, strings.Join(docTypes, ", "))
				break
			}
			if !slices.Contains(c.AcceptedDocuments, d) {
				c.AcceptedDocuments = append(c.AcceptedDocuments, d)
			}
		}
	}
	if len(c.AcceptedDocuments) == 0 {
		c.AcceptedDocuments = slices.Clone(docTypes)
	}
	var countries []string
	if get("accepted_countries", &countries, "an array of ISO 3166 country codes") {
		if len(countries) > 300 {
			ve.add("accepted_countries", "too_many", "at most 300 countries")
		}
		for _, cc := range countries {
			n, ok := normCountry(cc)
			if !ok {
				ve.add("accepted_countries", "invalid_value", "%q is not an ISO 3166-1 alpha-2 or alpha-3 code", cc)
				break
			}
			if !slices.Contains(c.AcceptedCountries, n) {
				c.AcceptedCountries = append(c.AcceptedCountries, n)
			}
		}
	}
	if get("liveness_type", &c.LivenessType, "a string") && c.LivenessType != "passive" && c.LivenessType != "active" {
		ve.add("liveness_type", "invalid_value", "liveness_type must be passive or active")
	}
	var th float64
	if get("face_match_threshold", &th, "a number") {
		if th < 0 || th > 1 || math.IsNaN(th) {
			ve.add("face_match_threshold", "out_of_range", "face_match_threshold must be from 0 to 1")
		}
		c.FaceMatchThreshold = &th
	}
	get("require_address_proof", &c.RequireAddressProof, "true or false")
	if get("max_retries", &c.MaxRetries, "an integer") && (c.MaxRetries < 1 || c.MaxRetries > MaxMaxRetries) {
		ve.add("max_retries", "out_of_range", "max_retries must be from 1 to %d", MaxMaxRetries)
	}
	var age int
	if get("min_age", &age, "an integer (years)") {
		if age < 0 || age > risk.MaxMinAge {
			ve.add("min_age", "out_of_range", "min_age must be from 0 to %d years", risk.MaxMinAge)
		}
		c.MinAge = &age
	}
	if get("session_ttl", &c.SessionTTL, "an integer (seconds)") && (c.SessionTTL < MinSessionTTL || c.SessionTTL > MaxSessionTTL) {
		ve.add("session_ttl", "out_of_range", "session_ttl must be from %d to %d seconds", MinSessionTTL, MaxSessionTTL)
	}
	get("smart_qr", &c.SmartQR, "true or false")
	get("hide_cta", &c.HideCTA, "true or false")
	get("allow_upload", &c.AllowUpload, "true or false")
	if get("use_reference_image", &c.UseReferenceImage, "true or false") && c.UseReferenceImage && !hasReference {
		ve.add("use_reference_image", "no_reference_endpoint",
			"use_reference_image needs your reference-image endpoint, which is not configured (ask the operator: PUT /admin/v1/partners/{id}/reference-image)")
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"callback_url", &c.CallbackURL}, {"redirect_url", &c.RedirectURL}} {
		if get(f.name, f.dst, "a string") {
			checkWebhookURL(&ve, f.name, *f.dst)
		}
	}
	fr.Config = c
	return fr, ve.err()
}

// FlowCreated is Initiate Flow's answer.
type FlowCreated struct {
	SessionID string             `json:"session_id"`
	Status    central.FlowStatus `json:"status"`
	LaunchURL string             `json:"launch_url"`
	QRPNGURL  string             `json:"qr_png_url"`
	QRSVGURL  string             `json:"qr_svg_url"`
	CreatedAt time.Time          `json:"created_at"`
	ExpiresAt time.Time          `json:"expires_at"`
	Config    FlowConfig         `json:"config"`
}

func (a *API) initiateFlow(w http.ResponseWriter, r *http.Request) error {
	p, _ := PartnerFrom(r.Context())
	m, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var status int
	var body []byte
	if key == "" {
		status, body, err = a.createFlow(r, p, m)
	} else {
		canon, _ := json.Marshal(m) // map keys sorted: the same request hashes the same
		h := sha256.Sum256(append([]byte("POST /api/v1/flows\n"), canon...))
		var replayed bool
		status, body, replayed, err = a.cfg.Store.Idempotent(r.Context(), p.ID, "flows:"+key, h[:], a.now(), func() (int, []byte, error) {
			return a.createFlow(r, p, m)
		})
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
	}
	if err != nil {
		return err
	}
	if body, err = a.withLaunchURL(p.ID, status, body); err != nil {
		return err
	}
	writeBody(w, status, body)
	return nil
}

// withLaunchURL fills in the launch URL of createFlow's answer, which
// leaves it out: that answer is kept under its Idempotency-Key in the
// clear, and the launch token opens the session (the session keeps only
// its hash). An answer stored with its URL (before) is kept as it is.
func (a *API) withLaunchURL(partnerID string, status int, body []byte) ([]byte, error) {
	if status != http.StatusCreated {
		return body, nil
	}
	var fc FlowCreated
	if err := json.Unmarshal(body, &fc); err != nil {
		return nil, fmt.Errorf("reading the flow's answer: %w", err)
	}
	if fc.LaunchURL != "" {
		return body, nil
	}
	fc.LaunchURL = a.launchURL(central.FlowSession{PartnerID: partnerID, ID: fc.SessionID, CreatedAt: fc.CreatedAt})
	return json.Marshal(fc)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// createFlow validates and records a session; 201 and its JSON.
func (a *API) createFlow(r *http.Request, p central.Partner, m map[string]json.RawMessage) (int, []byte, error) {
	fr, err := parseFlow(m, HasReferenceImage(p))
	if err != nil {
		return 0, nil, err
	}
	now := a.now()
	cfg, err := json.Marshal(fr.Config)
	if err != nil {
		return 0, nil, err
	}
	f := central.FlowSession{PartnerID: p.ID, UserID: fr.UserID, UserIDType: fr.UserIDType, Config: cfg,
		Status: central.FlowCreated, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Duration(fr.Config.SessionTTL) * time.Second)}
	for try := 0; ; try++ {
		f.ID = fr.SessionID
		if f.ID == "" {
			f.ID = newSessionID()
		}
		f.LaunchHash = tokenHash(a.keys.launchToken(p.ID, f.ID, f.CreatedAt))
		err = a.cfg.Store.CreateFlow(r.Context(), f)
		if !errors.Is(err, central.ErrPartnerExists) {
			break
		}
		if fr.SessionID != "" {
			return 0, nil, httpx.Errorf(http.StatusConflict, "session_exists", "partner_session_id %q is already used by one of your sessions", fr.SessionID)
		}
		if try == 3 {
			break
		}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("creating the flow: %w", err)
	}
	body, err := json.Marshal(a.flowCreated(f, fr.Config))
	return http.StatusCreated, body, err
}

func (a *API) flowCreated(f central.FlowSession, c FlowConfig) FlowCreated {
	api := a.base.String() + "/api/v1/flows/" + pathEscape(f.ID)
	// No LaunchURL: withLaunchURL adds it to the answer, not to what is stored.
	return FlowCreated{SessionID: f.ID, Status: f.Status, QRPNGURL: api + "/qr.png", QRSVGURL: api + "/qr.svg",
		CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt, Config: c}
}

func (a *API) launchURL(f central.FlowSession) string {
	tok := a.keys.launchToken(f.PartnerID, f.ID, f.CreatedAt)
	if old := a.keys.launchToken(f.PartnerID, f.ID, time.Time{}); bytes.Equal(tokenHash(old), f.LaunchHash) {
		tok = old // a session made before launch tokens were bound to the creation
	}
	return a.base.String() + "/flow/" + tok
}

// storableID reports whether s can be an id a store holds: not empty, and
// text every store can hold (central.StorableText); anything else names
// nothing and must not reach a store, which would fail on it (500) rather
// than find nothing.
func storableID(s string) bool {
	return s != "" && central.StorableText(s)
}

func pathEscape(s string) string { return strings.ReplaceAll(s, "/", "%2F") } // ids hold no '/' (idRE)

// FlowStatusView is the status of a session (status polling).
type FlowStatusView struct {
	SessionID         string             `json:"session_id"`
	PartnerUserID     string             `json:"partner_user_id"`
	PartnerUserIDType string             `json:"partner_user_id_type"`
	Status            central.FlowStatus `json:"status"`
	NextAction        string             `json:"next_action,omitempty"`
	ErrorCode         string             `json:"error_code,omitempty"`
	Attempts          int                `json:"attempts"`
	CreatedAt         time.Time          `json:"created_at"`
	UpdatedAt         time.Time          `json:"updated_at"`
	ExpiresAt         time.Time          `json:"expires_at"`
	// Erased: an erasure on request removed the session's personal data
	// (partner_user_id reads "erased"; details carry no result).
	Erased bool `json:"erased,omitempty"`
}

func (a *API) statusView(f central.FlowSession) FlowStatusView {
	v := FlowStatusView{SessionID: f.ID, PartnerUserID: f.UserID, PartnerUserIDType: f.UserIDType, Status: f.StatusAt(a.now()),
		NextAction: f.NextAction, ErrorCode: f.ErrorCode, Attempts: f.Attempts, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt, ExpiresAt: f.ExpiresAt, Erased: !f.ErasedAt.IsZero()}
	if v.Status == central.FlowExpired && v.ErrorCode == "" {
		v.ErrorCode = "session_expired"
	}
	return v
}

// flow returns the authenticated partner's session id (404 for anything
// else, another partner's included).
func (a *API) flow(r *http.Request, id string) (central.FlowSession, error) {
	p, _ := PartnerFrom(r.Context())
	if !storableID(id) {
		return central.FlowSession{}, httpx.Errorf(http.StatusNotFound, "unknown_session", "no such session")
	}
	f, err := a.cfg.Store.Flow(r.Context(), p.ID, id)
	if errors.Is(err, central.ErrNotFound) {
		return f, httpx.Errorf(http.StatusNotFound, "unknown_session", "no such session")
	}
	if err != nil {
		return f, fmt.Errorf("reading the session: %w", err)
	}
	return f, nil
}

func (a *API) flowStatus(w http.ResponseWriter, r *http.Request) error {
	f, err := a.flow(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, a.statusView(f))
	return nil
}

// qrCode encodes s at medium error correction.
func qrCode(s string) (barcode.Barcode, error) {
	return qr.Encode(s, qr.M, qr.Auto)
}

// quiet is the QR quiet zone in modules; scale the PNG's pixels a module.
const (
	quiet = 4
	scale = 8
)

func (a *API) flowQRPNG(w http.ResponseWriter, r *http.Request) error {
	f, err := a.flow(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	code, err := qrCode(a.launchURL(f))
	if err != nil {
		return fmt.Errorf("encoding the QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, qrImage(code)); err != nil {
		return fmt.Errorf("writing the PNG: %w", err)
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(buf.Bytes())
	return nil
}

// qrImage draws a QR code, scale pixels a module, with the quiet zone.
func qrImage(code barcode.Barcode) *image.Gray {
	n := code.Bounds().Dx()
	size := (n + 2*quiet) * scale
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := range n {
		for x := range n {
			if r, _, _, _ := code.At(x, y).RGBA(); r >= 0x8000 {
				continue
			}
			for dy := range scale {
				row := (y+quiet)*scale + dy
				for dx := range scale {
					img.Pix[row*img.Stride+(x+quiet)*scale+dx] = 0
				}
			}
		}
	}
	return img
}

func (a *API) flowQRSVG(w http.ResponseWriter, r *http.Request) error {
	f, err := a.flow(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	code, err := qrCode(a.launchURL(f))
	if err != nil {
		return fmt.Errorf("encoding the QR code: %w", err)
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write(qrSVG(code))
	return nil
}

// QRSVG encodes s as a QR code (medium error correction) drawn as SVG,
// as the launch URL's qr.svg: the hosted flow's Smart QR draws its phone
// link with it.
func QRSVG(s string) ([]byte, error) {
	code, err := qrCode(s)
	if err != nil {
		return nil, fmt.Errorf("encoding the QR code: %w", err)
	}
	return qrSVG(code), nil
}

// qrSVG draws a QR code's modules as one path (a unit square per dark
// module, runs merged) with the quiet zone.
func qrSVG(code barcode.Barcode) []byte {
	n := code.Bounds().Dx()
	size := n + 2*quiet
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`, size, size, size*scale, size*scale)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, size, size)
	dark := func(x, y int) bool { r, _, _, _ := code.At(x, y).RGBA(); return r < 0x8000 }
	for y := range n {
		for x := 0; x < n; {
			if !dark(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < n && dark(x+run, y) {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+quiet, y+quiet, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes()
}

var launchTmpl = template.Must(template.New("launch").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>Identity verification</title></head>
<body><main><h1>Identity verification</h1><p id="state" data-state="{{.State}}">{{.Message}}</p></main></body></html>
`))

// launchPage is the launch URL when the hosted flow (package hostedflow)
// is not mounted (Config.HostedFlow false); it says whether the session is
// valid, expired, finished or unknown, and changes nothing: link previews
// and mail scanners open every link in a message before the person does.
func (a *API) launchPage(w http.ResponseWriter, r *http.Request) error {
	tok := r.PathValue("token")
	state, msg, code := "unknown", "This verification link is not valid.", http.StatusNotFound
	if len(tok) <= 64 {
		f, err := a.cfg.Store.FlowByLaunch(r.Context(), tokenHash(tok))
		switch {
		case errors.Is(err, central.ErrNotFound):
		case err != nil:
			return fmt.Errorf("reading the session: %w", err)
		default:
			switch f.StatusAt(a.now()) {
			case central.FlowExpired:
				state, msg, code = "expired", "This verification link has expired. Ask for a new one.", http.StatusGone
			case central.FlowCompleted, central.FlowError:
				state, msg, code = "finished", "This verification is finished.", http.StatusOK
			default:
				state, msg, code = "valid", "This verification link is valid. The capture flow opens here.", http.StatusOK
			}
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(code)
	return launchTmpl.Execute(w, struct{ State, Message string }{state, msg})
}
